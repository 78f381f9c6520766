"""A member's survey in headless Chromium: create it, add questions, open it,
answer it through its anonymous link, read the responses, close it. In
Danish at desktop width and in English at phone width, with axe-core."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from test_browser_sharing import PHONE, check

from conftest import browser_login

pytestmark = pytest.mark.browser

LABELS = {
    "da": dict(
        title="Titel",
        create="Opret spørgeskema",
        question="Spørgsmål",
        options="Svarmuligheder, én pr. linje",
        add="Tilføj spørgsmål",
        free="Fritekst",
        open="Åbn for besvarelser",
        share="Del",
        close="Luk spørgeskemaet",
        responses="Besvarelser",
        submit="Indsend",
        thanks="Tak. Dit svar er gemt.",
        withheld="Resultaterne vises, når mindst 5 har svaret",
        closed="lukket",
    ),
    "en": dict(
        title="Title",
        create="Create survey",
        question="Question",
        options="Options, one per line",
        add="Add question",
        free="Free text",
        open="Open for answers",
        share="Share",
        close="Close the survey",
        responses="Responses",
        submit="Submit",
        thanks="Thank you. Your answer is saved.",
        withheld="The results are shown once at least 5 people have answered",
        closed="closed",
    ),
}


@pytest.mark.parametrize("language,viewport", [("da", None), ("en", PHONE)])
def test_member_builds_opens_and_closes_a_survey(language, viewport, page, app, org, make_user):
    member = make_user(org, name="Mads Medlem", language=language)
    t = LABELS[language]
    if viewport:
        page.set_viewport_size(viewport)
    name = f"survey-{language}-{'phone' if viewport else 'desktop'}"
    browser_login(page, member)
    page.goto(f"/orgs/{org.id}/surveys/")

    # An empty title is refused at the field; nothing is created.
    page.get_by_role("button", name=t["create"]).click()
    expect(page.locator("#field-title .error")).to_be_visible()
    check(page, f"{name}-1-new")
    page.get_by_label(t["title"]).fill("Trivsel <i>2026</i>")
    page.get_by_role("button", name=t["create"]).click()
    expect(page.locator("h1")).to_contain_text("Trivsel <i>2026</i>")  # as text

    page.get_by_role("textbox", name=t["question"], exact=True).fill("Hvor tilfreds er du?")
    page.get_by_label(t["options"]).fill("Meget\nLidt\nIkke")
    page.get_by_role("button", name=t["add"]).click()
    expect(page.locator(".question-list > li")).to_have_count(1)
    page.get_by_label(t["free"]).check()
    page.get_by_role("textbox", name=t["question"], exact=True).fill("Hvad kan blive bedre?")
    page.get_by_role("button", name=t["add"]).click()
    expect(page.locator(".question-list > li")).to_have_count(2)
    check(page, f"{name}-2-questions")
    page.get_by_role("button", name=t["open"]).click()
    expect(page.get_by_role("button", name=t["close"])).to_be_visible()

    # The Link option, and a citizen answering through it.
    page.get_by_role("link", name=t["share"], exact=True).click()
    link = page.locator("#survey-link").input_value()
    assert link.startswith(app.config["PUBLIC_BASE_URL"])
    link = urlsplit(link).path  # served here by the test's own server
    check(page, f"{name}-3-share")
    page.goto(link + f"?lang={language}")
    page.get_by_label("Meget").check()
    page.locator("textarea").fill("Mere kaffe")
    check(page, f"{name}-4-answer")
    page.get_by_role("button", name=t["submit"]).click()
    expect(page.get_by_role("status")).to_have_text(t["thanks"])
    check(page, f"{name}-5-thanks")

    page.go_back()
    page.goto(f"/orgs/{org.id}/surveys/")
    page.get_by_role("link", name="Trivsel <i>2026</i>", exact=True).click()
    page.get_by_role("link", name=t["responses"]).click()
    # Anonymous, and one answer: nothing is shown until there are enough to hide in.
    expect(page.locator("p.message")).to_contain_text(t["withheld"])
    expect(page.get_by_text("Mere kaffe")).to_have_count(0)
    check(page, f"{name}-6a-responses-withheld")
    served = app.extensions["live_app"].config
    served["ANONYMOUS_RESULTS_MIN_ANSWERS"] = 1  # the threshold is a setting
    page.reload()
    expect(page.locator("table.results tbody tr").first).to_contain_text("1")
    expect(page.get_by_text("Mere kaffe")).to_be_visible()
    check(page, f"{name}-6-responses")

    page.go_back()
    page.get_by_role("button", name=t["close"]).click()
    page.goto(link + f"?lang={language}")
    expect(page.get_by_role("status")).to_contain_text(t["closed"])
    check(page, f"{name}-7-closed")
