"""Every page and state of the console in headless Chromium, in Danish and
English, at desktop and phone width: axe-core (WCAG 2.2 target size
included) finds nothing and no page scrolls sideways. On the way, the
keyboard and focus behave as a screen-reader user needs: the error summary
takes the focus and names the error in the title, the menu button answers
its keys, and focus is never dropped to the page after a click."""

import re

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD, browser_login
from models import Survey, db
from models.survey import QuestionKind, SurveyState, add_question
from tests.fixtures.browser import PHONE, check_page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("active_integration")]

T = {
    "da": dict(
        email="E-mail",
        password="Adgangskode",
        login="Log ind",
        settings="Indstillinger",
        surveys="Spørgeskemaer",
        enabled="Medlemsadgang til Digital Post: Aktiveret",
        change="Skift API-nøgle eller CVR",
        next="Næste",
        error="Fejl: ",
        actions="Handlinger",
        remove="Fjern",
        add="Tilføj",
        select_page="Vælg alle på siden",
        cancel="Annuller",
        deactivate="Deaktiver integration",
        audit="Hændelseslog",
        menu="Menu",
        granted="61 medlemmer har nu adgang.",
        access_count="61 medlemmer har adgang",
    ),
    "en": dict(
        email="E-mail",
        password="Password",
        login="Log in",
        settings="Settings",
        surveys="Surveys",
        enabled="Member access to Digital Post: Enabled",
        change="Change API key or CVR",
        next="Next",
        error="Error: ",
        actions="Actions",
        remove="Remove",
        add="Add",
        select_page="Select all on this page",
        cancel="Cancel",
        deactivate="Deactivate integration",
        audit="Audit log",
        menu="Menu",
        granted="61 members now have access.",
        access_count="61 members have access",
    ),
}


def focused_id(page):
    return page.evaluate("document.activeElement && (document.activeElement.id || document.activeElement.tagName)")


@pytest.mark.parametrize("language,phone", [("da", False), ("da", True), ("en", False), ("en", True)])
def test_every_page_and_state(language, phone, page, admin, org, make_members):
    make_members(org, [f"Ib Ibsen {i:02d}" for i in range(60)], department="Sundhed")
    survey = Survey(org_id=org.id, owner_id=admin.id, title="Trivsel 2026", state=SurveyState.OPEN)
    db.session.add(survey)
    add_question(survey, QuestionKind.SINGLE_CHOICE, "Hvor tilfreds er du?", ["Meget", "Lidt"])
    db.session.commit()
    t = T[language]
    if phone:
        page.set_viewport_size(PHONE)
    name = f"a11y-{language}-{'phone' if phone else 'desktop'}"
    counts = {}

    def check(state):
        counts[state] = check_page(page, f"{name}-{state}")

    # The login page, in the language chosen there; then a wrong password.
    page.goto("/login")
    if language == "en":
        page.get_by_role("button", name="English").click()
    check("login")
    page.get_by_label(t["email"]).fill(admin.email)
    page.get_by_label(t["password"]).fill("not the password")
    page.get_by_role("button", name=t["login"]).click()
    expect(page.locator(".error-summary")).to_be_focused()
    expect(page).to_have_title(re.compile("^" + t["error"]))
    check("login-error")
    page.get_by_label(t["password"]).fill(PASSWORD)
    page.get_by_role("button", name=t["login"]).click()
    # The language chosen on the login page won over the one saved on the user ("da").
    expect(page.get_by_role("heading", level=1)).to_have_text(t["surveys"])
    check("surveys")

    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/")
    check("survey")
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/share")
    check("survey-share")
    page.goto(f"/orgs/{org.id}/surveys/{survey.id}/responses")
    check("survey-responses")

    # Settings; on a phone, through the Menu button.
    if phone:
        toggle = page.get_by_role("button", name=t["menu"])
        expect(page.get_by_role("link", name=t["settings"])).to_be_hidden()
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        check("menu-open")
    page.get_by_role("link", name=t["settings"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["settings"])
    check("settings")

    # The integration panel, then the wizard with errors: the summary has the focus.
    page.get_by_role("link", name=t["enabled"]).click()
    expect(page.locator("#integration-title")).to_be_focused()
    expect(page.locator(".side-menu a[aria-current=page]")).to_have_text(t["settings"])
    check("integration")
    page.get_by_role("link", name=t["change"]).click()
    expect(page.locator("#wizard-title")).to_be_focused()
    page.locator("#sender_cvr").fill("１２３４５６７８")  # full-width digits
    page.get_by_role("button", name=t["next"]).click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(page).to_have_title(re.compile("^" + t["error"]))
    check("wizard-errors")
    summary.get_by_role("link").first.click()
    assert focused_id(page) in ("sender_cvr", "cpr", "api_key")

    # The add picker: select the page, then all 60; Add; focus stays with the work.
    page.goto(f"/orgs/{org.id}/settings/digital-post/access/add")
    expect(page).not_to_have_title(re.compile("^" + t["error"]))
    page.get_by_label(t["select_page"]).check()
    expect(page.get_by_label(t["select_page"])).to_be_focused()
    page.locator("#select-all").click()
    expect(page.locator("#all-matching")).to_be_focused()
    check("add-all-selected")
    page.locator("#page-next").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    # The last page has no Next: the focus goes to the new rows, not to the page.
    expect(page.locator("#members")).to_be_focused()
    page.locator("#sort-email").click()
    # The sorted table has landed (a click focuses the link at once, before
    # its answer): a person sees the new order before clicking Add.
    expect(page.locator("th.col-email")).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("#sort-email")).to_be_focused()
    page.get_by_role("button", name=t["add"], exact=True).click()
    expect(page.get_by_role("status").filter(has_text=t["granted"])).to_be_visible()
    expect(page.locator("#members")).to_be_focused()
    check("add-granted")

    # The access list: the Actions menu by keyboard, Escape, click outside; then Remove.
    page.get_by_role("link", name=t["access_count"]).click()
    expect(page.locator("#access-heading")).to_be_focused()
    button = page.get_by_role("button", name=t["actions"])
    button.focus()
    page.keyboard.press("ArrowDown")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("menuitem", name=t["remove"])).to_be_focused()
    check("actions-menu-open")
    page.keyboard.press("Escape")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()
    button.click()
    expect(page.get_by_role("menu")).to_be_visible()
    page.locator("h1").click()  # a click outside closes
    expect(page.get_by_role("menu")).to_be_hidden()
    button.click()
    page.get_by_role("menuitem", name=t["remove"]).click()
    expect(page).to_have_url(re.compile(r"/access/remove$"))
    expect(page.locator("#access-heading")).to_be_focused()
    page.locator("#members tbody input[type=checkbox]").first.check()
    page.locator("#revoke-button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name=t["cancel"])).to_be_focused()
    check("remove-dialog")
    dialog.get_by_role("button", name=t["remove"]).click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#access-heading")).to_be_focused()
    check("removed")

    page.get_by_role("button", name=t["deactivate"]).click()
    expect(dialog.get_by_role("button", name=t["cancel"])).to_be_focused()
    check("deactivate-dialog")
    dialog.get_by_role("button", name=t["cancel"]).click()

    page.goto(f"/orgs/{org.id}/settings/audit/")
    check("audit")
    page.goto(f"/orgs/{org.id}/no-such-page")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Siden findes ikke" if language == "da" else "Page not found"
    )
    check("not-found")
    assert all(n == 0 for n in counts.values()), counts


