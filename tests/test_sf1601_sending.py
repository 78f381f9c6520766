"""Sending through Serviceplatformen end to end, over HTTP with HTMX headers,
a real rq worker and the sandbox's mutual-TLS port: the wizard's certificate
path, the reach check, a round with digital and paper letters, and the
broker's receipts arriving twice, late and out of order."""

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conftest import CITIZEN_CPR, EXEMPT_CPR, SENDER_CVR, UNKNOWN_CPR
from digitalpost.transport import Registration
from models import AuditEvent, Delivery, DigitalPostIntegration, Recipient, db
from models.access import grant_access, selection_of
from models.base import utcnow
from tests.fixtures.sf1601 import PASSPHRASE, PRINT_TYPE
from tests.test_integration_wizard import code_from_mailbox, confirm, url
from tests.test_sharing import compose, survey  # noqa: F401  (a fixture)
from tests.test_sharing import confirm as confirm_share_view

ADMIN_CPR = "010190-1234"
KOMBI = "/service/KombiPostAfsend_1/kombi"
LOOKUP = "/service/PostForespoerg_1/digitalpost"


def step1_certificate(s, org, p12_bytes, passphrase=PASSPHRASE, cvr=SENDER_CVR, cpr=ADMIN_CPR, environment="sandbox"):
    data = {"via": "sf1601", "passphrase": passphrase, "environment": environment, "sender_cvr": cvr, "cpr": cpr}
    if p12_bytes is not None:
        data["certificate"] = (io.BytesIO(p12_bytes), "system.p12")
    return s.post(url(org, "/setup"), data, htmx=True, content_type="multipart/form-data")


def field_error(body: str, field_id: str) -> str:
    match = re.search(rf'id="{field_id}-error">([^<]+)<', body)
    return match.group(1) if match else ""


# --- the wizard ----------------------------------------------------------------


def test_an_authority_connects_with_its_certificate_and_the_same_verification_letter(
    as_admin, org, admin, sf1601, p12, run_jobs
):
    wizard = as_admin.get(url(org, "/setup"), htmx=True).get_data(as_text=True)
    assert "API-nøgle" in wizard and "Forbind via Serviceplatformen (OCES3-certifikat)" in wizard

    page = as_admin.get(url(org, "/setup?via=sf1601"), htmx=True).get_data(as_text=True)
    for label in ("Systemcertifikat (.p12)", "Adgangskode", "Miljø", "Afsender-CVR", "Dit CPR-nummer"):
        assert label in page, label
    assert 'enctype="multipart/form-data"' in page and 'name="api_key"' not in page

    response = step1_certificate(as_admin, org, p12())
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    assert "Bekræft og aktiver" in body and "Serviceplatformen" in body

    run_jobs()
    calls = [path for path, *_ in sf1601.app.extensions["sf1601_calls"]]
    assert KOMBI in calls, calls  # the verification letter went through SF1601
    done = confirm(as_admin, org, code_from_mailbox(sf1601))
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    assert "Medlemsadgang til Digital Post: Aktiveret" in text
    integration = DigitalPostIntegration.find(org.id)
    db.session.refresh(integration)
    assert integration.is_active and integration.uses_certificate and integration.environment == "sandbox"
    assert integration.api_key_encrypted is None
    # Shown by subject, serial and expiry; the key itself only encrypted.
    assert integration.certificate_serial in text and "Testkommune" in text
    assert "PRIVATE KEY" not in (integration.certificate_encrypted or "")
    assert integration.certificate.cvr == SENDER_CVR
    events = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert events == ["integration.verification_started", "integration.activated"]


@pytest.mark.parametrize(
    "make, passphrase, field, message",
    [
        (lambda p12: p12(), "forkert", "passphrase", "Adgangskoden kan ikke åbne"),
        (lambda p12: b"\x89PNG\r\n\x1a\n" + b"0" * 200, PASSPHRASE, "certificate", "ikke et PKCS#12"),
        (lambda p12: p12(days=-1, valid_from_days=-30), PASSPHRASE, "certificate", "udløbet"),
        (lambda p12: p12(days=20), PASSPHRASE, "certificate", "udløber inden for 30 dage"),
        (lambda p12: None, PASSPHRASE, "certificate", "Vælg organisationens systemcertifikat"),
    ],
)
def test_a_certificate_that_cannot_be_used_gets_a_message_at_its_field(
    as_admin, org, sf1601, p12, make, passphrase, field, message
):
    response = step1_certificate(as_admin, org, make(p12), passphrase=passphrase)
    assert response.status_code == 422
    assert message in field_error(response.get_data(as_text=True), field)
    assert DigitalPostIntegration.find(org.id) is None or not DigitalPostIntegration.find(org.id).has_attempt


