"""The Digital Post wizard over HTTP with HTMX headers, a real rq worker and the real sandbox."""

import re
from datetime import timedelta

import pytest

from conftest import CITIZEN_CPR, EXEMPT_CPR, SANDBOX_KEY, SENDER_CVR, UNBOUND_CVR, UNKNOWN_CPR, Session
from models import AuditEvent, DigitalPostIntegration, Role, db
from models.base import utcnow

ADMIN_CPR = "010190-1234"  # CITIZEN_CPR, as an admin would type it


def url(org, path=""):
    return f"/orgs/{org.id}/settings/digital-post{path or '/'}"


def step1(s, org, api_key=SANDBOX_KEY, cvr=SENDER_CVR, cpr=ADMIN_CPR):
    return s.post(url(org, "/setup"), {"api_key": api_key, "sender_cvr": cvr, "cpr": cpr}, htmx=True)


def attempt_id(org):
    db.session.expire_all()
    return DigitalPostIntegration.find(org.id).attempt_id


def code_from_mailbox(sandbox, cpr=CITIZEN_CPR):
    mail = sandbox.mailbox(cpr)
    match = re.search(r":\s*(\d{6})\b", mail[0]["text"])
    return match.group(1)


def confirm(s, org, code, attempt=None):
    return s.post(url(org, "/setup/confirm"), {"code": code, "attempt_id": attempt or attempt_id(org)}, htmx=True)


def connect(s, org, sandbox, run_jobs, **step1_fields):
    assert step1(s, org, **step1_fields).status_code == 200
    run_jobs()
    return confirm(s, org, code_from_mailbox(sandbox))


def test_admin_connects_with_the_code_from_the_mailbox(as_admin, org, admin, sandbox, run_jobs):
    settings = as_admin.get(f"/orgs/{org.id}/settings/").get_data(as_text=True)
    assert "Medlemsadgang til Digital Post: Deaktiveret" in settings

    wizard = as_admin.get(url(org, "/setup"), htmx=True).get_data(as_text=True)
    for label in ("API-nøgle", "Afsender-CVR", "Dit CPR-nummer", "Nummeret vil ikke blive gemt.", "Næste"):
        assert label in wizard

    response = step1(as_admin, org)
    assert response.status_code == 200
    assert response.headers["HX-Push-Url"] == url(org, "/setup/verify")
    body = response.get_data(as_text=True)
    assert "Bekræft og aktiver" in body and 'hx-trigger="every 1s"' in body
    assert "0101901234" not in body and "010190-1234" not in body  # the CPR is not echoed

    run_jobs()
    status = as_admin.get(url(org, "/setup/status"), htmx=True).get_data(as_text=True)
    assert "sendt til din Digital Post" in status and "every 1s" not in status  # polling stops

    mail = sandbox.mailbox(CITIZEN_CPR)[0]
    assert mail["senderCVR"] == SENDER_CVR and "Testkommune" in mail["text"]
    assert mail["senderName"] == "Testkommune"

    done = confirm(as_admin, org, code_from_mailbox(sandbox))
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    assert "Medlemsadgang til Digital Post: Aktiveret" in text  # out-of-band status line
    assert SENDER_CVR in text and f"…{SANDBOX_KEY[-4:]}" in text and "Anne Admin" in text
    assert "Digital Post er aktiveret" in done.headers["HX-Trigger"]

    integration = DigitalPostIntegration.find(org.id)
    db.session.refresh(integration)
    assert integration.is_active and integration.activated_by_id == admin.id
    assert integration.api_key == SANDBOX_KEY and SANDBOX_KEY not in (integration.api_key_encrypted or "")
    assert integration.code_hash is None and integration.attempt_id is None
    page = as_admin.get(f"/orgs/{org.id}/settings/").get_data(as_text=True)
    assert "Medlemsadgang til Digital Post: Aktiveret" in page
    actions = [e.action for e in db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["integration.verification_started", "integration.activated"]


def test_english_admin_gets_english_labels_and_mail(client, org, make_user, sandbox, run_jobs):
    admin = make_user(org, role=Role.ADMIN, language="en")
    s = Session(client)
    s.login(admin)
    page = s.get(url(org, "/setup")).get_data(as_text=True)
    for label in ("API key", "Sender CVR", "Your CPR number", "The number will not be saved.", "Next"):
        assert label in page
    step1(s, org)
    run_jobs()
    assert sandbox.mailbox(CITIZEN_CPR)[0]["label"] == "Confirm the connection to Digital Post"
    assert "Confirm and enable" in s.get(url(org, "/setup/verify")).get_data(as_text=True)


def test_reload_shows_the_same_step(as_admin, org, sandbox):
    step1(as_admin, org)
    page = as_admin.get(url(org, "/setup/verify"))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "<html" in text and "Bekræft og aktiver" in text and 'id="dp-panel"' in text


@pytest.mark.parametrize(
    "fields,field_id,message",
    [
        ({"api_key": ""}, "api_key", "Indtast API-nøglen"),
        ({"api_key": "has a space in it"}, "api_key", "mellemrum"),
        ({"api_key": "short"}, "api_key", "mellem 8 og 256 tegn"),
        ({"api_key": "x" * 300}, "api_key", "mellem 8 og 256 tegn"),
        ({"api_key": "nøgle-æøå-1234"}, "api_key", "kun indeholde"),
        ({"api_key": "test\u2011key\u20111"}, "api_key", "kun indeholde"),  # non-breaking hyphens
        ({"cvr": "１３５８５６２８"}, "sender_cvr", "8 cifre"),  # full-width digits
        ({"cvr": "١٣٥٨٥٦٢٨"}, "sender_cvr", "8 cifre"),  # Arabic-Indic digits
        ({"cpr": "０１０１９０-１２３４"}, "cpr", "10 cifre"),
        ({"cvr": ""}, "sender_cvr", "8 cifre"),
        ({"cvr": "1358562"}, "sender_cvr", "8 cifre"),
        ({"cvr": "13585627"}, "sender_cvr", "ikke et gyldigt CVR-nummer"),
        ({"cpr": ""}, "cpr", "Angiv CPR-nummeret"),
        ({"cpr": "3102901234"}, "cpr", "fødselsdato"),
        ({"cpr": "0101-901234"}, "cpr", "10 cifre"),
    ],
)
def test_bad_input_gets_a_message_at_the_field_and_saves_nothing(as_admin, org, fields, field_id, message):
    response = step1(as_admin, org, **fields)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    error = re.search(rf'id="{field_id}-error">([^<]+)<', body)
    assert error and message in error.group(1)
    assert DigitalPostIntegration.find(org.id) is None or not DigitalPostIntegration.find(org.id).has_attempt
    assert db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)) == 0


