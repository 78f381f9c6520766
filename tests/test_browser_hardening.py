"""The failure states of issue 9 as an admin sees them, in headless Chromium
at desktop and phone width, with axe-core: a mail that may have arrived, and
the member table while Redis is down."""

import re

import pytest
from playwright.sync_api import expect

from conftest import SANDBOX_KEY, SENDER_CVR, browser_login
from models import DigitalPostIntegration, db
from models.integration import MailFailure, Sending
from tests.test_browser_sharing import PHONE, check

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", [None, PHONE])
def test_a_mail_that_may_have_arrived_keeps_the_code_form(viewport, page, admin, org, sandbox):
    if viewport:
        page.set_viewport_size(viewport)
    browser_login(page, admin)
    page.goto(f"/orgs/{org.id}/settings/digital-post/setup")
    page.get_by_label("API-nøgle").fill(SANDBOX_KEY)
    page.get_by_label("Afsender-CVR").fill(SENDER_CVR)
    page.get_by_label("Dit CPR-nummer").fill("010190-1234")
    page.get_by_role("button", name="Næste").click()
    expect(page).to_have_url(re.compile(r"/setup/verify$"))
    # No worker runs; say the gateway never answered in time.
    integration = DigitalPostIntegration.find(org.id)
    integration.sending_status, integration.sending_error = Sending.FAILED, MailFailure.NO_ANSWER
    db.session.commit()
    expect(page.get_by_text("Vi kunne ikke bekræfte, at posten blev sendt")).to_be_visible()
    expect(page.get_by_label("Kode fra posten")).to_be_visible()
    check(page, f"wizard-maybe-sent-{'phone' if viewport else 'desktop'}")


@pytest.mark.parametrize("viewport", [None, PHONE])
def test_the_member_table_while_redis_is_down(viewport, app, page, admin, org, active_integration):
    if viewport:
        page.set_viewport_size(viewport)
    browser_login(page, admin)
    server_app = app.extensions["live_app"]
    server_app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    server_app.extensions.pop("redis", None)
    page.goto(f"/orgs/{org.id}/settings/digital-post/access/add")
    expect(page.get_by_text("Det er ikke muligt at vælge medlemmer lige nu")).to_be_visible()
    expect(page.get_by_role("button", name="Tilføj")).to_be_disabled()
    check(page, f"access-redis-down-{'phone' if viewport else 'desktop'}")


@pytest.mark.parametrize("viewport", [None, PHONE])
def test_the_audit_log_fits_the_screen(viewport, page, admin, org, member, active_integration):

    from models.access import grant_access, selection_of

    grant_access(org.id, admin.id, selection_of(member.membership_in(org.id).id))
    db.session.commit()
    if viewport:
        page.set_viewport_size(viewport)
    browser_login(page, admin)
    page.goto(f"/orgs/{org.id}/settings/audit/")
    expect(page.get_by_text("Gav 1 medlem adgang")).to_be_visible()
    check(page, f"audit-{'phone' if viewport else 'desktop'}")