def test_a_cvr_other_than_the_certificates_is_refused_at_the_cvr(as_admin, org, sf1601, p12):
    response = step1_certificate(as_admin, org, p12(cvr="29190003"))
    assert response.status_code == 422
    assert "29190003" in field_error(response.get_data(as_text=True), "sender_cvr")


def test_a_checked_certificate_is_kept_while_another_field_is_corrected(as_admin, org, sf1601, p12, run_jobs):
    response = step1_certificate(as_admin, org, p12(), cpr="3102901234")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "fødselsdato" in field_error(body, "cpr")
    ref = re.search(r'name="certificate_ref" type="hidden" value="([^"]+)"', body).group(1)
    assert "Valgt: " in body  # the hint says which certificate is kept
    data = {"via": "sf1601", "certificate_ref": ref, "passphrase": "", "environment": "sandbox"}
    data.update(sender_cvr=SENDER_CVR, cpr=ADMIN_CPR)
    again = as_admin.post(url(org, "/setup"), data, htmx=True, content_type="multipart/form-data")
    assert again.status_code == 200, again.get_data(as_text=True)
    assert DigitalPostIntegration.find(org.id).pending_certificate_serial


def test_a_certificate_the_service_refuses_is_reported_at_the_certificate(as_admin, org, sf1601, run_jobs):
    from sandbox.ca import TestAuthority

    stranger = TestAuthority.create("Another CA").system_certificate(SENDER_CVR, "Testkommune", PASSPHRASE)
    assert step1_certificate(as_admin, org, stranger).status_code == 200
    run_jobs()
    page = as_admin.get(url(org, "/setup/verify"), htmx=True).get_data(as_text=True)
    assert "Serviceplatformen accepterede ikke certifikatet" in field_error(page, "certificate")


def test_the_integration_page_warns_thirty_days_before_the_certificate_expires(as_admin, org, sf1601_integration):
    page = as_admin.get(url(org)).get_data(as_text=True)
    assert "udløber den" not in page
    sf1601_integration.certificate_not_after = utcnow() + timedelta(days=29)
    db.session.commit()
    page = as_admin.get(url(org)).get_data(as_text=True)
    assert "Systemcertifikatet udløber den" in page and "Forny det i MitID Erhverv" in page


def test_the_admin_decides_whether_paper_may_be_sent(as_admin, org, sf1601_integration):
    as_admin.get(url(org))
    bad = as_admin.post(url(org, "/paper"), {"allowed": "y", "print_type": "abc"}, htmx=True)
    assert bad.status_code == 422 and "et helt tal" in field_error(bad.get_data(as_text=True), "print_type")
    off = as_admin.post(url(org, "/paper"), {"print_type": "4711"}, htmx=True)
    assert off.status_code == 200
    db.session.refresh(sf1601_integration)
    assert not sf1601_integration.paper_allowed and not sf1601_integration.can_send_paper
    assert db.session.scalar(select(AuditEvent.action).order_by(AuditEvent.id.desc())) == (
        "integration.paper_policy_changed"
    )


# --- the reach check ---------------------------------------------------------------


@pytest.fixture
def member_access(org, admin, member):
    membership = member.membership_in(org.id)
    grant_access(org.id, admin.id, selection_of(membership.id))
    db.session.commit()
    return membership


def reach_counts(body: str) -> dict:
    pairs = re.findall(r"<dt>([^<]+)</dt><dd>([\d.]+)</dd>", body)
    return {k: int(v.replace(".", "")) for k, v in pairs}


PASTE = (
    "cpr;firstname;lastname\n"
    f"{CITIZEN_CPR};Anna;Andersen\n{EXEMPT_CPR};Bo;Berg\n{UNKNOWN_CPR};Carl;Clausen\n0404901234;Dorte;Dam\n"
)


