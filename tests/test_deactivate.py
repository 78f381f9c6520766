"""Deactivating the integration: pop-up, password, at once, every scheduled send cancelled."""

import pytest

from conftest import PASSWORD
from models import AuditEvent, DigitalPostIntegration, Membership, ScheduledSend, SendState, db

pytestmark = pytest.mark.usefixtures("active_integration")


def url(org, path=""):
    return f"/orgs/{org.id}/settings/digital-post/deactivate{path}"


def integration(org):
    db.session.expire_all()
    return DigitalPostIntegration.find(org.id)


def test_settings_shows_status_with_the_deactivate_control(as_admin, org, admin, make_members):
    from models.access import grant_access, selection_of

    page = as_admin.get(f"/orgs/{org.id}/settings/").get_data(as_text=True)
    assert ">Status</h2>" in page and "Deaktiver integration" in page
    assert "0 medlemmer har adgang" in page and "forbundet" in page
    assert page.count("Medlemsadgang til Digital Post: Aktiveret") == 1  # the status line, not again in the card
    members = make_members(org, ["Ib", "Bo", "Åse"])
    grant_access(org.id, admin.id, selection_of(*(m.id for m in members[:2])))
    db.session.commit()
    assert "2 medlemmer har adgang" in as_admin.get(f"/orgs/{org.id}/settings/").get_data(as_text=True)


def test_popup_then_password_then_off_at_once(
    as_admin, org, admin, member, make_org, make_members, make_scheduled_send
):
    other_org = make_org("Andet")
    outsider_member = make_members(other_org, ["Fremmed"])[0]
    membership = db.session.scalar(db.select(Membership).where(Membership.user_id == member.id))
    ours = [make_scheduled_send(org, membership, hours=h) for h in (1, 2, 3)]
    theirs = [make_scheduled_send(other_org, outsider_member)[0]]

    dialog = as_admin.get(url(org), htmx=True).get_data(as_text=True)
    assert "Deaktiver nu" in dialog and "3 planlagte invitationer og påmindelser bliver annulleret." in dialog
    password_step = as_admin.get(url(org, "/password"), htmx=True).get_data(as_text=True)
    assert "Adgangskode" in password_step and "Fortsæt" in password_step

    response = as_admin.post(url(org), {"password": PASSWORD}, htmx=True)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/orgs/{org.id}/settings/"
    off = integration(org)
    assert off.state == "disabled" and off.api_key_encrypted is None and off.deactivated_by_id == admin.id
    assert all(
        s.state == SendState.CANCELLED and s.cancel_reason == "integration_deactivated"
        for s in db.session.scalars(db.select(ScheduledSend).where(ScheduledSend.org_id == org.id))
    )
    assert db.session.get(ScheduledSend, theirs[0].id).state == SendState.SCHEDULED
    page = as_admin.get(f"/orgs/{org.id}/settings/").get_data(as_text=True)
    assert "Medlemsadgang til Digital Post: Deaktiveret" in page and "Digital Post er deaktiveret" in page
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "integration.deactivated")).one()
    assert event.actor_id == admin.id and event.details["cancelled_sends"] == 3
    assert len(ours) == 3


def test_access_list_is_kept_but_gives_no_access_while_off(as_admin, org, admin, member, client, app):
    from models.access import access_count, grant_access

    grant_access(org.id, admin.id, db.select(Membership.id).where(Membership.user_id == member.id))
    db.session.commit()
    as_admin.post(url(org), {"password": PASSWORD}, htmx=True)
    assert access_count(org.id) == 1
    assert as_admin.get(f"/orgs/{org.id}/settings/digital-post/access/").status_code == 302  # back to settings


def test_wrong_password_says_so_and_changes_nothing(as_admin, org):
    response = as_admin.post(url(org), {"password": "wrong"}, htmx=True)
    assert response.status_code == 422
    assert "Forkert adgangskode. Intet blev ændret." in response.get_data(as_text=True)
    assert integration(org).is_active


def test_repeated_wrong_passwords_are_rate_limited(as_admin, org):
    for _ in range(5):
        as_admin.post(url(org), {"password": "wrong"}, htmx=True)
    blocked = as_admin.post(url(org), {"password": PASSWORD}, htmx=True)
    assert blocked.status_code == 429 and "For mange forkerte adgangskoder" in blocked.get_data(as_text=True)
    assert integration(org).is_active


def test_members_cannot_deactivate(as_member, org):
    assert as_member.get(url(org)).status_code == 403
    assert as_member.post(url(org), {"password": PASSWORD}, htmx=True).status_code == 403
    assert integration(org).is_active


def test_deactivation_needs_a_csrf_token(as_admin, org):
    assert as_admin.post(url(org), {"password": PASSWORD}, htmx=True, csrf=False).status_code == 400
    assert integration(org).is_active


def test_enabling_again_means_the_wizard(as_admin, org):
    as_admin.post(url(org), {"password": PASSWORD}, htmx=True)
    page = as_admin.get(f"/orgs/{org.id}/settings/digital-post/", follow_redirects=True).get_data(as_text=True)
    assert "Dit CPR-nummer" in page and "Indtast API-nøglen" not in page
    assert 'value="13585628"' in page  # the CVR is kept to pre-fill
    assert "Lad feltet stå tomt" not in page  # the key was wiped: a new one must be typed
