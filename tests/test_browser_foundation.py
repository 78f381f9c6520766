"""End to end in headless Chromium: log in and reach the settings page."""

import re

import pytest
from playwright.sync_api import expect

from conftest import browser_login
from tests.fixtures.browser import PHONE, check_page

pytestmark = pytest.mark.browser


def test_admin_logs_in_and_reaches_settings_in_both_languages(page, admin, org):
    browser_login(page, admin)
    expect(page).to_have_url(re.compile(rf"/orgs/{org.id}/surveys/$"))
    menu = page.get_by_role("navigation", name="Organisationsmenu")
    menu.get_by_role("link", name="Indstillinger").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Indstillinger")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    expect(page).to_have_url(re.compile(rf"/orgs/{org.id}/settings/$"))


@pytest.mark.parametrize("locale,viewport", [("da-DK", None), ("en-GB", PHONE)])
def test_an_empty_login_says_in_the_browsers_language_which_field_wants_what(chromium, live_server, locale, viewport):
    """Every message in the page's language, each summary link naming its
    field and big enough to tap (axe's target size)."""
    context = chromium.new_context(
        base_url=live_server, locale=locale, viewport=viewport or {"width": 1280, "height": 860}
    )
    page = context.new_page()
    try:
        page.goto("/login")
        danish = locale.startswith("da")
        page.get_by_role("button", name="Log ind" if danish else "Log in").click()
        summary = page.locator(".error-summary")
        expect(summary).to_be_visible()
        required = "Feltet skal udfyldes." if danish else "This field is required."
        email, password = ("E-mail", "Adgangskode") if danish else ("E-mail", "Password")
        expect(summary.get_by_role("link")).to_have_text([f"{email}: {required}", f"{password}: {required}"])
        expect(page.locator("#email-error")).to_have_text(required)
        check_page(page, f"login-empty-{locale}")
    finally:
        context.close()
