"""Bad input never gets a 500 (issue 9, items 6 and 10-12): huge ids, NUL
bytes, a file where text belongs, CR/LF in next, oversized bodies; and
pages with personal data are not cached."""

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

from conftest import PASSWORD, Session
from models import Recipient, db
from tests.test_sharing import start_draft, survey, with_access  # noqa: F401 (fixtures)

HUGE = "9" * 25


def test_huge_ids_in_the_url_are_not_found(as_member, org, survey):
    assert as_member.get(f"/orgs/{HUGE}/surveys/").status_code == 404
    assert as_member.get(f"/orgs/{2**31}/surveys/").status_code == 404
    assert as_member.get(f"/orgs/{org.id}/surveys/{HUGE}/").status_code == 404
    assert as_member.get(f"/orgs/{org.id}/surveys/{survey.id}/digital-post/{HUGE}/recipients").status_code == 404


def test_huge_page_numbers_and_ids_in_parameters(as_admin, org, active_integration):
    assert as_admin.get(f"/orgs/{org.id}/settings/audit/?page={HUGE}").status_code == 200
    assert as_admin.get(f"/orgs/{org.id}/settings/audit/?page=-{HUGE}").status_code == 200
    assert as_admin.get(f"/orgs/{org.id}/settings/digital-post/access/add?page={HUGE}", htmx=True).status_code == 200
    response = as_admin.post(
        f"/orgs/{org.id}/settings/digital-post/access/add/select",
        {"scope": "row", "member_id": HUGE, "checked": "true"},
        htmx=True,
    )
    assert response.status_code == 404


def test_search_with_nul_bytes_and_fts_syntax(as_admin, org, active_integration):
    url = f"/orgs/{org.id}/settings/digital-post/access/add"
    assert as_admin.get(url + "?q=%00%00%00", htmx=True).status_code == 400
    for q in ('"', 'a"b', "ann*", "NEAR(a b)", "a AND OR", "-^:", "\u200b\u200b\u200b", "\x01\x02\x03"):
        assert as_admin.get(url, query_string={"q": q}, htmx=True).status_code == 200, q


def test_nul_in_a_form_field_is_refused_and_nothing_saved(as_member, org):
    response = as_member.post(f"/orgs/{org.id}/surveys/", {"title": "Tri\x00vsel"})
    assert response.status_code == 400
    from models import Survey

    assert db.session.scalar(db.select(db.func.count()).select_from(Survey)) == 0


def test_a_file_where_a_cpr_belongs_gets_a_message_at_the_field(as_member, survey, with_access):
    draft = start_draft(as_member, survey)
    response = as_member.post(
        draft + "/recipients/manual",
        {
            "cpr": (io.BytesIO(b"0101901234"), "cpr.txt"),
            "first_name": "A",
            "last_name": "B",
            "language": "da",
        },
        htmx=True,
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert 'id="cpr-error"' in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Recipient)) == 0


def test_next_with_cr_lf_is_ignored_and_sets_no_session_on_failure(client, admin):
    s = Session(client)
    s.get("/login")
    response = s.post("/login?next=/%0d%0aSet-Cookie:%20x=y", {"email": admin.email, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "x=y" not in " ".join(response.headers.getlist("Set-Cookie"))


def test_an_oversized_body_is_refused_before_it_is_read(client):
    big = "x" * (2 * 1024 * 1024)
    response = client.post("/login", data={"email": big, "password": "x"})
    assert response.status_code == 413
    assert "for stort" in response.get_data(as_text=True)
    response = client.post("/login", data={"email": big}, headers={"HX-Request": "true"})
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert "<html" not in body and "error-box" in body


def test_an_oversized_text_field_in_a_multipart_form_is_refused(as_member, org):
    response = as_member.post(
        f"/orgs/{org.id}/surveys/", {"title": "x" * (512 * 1024)}, content_type="multipart/form-data"
    )
    assert response.status_code == 413


def test_pages_that_can_show_a_cpr_are_not_stored_by_browsers(as_admin, org):
    response = as_admin.post(
        f"/orgs/{org.id}/settings/digital-post/setup",
        {"api_key": "test-key-1", "sender_cvr": "13585627", "cpr": "0101901234"},
        htmx=True,
    )
    assert response.status_code == 422 and "0101901234" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert as_admin.get(f"/orgs/{org.id}/surveys/").headers["Cache-Control"] == "no-store"


def test_instance_files_are_private(tmp_path):
    """A fresh instance/: the directory 0700, the SQLite database and secrets 0600."""
    env = {**os.environ, "POSTBUD_INSTANCE_DIR": str(tmp_path / "instance"), "REDIS_URL": "redis://127.0.0.1:1/0"}
    env.pop("DATABASE_URL", None)
    env.pop("SECRET_KEY", None)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        env=env,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
    )
    instance = tmp_path / "instance"
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    for name in ("postbud.sqlite", "secret_key", "encryption_keys"):
        assert stat.S_IMODE((instance / name).stat().st_mode) == 0o600, name
    assert (instance / "postbud.sqlite").stat().st_size > 0  # the migrations ran in it


def test_sandbox_language_switch_stays_on_the_sandbox(sandbox):
    client = sandbox.app.test_client()
    for evil in ("/%09/evil.example", "//evil.example", "https://evil.example/", "/\\evil.example"):
        response = client.get(f"/language/en?next={evil}")
        assert response.status_code == 302
        assert response.headers["Location"] == "/mailbox", evil


def test_sandbox_mailbox_shows_an_html_message_with_no_elements(sandbox):
    from conftest import CITIZEN_CPR
    from tests.test_sandbox_mailbox import send

    send(sandbox, body="<!-- -->", body_format="text/html")
    assert sandbox.mailbox_page(CITIZEN_CPR).status_code == 200
