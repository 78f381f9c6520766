"""The wizard's Serviceplatformen path and the member's reach in headless
Chromium, in Danish and English, at desktop and phone width, with axe-core."""

import re

import pytest
from playwright.sync_api import expect

from conftest import CITIZEN_CPR, EXEMPT_CPR, SENDER_CVR, UNKNOWN_CPR, browser_login
from models import DigitalPostIntegration, Role, db
from tests.fixtures.browser import PHONE, check_page, htmx_ready
from tests.fixtures.sf1601 import PASSPHRASE

pytestmark = pytest.mark.browser

LABELS = {
    "da": dict(
        via="Forbind via Serviceplatformen (OCES3-certifikat)",
        certificate="Systemcertifikat (.p12)",
        passphrase="Adgangskode",
        environment="Miljø",
        cvr="Afsender-CVR",
        cpr="Dit CPR-nummer",
        next="Næste",
        wrong="Adgangskoden kan ikke åbne certifikatet",
        code="Kode fra posten",
        confirm="Bekræft og aktiver",
        connection="Serviceplatformen (SF1601)",
        allow="Medlemmer må sende papirbreve",
        print_type="Forsendelsestype",
        save="Gem",
        saved="Gemt.",
    ),
    "en": dict(
        via="Connect via Serviceplatformen (OCES3 certificate)",
        certificate="System certificate (.p12)",
        passphrase="Passphrase",
        environment="Environment",
        cvr="Sender CVR",
        cpr="Your CPR number",
        next="Next",
        wrong="The passphrase does not open this certificate",
        code="Code from the mail",
        confirm="Confirm and enable",
        connection="Serviceplatformen (SF1601)",
        allow="Members may send paper letters",
        print_type="Print job type",
        save="Save",
        saved="Saved.",
    ),
}


@pytest.mark.parametrize(
    "language,viewport",
    [("da", None), ("en", PHONE), ("da", PHONE), ("en", None)],
    ids=["da", "en-phone", "da-phone", "en"],
)
def test_an_admin_connects_with_a_certificate_in_the_browser(
    language, viewport, page, app, org, make_user, sf1601, sf1601_url, ca_path, p12, run_jobs, tmp_path
):
    app.extensions["live_app"].config.update(SF1601_SANDBOX_URL=sf1601_url, SF1601_CAFILE=ca_path)
    t = LABELS[language]
    name = f"sf1601-{language}-{'phone' if viewport else 'desktop'}"
    if viewport:
        page.set_viewport_size(viewport)
    admin = make_user(org, role=Role.ADMIN, name="Anne Admin", language=language)
    certificate = tmp_path / "system.p12"
    certificate.write_bytes(p12())
    browser_login(page, admin)
    page.goto(f"/orgs/{org.id}/settings/digital-post/setup")
    page.get_by_role("link", name=t["via"]).click()
    expect(page).to_have_url(re.compile(r"/setup\?via=sf1601$"))
    expect(page.get_by_label(t["certificate"])).to_be_visible()
    check_page(page, f"{name}-1-certificate-step")

    page.get_by_label(t["certificate"]).set_input_files(str(certificate))
    page.get_by_label(t["passphrase"]).fill("forkert")
    page.get_by_label(t["environment"]).select_option("sandbox")
    page.get_by_label(t["cvr"]).fill(SENDER_CVR)
    page.get_by_label(t["cpr"]).fill("010190-1234")
    page.get_by_role("button", name=t["next"]).click()
    expect(page.locator(".error-summary")).to_be_focused()
    expect(page.locator("#passphrase-error")).to_contain_text(t["wrong"])
    check_page(page, f"{name}-2-wrong-passphrase")

    page.get_by_label(t["certificate"]).set_input_files(str(certificate))
    page.get_by_label(t["passphrase"]).fill(PASSPHRASE)
    page.get_by_label(t["cpr"]).fill("010190-1234")
    page.get_by_role("button", name=t["next"]).click()
    expect(page).to_have_url(re.compile(r"/setup/verify$"))
    run_jobs()
    code = re.search(r":\s*(\d{6})", sf1601.mailbox(CITIZEN_CPR)[0]["text"]).group(1)
    page.get_by_label(t["code"]).fill(code)
    page.get_by_role("button", name=t["confirm"]).click()
    expect(page.locator("dl.facts")).to_contain_text(t["connection"])
    integration = DigitalPostIntegration.find(org.id)
    db.session.refresh(integration)
    expect(page.locator("dl.facts")).to_contain_text(integration.certificate_serial)
    check_page(page, f"{name}-3-connected")

    htmx_ready(page)
    page.get_by_label(t["allow"]).check()
    page.get_by_label(t["print_type"]).fill("4711")
    page.get_by_role("button", name=t["save"], exact=True).click()
    expect(page.locator("#paper-policy").get_by_role("status")).to_have_text(t["saved"])
    db.session.refresh(integration)
    assert integration.can_send_paper and integration.print_type == 4711
    check_page(page, f"{name}-4-paper-allowed")


