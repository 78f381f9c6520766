"""Organization scoping: 404 for outsiders, 403 for members on admin pages."""

from conftest import Session
from models import Membership, Role, db


def test_member_of_another_organization_gets_404(client, make_org, make_user, org):
    other = make_org("Anden kommune")
    outsider = make_user(other, role=Role.ADMIN)
    s = Session(client)
    s.login(outsider)
    for url in (f"/orgs/{org.id}/surveys/", f"/orgs/{org.id}/settings/"):
        assert s.get(url).status_code == 404
        assert s.get(url, htmx=True).status_code == 404


def test_404_for_an_organization_that_does_not_exist_looks_the_same(as_admin, org):
    missing = as_admin.get(f"/orgs/{org.id + 999}/settings/")
    assert missing.status_code == 404


def test_member_gets_403_on_settings_and_no_settings_in_menu(as_member, org):
    assert as_member.get(f"/orgs/{org.id}/settings/").status_code == 403
    page = as_member.get(f"/orgs/{org.id}/surveys/").get_data(as_text=True)
    assert "Indstillinger" not in page and "Spørgeskemaer" in page


def test_admin_sees_settings_in_the_side_menu(as_admin, org):
    page = as_admin.get(f"/orgs/{org.id}/surveys/").get_data(as_text=True)
    assert f'href="/orgs/{org.id}/settings/"' in page
    assert as_admin.get(f"/orgs/{org.id}/settings/").status_code == 200


def test_anonymous_is_sent_to_login(client, org):
    response = client.get(f"/orgs/{org.id}/settings/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_htmx_error_is_a_fragment_not_a_page(as_member, org):
    response = as_member.get(f"/orgs/{org.id}/settings/", htmx=True)
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert "<html" not in body and "error-box" in body


def test_user_in_two_organizations_picks_one(client, make_org, make_user, org):
    second = make_org("Aarhus")
    user = make_user(org)
    Membership.create(second, user)
    db.session.commit()
    s = Session(client)
    s.login(user)
    page = s.get("/").get_data(as_text=True)
    assert "Testkommune" in page and "Aarhus" in page
    assert f"/orgs/{second.id}/surveys/" in page