def test_what_was_typed_is_kept_on_an_error(as_admin, org):
    body = step1(as_admin, org, cvr="13585627", cpr="010190 1234").get_data(as_text=True)
    assert 'value="13585627"' in body and f'value="{SANDBOX_KEY}"' in body


def test_cpr_with_a_space_is_accepted(as_admin, org, sandbox, run_jobs):
    assert step1(as_admin, org, cpr="010190 1234").status_code == 200
    run_jobs()
    assert code_from_mailbox(sandbox)


def test_leaving_a_field_checks_it(as_admin, org):
    response = as_admin.post(url(org, "/setup/validate?field=sender_cvr"), {"sender_cvr": "13585627"}, htmx=True)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'id="sender_cvr-feedback"' in body and "ikke et gyldigt CVR-nummer" in body
    ok = as_admin.post(url(org, "/setup/validate?field=sender_cvr"), {"sender_cvr": SENDER_CVR}, htmx=True)
    assert "error" not in ok.get_data(as_text=True)
    assert as_admin.post(url(org, "/setup/validate?field=nope"), {}, htmx=True).status_code == 400


@pytest.mark.parametrize(
    "fields,field_id,advice",
    [
        ({"api_key": "not-a-known-key"}, "api_key", "accepterede ikke denne API-nøgle"),
        ({"cvr": UNBOUND_CVR}, "sender_cvr", "må ikke sende med denne API-nøgle"),
        ({"cpr": EXEMPT_CPR}, "cpr", "fritaget for Digital Post"),
        ({"cpr": UNKNOWN_CPR}, "cpr", "kender ikke dette CPR-nummer"),
    ],
)
def test_gateway_refusals_become_advice_at_the_right_field(as_admin, org, sandbox, run_jobs, fields, field_id, advice):
    step1(as_admin, org, **fields)
    run_jobs()
    response = as_admin.get(url(org, "/setup/status"), htmx=True)
    assert response.headers["HX-Retarget"] == "#dp-panel"
    assert response.headers["HX-Push-Url"] == url(org, "/setup")
    body = response.get_data(as_text=True)
    error = re.search(rf'id="{field_id}-error">([^<]+)<', body)
    assert error and advice in error.group(1), body
    assert 'value="0' not in body  # the CPR field is empty: it was not stored
    if field_id == "sender_cvr":
        assert f'value="{UNBOUND_CVR}"' in body
    event = db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.action == "integration.verification_started"