@pytest.mark.parametrize("language,viewport", [("da", None), ("en", PHONE)], ids=["da", "en-phone"])
def test_the_member_sees_the_reach_and_chooses_paper_in_the_browser(
    language, viewport, page, app, org, admin, make_user, sf1601_integration, run_jobs
):
    from tests.test_browser_sharing import LABELS as SHARING
    from tests.test_browser_sharing import member_with_survey

    member, _membership, survey = member_with_survey(org, admin, make_user, language)
    t = SHARING[language]
    if viewport:
        page.set_viewport_size(viewport)
    name = f"reach-{language}-{'phone' if viewport else 'desktop'}"
    browser_login(page, member)
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/share")
    page.get_by_role("button", name=t["send"]).click()
    page.get_by_role("tab", name=t["paste"]).click()
    page.locator("textarea").fill(
        f"Anna;Andersen;{CITIZEN_CPR};da\nBo;Berg;{EXEMPT_CPR};da\nCarl;Clausen;{UNKNOWN_CPR};da"
    )
    page.get_by_role("button", name=t["add_many"]).click()
    expect(page.locator(".recipient-count")).to_contain_text("3")
    page.get_by_role("link", name=t["next"]).click()
    htmx_ready(page)
    page.get_by_label(t["subject"], exact=True).fill("Trivsel")
    page.get_by_label(t["body"], exact=True).fill("Kære [FIRSTNAME], svar gerne.")
    expect(page.locator(".mail-text")).to_have_text(re.compile(r"^Kære Anna, svar gerne\.\s+Hvorfor du får dette brev"))
    htmx_ready(page)
    page.get_by_role("button", name=t["next"]).click()
    expect(page).to_have_url(re.compile(r"/schedule$"))
    htmx_ready(page)
    page.get_by_role("button", name=t["next"]).click()
    reach = page.locator("#reach")
    expect(reach).to_be_visible()
    run_jobs()  # the lookup, while the summary polls
    counts = {"da": "Fritaget for Digital Post", "en": "Exempt from Digital Post (fritaget)"}[language]
    expect(reach.locator("dt", has_text=counts).locator("xpath=following-sibling::dd[1]")).to_have_text("1")
    paper = {"da": "Send dem et papirbrev (fjernprint)", "en": "Send them a paper letter (fjernprint)"}[language]
    htmx_ready(page)
    reach.get_by_label(paper).check()
    one = {"da": "1 papirbrev bliver sendt.", "en": "1 paper letter will be sent."}[language]
    expect(page.locator(".paper-count")).to_have_text(one)
    check_page(page, f"{name}-summary")
    page.get_by_role("button", name=t["confirm"]).click()
    expect(page).to_have_url(re.compile(r"/digital-post/\d+/$"))  # the status page: confirmed
    run_jobs()
    db.session.expire_all()
    from models.sharing import Delivery

    assert {d.channel for d in db.session.scalars(db.select(Delivery))} == {"digital", "paper", None}
