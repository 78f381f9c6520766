"""The wizard in headless Chromium, as an admin follows the help page."""

import re

import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, CITIZEN_CPR, SANDBOX_KEY, SENDER_CVR, browser_login

pytestmark = pytest.mark.browser


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"wizard-{name}.png"), full_page=True, caret="initial")


def test_admin_connects_digital_post_reading_the_code_in_the_sandbox_mailbox(page, admin, org, sandbox, run_jobs):
    browser_login(page, admin)
    page.get_by_role("navigation", name="Organisationsmenu").get_by_role("link", name="Indstillinger").click()
    page.get_by_role("link", name="Medlemsadgang til Digital Post: Deaktiveret").click()
    expect(page).to_have_url(re.compile(r"/settings/digital-post/setup$"))

    # A wrong CVR is flagged as the admin leaves the field.
    page.get_by_label("Afsender-CVR").fill("13585627")
    page.get_by_label("Dit CPR-nummer").focus()
    expect(page.locator("#sender_cvr-error")).to_contain_text("ikke et gyldigt CVR-nummer")
    shot(page, "0-inline-error")

    page.get_by_label("API-nøgle").fill(SANDBOX_KEY)
    page.get_by_label("Afsender-CVR").fill(SENDER_CVR)
    page.get_by_label("Dit CPR-nummer").fill("010190-1234")
    expect(page.get_by_text("Nummeret vil ikke blive gemt.")).to_be_visible()
    shot(page, "1-step1-filled")
    page.get_by_role("button", name="Næste").click()

    expect(page).to_have_url(re.compile(r"/setup/verify$"))
    expect(page.get_by_role("status").filter(has_text="Sender en digital post")).to_be_visible()
    shot(page, "2-sending")
    run_jobs()
    expect(page.get_by_text("Posten er sendt til din Digital Post-postkasse")).to_be_visible()

    mailbox = page.context.new_page()
    mailbox.goto(f"{sandbox.url}/mailbox/{CITIZEN_CPR}")
    shot(mailbox, "3-sandbox-mailbox")
    text = mailbox.locator(".mail-text").first.inner_text()
    code = re.search(r":\s*(\d{6})", text).group(1)
    mailbox.close()

    page.get_by_label("Kode fra posten").fill(code)
    shot(page, "4-code")
    page.get_by_role("button", name="Bekræft og aktiver").click()
    expect(page.get_by_role("link", name="Medlemsadgang til Digital Post: Aktiveret")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Digital Post er aktiveret")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text(SENDER_CVR)
    shot(page, "5-enabled")
    page.reload()
    expect(page.get_by_role("link", name="Medlemsadgang til Digital Post: Aktiveret")).to_be_visible()