@pytest.mark.parametrize("transport", ["sf1601", "provider"])
def test_the_summary_shows_the_reach_from_the_registry(
    request, transport, as_member, survey, member_access, sf1601, run_jobs
):
    request.getfixturevalue("sf1601_integration" if transport == "sf1601" else "active_integration")
    draft, _schedule = compose(as_member, survey, PASTE)
    summary = as_member.get(draft + "/reach", htmx=True)
    assert "Slår modtagerne op i Digital Post: 0 af 4" in summary.get_data(as_text=True)
    run_jobs()
    done = as_member.get(draft + "/reach", htmx=True)
    assert done.status_code == 286  # the polling stops
    counts = reach_counts(done.get_data(as_text=True))
    assert counts["Får Digital Post"] == 2 and counts["Fritaget for Digital Post"] == 1
    assert counts["Ikke fundet"] == 1
    states = dict(db.session.execute(select(Recipient.first_name, Recipient.registration)).all())
    assert states == {"Anna": "digital", "Bo": "exempt", "Carl": "not_found", "Dorte": "digital"}
    lookups = [path for path, *_ in sf1601.app.extensions["sf1601_calls"] if path == LOOKUP]
    assert len(lookups) == (4 if transport == "sf1601" else 0)


def test_a_round_sends_digital_and_paper_letters_and_leaves_out_the_unknown(
    app, as_member, survey, member_access, sf1601_integration, sf1601, run_jobs, receipts_to
):
    pusher = receipts_to(duplicates=1.0, reorder=True)  # every receipt twice, the final one first
    draft, schedule = compose(as_member, survey, PASTE)
    run_jobs()
    summary = as_member.get(draft + "/reach", htmx=True).get_data(as_text=True)
    assert "Send dem et papirbrev (fjernprint)" in summary and "0 papirbreve bliver sendt." in summary
    chosen = as_member.post(draft + "/reach", {"exempt_choice": "paper"}, htmx=True).get_data(as_text=True)
    assert "1 papirbrev bliver sendt." in chosen
    confirm_share_view(as_member, draft, schedule)
    run_jobs()

    assert [m["label"] for m in sf1601.mailbox(CITIZEN_CPR)] == ["Spørgeskema om trivsel"]
    assert sf1601.mailbox(EXEMPT_CPR) == [] and sf1601.mailbox(UNKNOWN_CPR) == []
    printed = sf1601.printed(EXEMPT_CPR)
    assert len(printed) == 1 and printed[0]["printType"] == PRINT_TYPE and printed[0]["pages"] == 1
    bo = db.session.scalar(select(Recipient).where(Recipient.first_name == "Bo"))
    # The printed letter's short link leads to Bo's own answer page.
    response = app.test_client().get(f"/k/{bo.paper_code.lower()}")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/r/{bo.token}")
    kombi = [path for path, *_ in sf1601.app.extensions["sf1601_calls"] if path == KOMBI]
    assert len(kombi) == 3  # Anna, Bo (paper) and Dorte; not Carl, whom the lookup did not find

    assert pusher.wait_idle(20)
    db.session.expire_all()
    states = dict(db.session.execute(select(Recipient.first_name, Recipient.state)).all())
    assert states == {"Anna": "delivered", "Bo": "delivered", "Carl": "failed", "Dorte": "delivered"}
    channels = dict(
        db.session.execute(
            select(Recipient.first_name, Delivery.channel).join(Recipient, Recipient.id == Delivery.recipient_id)
        ).all()
    )
    assert channels == {"Anna": "digital", "Bo": "paper", "Carl": None, "Dorte": "digital"}
    assert db.session.scalar(select(func.count()).select_from(Delivery).where(Delivery.receipt == "delivered")) == 3


# --- receipts --------------------------------------------------------------------------


def push(client, app, event, secret=None):
    import json

    from views.receipts import signature

    body = json.dumps(event).encode()
    sign = signature(secret or app.config["RECEIPT_PUSH_SECRET"], body)
    return client.post(
        "/digitalpost/receipts", data=body, headers={"Content-Type": "application/json", "X-Postbud-Signature": sign}
    )


@pytest.fixture
def sent_round(app, as_member, survey, member_access, sf1601_integration, sf1601, run_jobs):
    draft, schedule = compose(as_member, survey, f"cpr;firstname;lastname\n{CITIZEN_CPR};Anna;Andersen\n")
    confirm_share_view(as_member, draft, schedule)
    run_jobs()
    return db.session.scalar(select(Delivery))


def event(uuid, status, **extra):
    return {
        "MessageUUID": uuid,
        "TransaktionsStatusKode": status,
        "TransaktionsDatoTid": "2026-12-02T10:00:00Z",
        **extra,
    }