def test_unavailable_gateway_is_retried_then_reported_with_a_retry(as_admin, org, sandbox, run_jobs):
    sandbox.configure(SANDBOX_FAIL_RATE=1.0)
    step1(as_admin, org)
    run_jobs()
    body = as_admin.get(url(org, "/setup/status"), htmx=True).get_data(as_text=True)
    assert "svarer ikke lige nu" in body and "Næste" in body
    # The key is kept (the admin leaves the field empty), the CVR is filled in.
    assert f"slutter på {SANDBOX_KEY[-4:]}" in body and f'value="{SENDER_CVR}"' in body
    sandbox.configure(SANDBOX_FAIL_RATE=0.0)
    assert step1(as_admin, org, api_key="").status_code == 200
    run_jobs()
    assert confirm(as_admin, org, code_from_mailbox(sandbox)).status_code == 200


def test_rate_limited_first_try_is_retried_and_delivers_once(as_admin, org, sandbox, run_jobs, app):
    """A 429 on the first try; the retry goes through: one mail, not two."""
    import time
    import uuid

    from digitalpost import DigitalPostClient, Message

    app.config["VERIFICATION_RETRY_INTERVALS"] = [1, 1]
    sandbox.configure(SANDBOX_RATE_LIMIT=1)
    step1(as_admin, org)
    with DigitalPostClient(sandbox.url, SANDBOX_KEY) as c:  # use up this second's one send
        c.send(
            Message(
                message_uuid=str(uuid.uuid4()),
                subject="x",
                sender_cvr=SENDER_CVR,
                sender_name="x",
                recipient_cpr="0202901234",
                body="x",
            )
        )
    run_jobs()
    db.session.expire_all()
    assert DigitalPostIntegration.find(org.id).sending_status == "sending"  # retry scheduled
    assert sandbox.mailbox(CITIZEN_CPR) == []
    deadline = time.time() + 10
    while DigitalPostIntegration.find(org.id).sending_status == "sending" and time.time() < deadline:
        time.sleep(0.3)
        run_jobs()
        db.session.expire_all()
    assert DigitalPostIntegration.find(org.id).sending_status == "sent"
    assert len(sandbox.mailbox(CITIZEN_CPR)) == 1


def test_wrong_codes_count_and_the_fifth_ends_the_attempt(as_admin, org, sandbox, run_jobs):
    step1(as_admin, org)
    run_jobs()
    code = code_from_mailbox(sandbox)
    wrong = "000000" if code != "000000" else "111111"
    first = confirm(as_admin, org, wrong)
    assert first.status_code == 422 and "Forkert kode. Du kan prøve 4 gange mere." in first.get_data(as_text=True)
    for _ in range(4):
        last = confirm(as_admin, org, wrong)
    assert "ingen forsøg tilbage" in last.get_data(as_text=True)
    refused = confirm(as_admin, org, code)
    assert refused.status_code == 422 and "kan ikke længere bruges" in refused.get_data(as_text=True)
    assert not DigitalPostIntegration.find(org.id).is_active


def test_expired_code_is_refused(as_admin, org, sandbox, run_jobs):
    step1(as_admin, org)
    run_jobs()
    integration = DigitalPostIntegration.find(org.id)
    integration.code_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = confirm(as_admin, org, code_from_mailbox(sandbox))
    assert response.status_code == 422 and "kan ikke længere bruges" in response.get_data(as_text=True)


def test_malformed_code_is_refused_without_using_a_try(as_admin, org, sandbox, run_jobs):
    step1(as_admin, org)
    run_jobs()
    assert "6 cifre" in confirm(as_admin, org, "12ab").get_data(as_text=True)
    db.session.expire_all()
    assert DigitalPostIntegration.find(org.id).code_attempts == 0


