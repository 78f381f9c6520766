"""Login, logout, rate limiting, CSRF and the language switch."""

from conftest import PASSWORD, Session
from models import User, db


def test_login_with_right_password_reaches_the_organization(client, admin, org):
    s = Session(client)
    response = s.login(admin)
    assert response.status_code == 302
    page = s.get("/", follow_redirects=True)
    assert page.request.path == f"/orgs/{org.id}/surveys/"
    assert "Anne Admin" in page.get_data(as_text=True)


def test_wrong_password_is_refused_with_a_message(client, admin):
    s = Session(client)
    response = s.login(admin, password="wrong")
    assert response.status_code == 401
    assert "Forkert e-mail eller adgangskode" in response.get_data(as_text=True)
    assert s.get("/").status_code == 302  # still anonymous: sent to login


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client, admin):
    s = Session(client)
    response = s.login("nobody@example.dk", password="wrong")
    assert response.status_code == 401
    assert "Forkert e-mail eller adgangskode" in response.get_data(as_text=True)


def test_repeated_failures_lock_the_account_even_with_the_right_password(app, client, admin):
    s = Session(client)
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert s.login(admin, password="wrong").status_code == 401
    response = s.login(admin, password=PASSWORD)
    assert response.status_code == 429
    assert "For mange mislykkede forsøg" in response.get_data(as_text=True)


def test_account_lock_holds_for_a_new_client_too(app, admin):
    """The counter lives in Redis, not in the session: a fresh client is locked as well."""
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        Session(app.test_client()).login(admin, password="wrong")
    assert Session(app.test_client()).login(admin).status_code == 429


def test_ip_limit_stops_guessing_across_many_accounts(app, client, make_user, org):
    s = Session(client)
    for i in range(app.config["LOGIN_MAX_FAILURES"] * 4):
        s.login(f"guess{i}@example.dk", password="wrong")
    user = make_user(org)
    assert s.login(user).status_code == 429


def test_next_only_redirects_within_the_site(client, admin, org):
    s = Session(client)
    s.get("/login")
    good = s.post(f"/login?next=/orgs/{org.id}/settings/", {"email": admin.email, "password": PASSWORD})
    assert good.headers["Location"] == f"/orgs/{org.id}/settings/"
    s.get("/", follow_redirects=True)
    assert s.post("/logout").status_code == 302
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        s.get("/login")
        r = s.post(f"/login?next={evil}", {"email": admin.email, "password": PASSWORD})
        assert r.headers["Location"] == "/", evil
        s.get("/", follow_redirects=True)
        assert s.post("/logout").status_code == 302


def test_logout_ends_the_session(as_admin):
    response = as_admin.post("/logout")
    assert response.status_code == 302
    assert as_admin.get("/").headers["Location"].startswith("/login")


def test_logout_without_csrf_token_is_refused_and_changes_nothing(as_admin):
    response = as_admin.post("/logout", csrf=False)
    assert response.status_code == 400
    assert as_admin.get("/").status_code == 302  # still logged in: / redirects to the org
    assert as_admin.get("/", follow_redirects=True).request.path.startswith("/orgs/")


def test_htmx_post_with_a_wrong_csrf_header_is_refused(as_admin, admin):
    as_admin.token = "forged"
    response = as_admin.post("/language", {"language": "en"}, htmx=True)
    assert response.status_code == 400
    assert "session" in response.get_data(as_text=True).lower()
    db.session.expire_all()
    assert db.session.get(User, admin.id).language == "da"


def test_session_cookie_is_httponly_and_lax(client, admin):
    s = Session(client)
    response = s.login(admin)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_language_switch_is_remembered_for_the_user(app, client, admin, org):
    s = Session(client)
    s.login(admin)
    page = s.get(f"/orgs/{org.id}/settings/").get_data(as_text=True)
    assert "Indstillinger" in page and 'lang="da"' in page
    s.post("/language", {"language": "en", "next": f"/orgs/{org.id}/settings/"})
    page = s.get(f"/orgs/{org.id}/settings/").get_data(as_text=True)
    assert "Settings" in page and 'lang="en"' in page
    # A new login elsewhere keeps English: it is stored on the user.
    other = Session(app.test_client())
    other.login(admin)
    assert 'lang="en"' in other.get(f"/orgs/{org.id}/settings/").get_data(as_text=True)


def test_security_headers_forbid_inline_scripts_and_framing(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.get_data(as_text=True)


def test_the_language_chosen_on_the_login_page_wins_and_outlives_logout(client, admin, org):
    assert admin.language == "da"
    s = Session(client)
    s.get("/login")
    s.post("/language", {"language": "en", "next": "/login"})
    assert 'lang="en"' in s.get("/login").get_data(as_text=True)
    s.login(admin)
    assert 'lang="en"' in s.get(f"/orgs/{org.id}/settings/").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, admin.id).language == "en"
    response = s.post("/logout", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert 'lang="en"' in page and "You are logged out." in page


def test_a_first_visit_speaks_the_browsers_language(app):
    for header, heading in [
        ("en-GB,en;q=0.9", "Log in"),
        ("da-DK,da;q=0.9,en;q=0.5", "Log ind"),
        ("", "Log ind"),
        ("fr", "Log ind"),
    ]:
        page = app.test_client().get("/login", headers={"Accept-Language": header}).get_data(as_text=True)
        assert f"<h1>{heading}</h1>" in page, header


def test_wtforms_own_messages_speak_danish_and_the_summary_names_the_field(client):
    s = Session(client)
    for language, expected, unexpected in [
        ("da", '<a href="#email">E-mail: Feltet skal udfyldes.</a>', "This field is required"),
        ("en", '<a href="#password">Password: This field is required.</a>', "Feltet skal udfyldes"),
    ]:
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language  # a first visit: the browser's language
        s.get("/login")
        page = s.post("/login", {"email": "", "password": ""}).get_data(as_text=True)
        assert expected in page and unexpected not in page, language
