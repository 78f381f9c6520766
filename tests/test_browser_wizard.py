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
    # With Digital Post off, a button leads into the wizard too.
    page.get_by_role("link", name="Forbind med Digital Post").click()
    expect(page).to_have_url(re.compile(r"/settings/digital-post/setup$"))
    expect(page.locator("#wizard-title")).to_be_focused()
    # The side menu still marks Settings on the wizard's own address.
    expect(page.locator(".side-menu a[aria-current=page]")).to_have_text("Indstillinger")

    # Next with nothing filled in: the error summary takes the focus and links to the fields.
    page.get_by_role("button", name="Næste").click()
    expect(page.locator(".error-summary")).to_be_focused()
    expect(page).to_have_title(re.compile("^Fejl: "))
    page.locator(".error-summary a[href='#cpr']").click()
    expect(page.get_by_label("Dit CPR-nummer")).to_be_focused()

    # A wrong CVR is flagged as the admin leaves the field.
    page.get_by_label("Afsender-CVR").fill("13585627")
    page.get_by_label("Dit CPR-nummer").focus()
    expect(page.locator("#sender_cvr-error")).to_contain_text("ikke et gyldigt CVR-nummer")
    expect(page.get_by_label("Afsender-CVR")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#field-sender_cvr")).to_have_class(re.compile("has-error"))
    shot(page, "0-inline-error")

    page.get_by_label("API-nøgle").fill(SANDBOX_KEY)
    page.get_by_label("Afsender-CVR").fill(SENDER_CVR)
    page.get_by_label("Dit CPR-nummer").fill("010190-1234")
    expect(page.get_by_text("Nummeret vil ikke blive gemt.")).to_be_visible()
    # Fixed and left: the red border and aria-invalid go with the message.
    page.get_by_label("API-nøgle").focus()
    expect(page.locator("#sender_cvr-error")).to_have_count(0)
    expect(page.get_by_label("Afsender-CVR")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#field-sender_cvr")).not_to_have_class(re.compile("has-error"))
    shot(page, "1-step1-filled")
    page.get_by_role("button", name="Næste").click()

    expect(page).to_have_url(re.compile(r"/setup/verify$"))
    expect(page.get_by_role("status").filter(has_text="Sender en digital post")).to_be_visible()
    shot(page, "2-sending")
    run_jobs()
    expect(page.get_by_text("Posten er sendt til din Digital Post-postkasse")).to_be_visible()

    mailbox = page.context.new_page()
    mailbox.goto(f"{sandbox.url}/mailbox")
    mailbox.fill("#cpr", CITIZEN_CPR)
    mailbox.get_by_role("button", name="Åbn postkasse").click()
    shot(mailbox, "3-sandbox-mailbox")
    text = mailbox.locator(".mail-text").first.inner_text()
    code = re.search(r":\s*(\d{6})", text).group(1)
    mailbox.close()

    # A wrong code first: the summary has the focus, the title says Fejl.
    page.get_by_label("Kode fra posten").fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="Bekræft og aktiver").click()
    expect(page.locator(".error-summary")).to_be_focused()
    expect(page).to_have_title(re.compile("^Fejl: "))
    page.get_by_label("Kode fra posten").fill(code)
    shot(page, "4-code")
    page.get_by_role("button", name="Bekræft og aktiver").click()
    expect(page.get_by_role("link", name="Medlemsadgang til Digital Post: Aktiveret")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Digital Post er aktiveret")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text(SENDER_CVR)
    # Everything on the page agrees, with no reload: the Status card too.
    expect(page.locator("#status-card")).to_contain_text("Forbundet")  # the card knows it is connected
    expect(page.get_by_role("button", name="Deaktiver integration")).to_be_visible()
    expect(page).not_to_have_title(re.compile("^Fejl"))
    shot(page, "5-enabled")
    # Back lands where the admin was before, and shows what the address says.
    page.go_back()
    expect(page.get_by_role("link", name="Medlemsadgang til Digital Post: Aktiveret")).to_be_visible()
    expect(page.locator("#dp-status")).to_have_count(1)
    expect(page.get_by_label("Kode fra posten")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/settings/digital-post/$"))
    page.go_forward()
    page.reload()
    expect(page.get_by_role("link", name="Medlemsadgang til Digital Post: Aktiveret")).to_be_visible()