def test_receipts_twice_late_and_reordered_leave_the_right_final_state(app, client, sent_round):
    uuid = sent_round.message_uuid
    assert uuid and sent_round.state == "sent"
    for status in (
        "Afleveret Digital Post",
        "Modtaget Digital Post",
        "Afleveret Digital Post",
        "Modtaget Digital Post",
    ):
        assert push(client, app, event(uuid, status)).status_code == 200
    db.session.expire_all()
    delivery = db.session.get(Delivery, sent_round.id)
    assert delivery.receipt == "delivered" and delivery.delivered_at is not None
    assert db.session.scalar(select(Recipient.state)) == "delivered"
    # A failure that arrives after the delivery does not undo it.
    failed = event(uuid, "Fejlet", FejlDetaljer={"FejlKode": "X1", "FejlTekst": "Postkassen er lukket"})
    assert push(client, app, failed).json == {"outcome": "unchanged"}
    db.session.expire_all()
    assert db.session.get(Delivery, sent_round.id).receipt == "delivered"


def test_a_failure_receipt_says_why_on_the_recipient(app, client, sent_round, as_member):
    failed = event(
        sent_round.message_uuid, "Fejlet", FejlDetaljer={"FejlKode": "NGDP-17", "FejlTekst": "Postkassen er lukket"}
    )
    assert push(client, app, event(sent_round.message_uuid, "Modtaget Digital Post")).status_code == 200
    assert push(client, app, failed).json == {"outcome": "applied"}
    db.session.expire_all()
    delivery = db.session.get(Delivery, sent_round.id)
    assert (delivery.state, delivery.receipt_code, delivery.receipt_text) == (
        "failed",
        "NGDP-17",
        "Postkassen er lukket",
    )
    recipient = db.session.scalar(select(Recipient))
    assert recipient.state == "failed" and recipient.error == "delivery_failed"


def test_a_receipt_is_trusted_only_signed_and_for_a_letter_postbud_sent(app, client, sent_round):
    good = event(sent_round.message_uuid, "Afleveret Digital Post")
    assert push(client, app, good, secret="not-the-secret").status_code == 401
    unknown = event("8b1e2f4a-1111-4aaa-8bbb-123456789abc", "Afleveret Digital Post")
    assert push(client, app, unknown).status_code == 404
    assert push(client, app, {"MessageUUID": "x"}).status_code == 400
    assert (
        client.post("/digitalpost/receipts", data=b"{}", headers={"Content-Type": "application/json"}).status_code
        == 401
    )
    db.session.expire_all()
    assert db.session.get(Delivery, sent_round.id).receipt is None


def test_the_exempt_are_left_out_when_paper_is_not_chosen(
    as_member, survey, member_access, sf1601_integration, sf1601, run_jobs
):
    draft, schedule = compose(as_member, survey, PASTE)
    run_jobs()
    confirm_share_view(as_member, draft, schedule)
    run_jobs()
    assert sf1601.printed_counts() == {}
    assert set(sf1601.message_counts()) == {CITIZEN_CPR, "0404901234"}
    errors = dict(db.session.execute(select(Recipient.first_name, Recipient.error)).all())
    assert errors["Bo"] == "recipient_exempt" and errors["Carl"] == "recipient_not_found"


def test_registration_states_never_hold_a_cpr(as_member, survey, member_access, sf1601_integration, run_jobs):
    compose(as_member, survey, PASTE)
    run_jobs()
    rows = db.session.execute(select(Recipient.registration, Recipient.paper_code)).all()
    assert {r.registration for r in rows} == {str(x) for x in Registration}
    for registration, code in rows:
        assert not re.search(r"\d{6}", f"{registration}{code}")


def test_a_receipt_before_its_sending_is_recorded_is_asked_again(app, client, sent_round):
    """The worker writes a chunk's outcomes after the chunk: a receipt that
    comes first is answered 503, so the broker delivers it again."""
    db.session.execute(db.update(Delivery).values(state="pending"))
    db.session.commit()
    response = push(client, app, event(sent_round.message_uuid, "Afleveret Digital Post"))
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    db.session.execute(db.update(Delivery).values(state="sent"))
    db.session.commit()
    assert push(client, app, event(sent_round.message_uuid, "Afleveret Digital Post")).json == {"outcome": "applied"}
