"""End to end in headless Chromium: log in and reach the settings page."""

import re

import pytest
from playwright.sync_api import expect

from conftest import browser_login

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