def test_back_shows_step1_without_the_key_and_with_the_cvr(as_admin, org, sandbox, run_jobs):
    step1(as_admin, org)
    body = as_admin.get(url(org, "/setup"), htmx=True).get_data(as_text=True)
    assert SANDBOX_KEY not in body and f'value="{SENDER_CVR}"' in body
    assert 'id="cpr"' in body and "0101901234" not in body and "010190-1234" not in body


def test_change_of_settings_keeps_the_old_ones_until_confirmed(as_admin, org, sandbox, run_jobs):
    connect(as_admin, org, sandbox, run_jobs)
    second_cvr = "12345674"  # also bound to the test key
    step1(as_admin, org, api_key="", cvr=second_cvr)
    run_jobs()
    integration = DigitalPostIntegration.find(org.id)
    db.session.refresh(integration)
    assert integration.is_active and integration.sender_cvr == SENDER_CVR
    page = as_admin.get(url(org)).get_data(as_text=True)
    assert "venter på bekræftelse" in page
    mails = sandbox.mailbox(CITIZEN_CPR)
    code = re.search(r":\s*(\d{6})\b", mails[0]["text"]).group(1)
    assert mails[0]["senderCVR"] == second_cvr
    confirm(as_admin, org, code)
    db.session.refresh(integration)
    assert integration.sender_cvr == second_cvr
    assert (
        db.session.scalars(db.select(AuditEvent.action).order_by(AuditEvent.id.desc())).first()
        == "integration.settings_changed"
    )


def test_two_admins_at_once_cannot_mix_their_settings(client, app, org, admin, make_user, sandbox, run_jobs):
    other_admin = make_user(org, role=Role.ADMIN)
    a = Session(client)
    a.login(admin)
    b = Session(app.test_client())
    b.login(other_admin)
    step1(a, org)
    a_attempt = attempt_id(org)
    step1(b, org, cvr="12345674")
    run_jobs()
    codes = [re.search(r":\s*(\d{6})\b", m["text"]).group(1) for m in sandbox.mailbox(CITIZEN_CPR)]
    stale = confirm(a, org, codes[-1], attempt=a_attempt)
    assert stale.status_code == 409 and "erstattet af en nyere" in stale.get_data(as_text=True)
    assert not DigitalPostIntegration.find(org.id).is_active
    assert confirm(b, org, codes[0]).status_code == 200  # newest mail first
    db.session.expire_all()
    assert DigitalPostIntegration.find(org.id).sender_cvr == "12345674"


def test_members_get_403_and_outsiders_404(as_member, org, app, make_org, make_user):
    for path in ("/", "/setup", "/setup/verify", "/setup/status"):
        assert as_member.get(url(org, path)).status_code == 403
    assert step1(as_member, org).status_code == 403
    assert as_member.post(url(org, "/setup/confirm"), {"code": "123456"}, htmx=True).status_code == 403
    outsider = make_user(make_org("Andet"), role=Role.ADMIN)
    s = Session(app.test_client())
    s.login(outsider)
    assert s.get(url(org, "/setup")).status_code == 404
    assert step1(s, org).status_code == 404
    assert DigitalPostIntegration.find(org.id) is None


def test_step1_without_csrf_token_is_refused(as_admin, org):
    response = as_admin.post(
        url(org, "/setup"), {"api_key": SANDBOX_KEY, "sender_cvr": SENDER_CVR, "cpr": ADMIN_CPR}, htmx=True, csrf=False
    )
    assert response.status_code == 400
    assert DigitalPostIntegration.find(org.id) is None


def test_redis_down_at_enqueue_is_reported_not_lost(as_admin, org, redis_down):
    response = step1(as_admin, org)
    assert response.status_code == 200  # swapped in: the advice shows in the form
    assert "kunne ikke sættes i kø" in response.get_data(as_text=True)
    db.session.expire_all()
    assert DigitalPostIntegration.find(org.id).sending_status == "failed"


def test_the_forking_worker_sends_the_mail_as_flask_worker_does(as_admin, org, sandbox, run_jobs):
    from jobs.worker import AppWorker

    step1(as_admin, org)
    run_jobs(AppWorker)
    assert code_from_mailbox(sandbox)
    db.session.expire_all()
    assert DigitalPostIntegration.find(org.id).sending_status == "sent"
