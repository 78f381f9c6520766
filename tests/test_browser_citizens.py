"""Issue 22 in headless Chromium: the admin sets the protection of citizens;
the citizen reads why they got the letter on the answer page, says no
thanks to every survey from the organization, and takes it back. In Danish
at desktop width and in English at phone width, with axe-core on each."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from conftest import browser_login
from models import CitizenOptOut, Recipient, Share, db
from models.org import Role
from models.survey import QuestionKind, Survey, SurveyState, add_question
from tests.fixtures.browser import PHONE, check_page, htmx_ready

pytestmark = [pytest.mark.browser]

LABELS = {
    "da": dict(
        purpose="Hvorfor organisationen sender spørgeskemabreve (dansk)",
        save="Gem",
        saved="Gemt.",
        why="Hvorfor du får dette brev",
        no_thanks="Nej tak, jeg ønsker ikke at deltage",
        org_wide="Jeg ønsker ingen spørgeskemaer fra Testkommune",
        button="Nej tak",
        take_back="Fortryd: jeg må gerne få spørgeskemaer fra Testkommune igen",
        taken_back="Fortrudt",
    ),
    "en": dict(
        purpose="Why the organization sends survey letters (Danish)",
        save="Save",
        saved="Saved.",
        why="Why you get this letter",
        no_thanks="No thanks, I do not want to take part",
        org_wide="I want no surveys from Testkommune",
        button="No thanks",
        take_back="Take it back: I may get surveys from Testkommune again",
        taken_back="Taken back",
    ),
}


@pytest.mark.parametrize("language,viewport", [("da", None), ("en", PHONE)])
def test_the_admin_sets_the_reason_and_the_citizen_reads_it_and_says_no(language, viewport, page, org, make_user):
    t = LABELS[language]
    name = f"citizens-{language}-{'phone' if viewport else 'desktop'}"
    if viewport:
        page.set_viewport_size(viewport)
    admin = make_user(org, role=Role.ADMIN, language=language)
    browser_login(page, admin)
    page.goto(f"/orgs/{org.id}/settings/")
    htmx_ready(page)
    page.get_by_label(t["purpose"]).fill("Testkommune spørger om hjemmeplejen for at gøre den bedre.")
    page.get_by_role("button", name=t["save"]).last.click()
    expect(page.locator("#citizen-policy [role=status]")).to_have_text(t["saved"])
    check_page(page, f"{name}-1-settings")

    survey = Survey(org_id=org.id, owner_id=admin.id, title="Hjemmepleje", state=SurveyState.OPEN)
    db.session.add(survey)
    add_question(survey, QuestionKind.SINGLE_CHOICE, "Hvor tilfreds er du?", ["Meget", "Lidt"])
    db.session.flush()
    share = Share(org_id=org.id, survey_id=survey.id, state="confirmed")
    db.session.add(share)
    db.session.flush()
    db.session.add(
        Recipient(
            share_id=share.id, cpr_hmac="a" * 64, cpr_masked="010190-****", token="citizen-token", language=language
        )
    )
    db.session.commit()

    page.goto("/r/citizen-token")
    expect(page.locator(".why h2")).to_have_text(t["why"])
    expect(page.locator(".why")).to_contain_text("Testkommune spørger om hjemmeplejen")
    check_page(page, f"{name}-2-answer-page")
    page.get_by_role("link", name=t["no_thanks"]).click()
    page.get_by_label(t["org_wide"]).check()
    check_page(page, f"{name}-3-decline")
    page.get_by_role("button", name=t["button"], exact=True).click()
    expect(page.get_by_role("button", name=t["take_back"])).to_be_visible()
    check_page(page, f"{name}-4-declined")
    assert db.session.scalar(select(func.count()).select_from(CitizenOptOut)) == 1
    page.get_by_role("button", name=t["take_back"]).click()
    expect(page.get_by_text(t["taken_back"])).to_be_visible()
    assert db.session.scalar(select(func.count()).select_from(CitizenOptOut)) == 0