def test_requests_in_flight_show_and_hold(page, app, admin, org, make_members):
    """A slow server: the table is busy while it loads, a double click of
    Remove asks once, Escape does not lose a removal on its way, and the
    way back to the access list appears with the first grant. The server
    holds each of those requests until the test lets it through."""
    import threading

    from flask import request

    make_members(org, [f"Ib Ibsen {i:02d}" for i in range(3)])
    live = app.extensions["live_app"]

    gate = threading.Semaphore(0)

    @live.before_request
    def held():
        asking = request.path.endswith("/remove/confirm")
        changing = request.method == "POST" and request.path.endswith(("/remove", "/add"))
        if request.headers.get("HX-Request") and (asking or changing):
            gate.acquire(timeout=60)

    browser_login(page, admin)
    page.goto(f"/orgs/{org.id}/settings/digital-post/access/add")
    expect(page.get_by_role("link", name="Tilbage til adgangslisten")).to_have_count(0)
    page.get_by_label("Vælg Ib Ibsen 00").check()
    page.get_by_label("Vælg Ib Ibsen 01").check()
    expect(page.get_by_text("2 valgt")).to_be_visible()
    page.get_by_role("button", name="Tilføj", exact=True).click()
    expect(page.locator("#member-table")).to_have_attribute("aria-busy", "true")
    gate.release()
    expect(page.get_by_role("status").filter(has_text="2 medlemmer har nu adgang.")).to_be_visible()
    expect(page.locator("#member-table")).not_to_have_attribute("aria-busy", "true")
    # The first grant: the way back to the list shows at once, not on reload.
    page.get_by_role("link", name="Tilbage til adgangslisten").click()

    page.get_by_role("button", name="Handlinger").click()
    page.get_by_role("menuitem", name="Fjern").click()
    page.get_by_label("Vælg Ib Ibsen 00").check()
    expect(page.get_by_text("1 valgt")).to_be_visible()
    asked = []
    page.on("request", lambda r: r.url.endswith("/remove/confirm") and asked.append(r.url))
    page.locator("#revoke-button").dblclick()
    gate.release()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    assert len(asked) == 1, asked

    dialog.get_by_role("button", name="Fjern").click()
    # Held open while the removal is on its way: Cancel and Escape wait.
    dialog.get_by_role("button", name="Annuller").click()
    page.keyboard.press("Escape")
    expect(dialog).to_be_visible()
    gate.release()
    expect(page.get_by_role("status").filter(has_text="1 medlem har ikke længere adgang.")).to_be_visible()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("link", name="1 medlem har adgang")).to_be_visible()
