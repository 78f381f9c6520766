"""Sessions that end, login that does not tell which accounts exist, and
rate limits that hold against parallel requests (issue 9, items 1-3)."""

import threading
import time

import pytest
from werkzeug.security import check_password_hash as real_check

import models.org
from conftest import Session
from models import Membership, Role, User, db


def _cookie(client):
    return client.get_cookie("session").value


def _open_with_cookie(app, cookie, url):
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other.get(url)


def test_a_session_copied_before_logout_stops_working_after_it(app, as_admin, org):
    copied = _cookie(as_admin.client)
    assert _open_with_cookie(app, copied, f"/orgs/{org.id}/surveys/").status_code == 200
    as_admin.post("/logout")
    response = _open_with_cookie(app, copied, f"/orgs/{org.id}/surveys/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_logout_ends_the_users_sessions_on_other_devices_too(app, admin, org):
    phone, laptop = Session(app.test_client()), Session(app.test_client())
    phone.login(admin)
    laptop.login(admin)
    laptop.post("/logout")
    assert phone.get(f"/orgs/{org.id}/surveys/").status_code == 302


def test_a_new_password_ends_existing_sessions(app, as_admin, admin, org):
    user = db.session.get(User, admin.id)
    user.set_password("a brand new passphrase")
    db.session.commit()
    assert as_admin.get(f"/orgs/{org.id}/surveys/").status_code == 302
    assert Session(app.test_client()).login(admin, "a brand new passphrase").status_code == 302


def test_losing_the_admin_role_ends_the_sessions_that_had_it(as_admin, admin, org):
    assert as_admin.get(f"/orgs/{org.id}/settings/digital-post/setup").status_code == 200
    membership = db.session.scalar(db.select(Membership).filter_by(user_id=admin.id, org_id=org.id))
    assert membership.change_role(Role.MEMBER)
    db.session.commit()
    response = as_admin.get(f"/orgs/{org.id}/settings/digital-post/setup")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("session_id", ["99999999999999999999999:0", "1", "1:x", "１:0", ""])
def test_a_session_id_that_is_not_a_live_session_is_anonymous(app, admin, org, session_id):
    signed = app.session_interface.get_signing_serializer(app).dumps({"_user_id": session_id})
    assert _open_with_cookie(app, signed, f"/orgs/{org.id}/surveys/").status_code == 302


@pytest.fixture
def counted_checks(monkeypatch):
    """Counts scrypt checks; each is slowed down so that parallel requests
    overlap, as they would under a real attacker's load."""
    calls = []
    lock = threading.Lock()

    def check(pwhash, password):
        with lock:
            calls.append(password)
        time.sleep(0.05)
        return real_check(pwhash, password)

    monkeypatch.setattr(models.org, "check_password_hash", check)
    return calls


def test_an_unknown_email_costs_the_same_password_check_as_a_real_one(client, admin, counted_checks):
    Session(client).login("nobody@example.dk", password="wrong")
    Session(client).login(admin, password="wrong")
    assert counted_checks == ["wrong", "wrong"]


def _parallel(n, fn):
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_parallel_wrong_logins_check_no_more_passwords_than_the_limit(app, admin, counted_checks):
    statuses = []
    sessions = [Session(app.test_client()) for _ in range(40)]
    for s in sessions:
        s.get("/login")
    email = admin.email

    def attempt(i):
        r = sessions[i].post("/login", {"email": email, "password": f"wrong{i}"})
        statuses.append(r.status_code)

    _parallel(40, attempt)
    limit = app.config["LOGIN_MAX_FAILURES"]
    assert len(counted_checks) <= limit
    assert statuses.count(429) >= 40 - limit
    assert 500 not in statuses


def test_parallel_wrong_deactivation_passwords_check_no_more_than_the_limit(
    app, admin, org, active_integration, counted_checks
):
    sessions = [Session(app.test_client()) for _ in range(30)]
    for s in sessions:
        s.login(admin)
        s.get(f"/orgs/{org.id}/settings/digital-post/")
    counted_checks.clear()
    url = f"/orgs/{org.id}/settings/digital-post/deactivate"
    statuses = []

    def attempt(i):
        r = sessions[i].post(url, {"password": f"wrong{i}"}, htmx=True)
        statuses.append(r.status_code)

    _parallel(30, attempt)
    assert len(counted_checks) <= app.config["PASSWORD_MAX_FAILURES"]
    assert statuses.count(429) >= 30 - app.config["PASSWORD_MAX_FAILURES"]
    db.session.expire_all()
    from models import DigitalPostIntegration

    assert DigitalPostIntegration.find(org.id).is_active


def test_a_right_login_does_not_use_up_the_address_limit(app, admin):
    for _ in range(app.config["LOGIN_MAX_FAILURES"] * 4 + 2):
        s = Session(app.test_client())
        assert s.login(admin).status_code == 302
