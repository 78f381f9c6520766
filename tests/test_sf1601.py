"""The SF1601 client over real mutual TLS against the sandbox's Serviceplatformen:
OCES3-like certificates from the sandbox's test authority, the two-step
token flow cached in Redis, a token expired mid-round, the kombi envelope,
PostForespoerg, and every answer mapped to the provider API's outcomes."""

import logging
import ssl
import uuid
from datetime import datetime, timezone

import httpx
import pytest

from conftest import CITIZEN_CPR, EXEMPT_CPR, SENDER_CVR, UNKNOWN_CPR
from digitalpost.certificates import CertificateError, CertificateProblem, load_pkcs12
from digitalpost.errors import (
    CertificateRefused,
    DuplicateMessage,
    InvalidMessage,
    RecipientExempt,
    RecipientNotFound,
    SenderNotAuthorized,
)
from digitalpost.sf1601 import ENTITY_SEND, Endpoints, KombiValg, SF1601Client, kombi_request
from extensions import get_redis, redis_key
from jobs.gateway import RedisTokenCache
from sandbox.ca import TestAuthority
from tests.fixtures.sf1601 import PASSPHRASE
from tests.test_gateway_contract import message as letter

STS = "/runtime/api/rest/wstrust/v1/issue"


@pytest.fixture
def certificate(authority):
    return load_pkcs12(authority.system_certificate(SENDER_CVR, "Testkommune", PASSPHRASE), PASSPHRASE)


@pytest.fixture
def calls(sandbox):
    log = sandbox.app.extensions["sf1601_calls"]
    log.clear()
    sandbox.app.config.update(SANDBOX_SF1601_AGREEMENTS={SENDER_CVR}, SANDBOX_TOKEN_EPOCH=0)
    return log


@pytest.fixture
def client(app, sf1601_url, certificate, ca_file, calls):
    get_redis().flushdb()
    with SF1601Client(
        Endpoints(sf1601_url, sf1601_url), SENDER_CVR, certificate, RedisTokenCache(), cafile=ca_file
    ) as c:
        yield c


# --- certificates ----------------------------------------------------------------


def test_a_system_certificate_is_read_with_its_cvr_serial_and_expiry(authority):
    certificate = load_pkcs12(authority.system_certificate(SENDER_CVR, "Testkommune", PASSPHRASE), PASSPHRASE)
    assert certificate.cvr == SENDER_CVR and "Testkommune" in certificate.subject
    assert certificate.serial and certificate.not_after > datetime.now(timezone.utc)
    assert "PRIVATE" not in repr(certificate) and certificate.key_pem not in repr(certificate).encode()


@pytest.mark.parametrize(
    "make,passphrase,problem",
    [
        (lambda a: a.system_certificate(SENDER_CVR, "K", PASSPHRASE), "forkert", CertificateProblem.WRONG_PASSPHRASE),
        (lambda a: a.system_certificate(SENDER_CVR, "K", PASSPHRASE), "", CertificateProblem.WRONG_PASSPHRASE),
        (lambda a: b"fornavn;cpr\nAnne;0101901234\n", PASSPHRASE, CertificateProblem.NOT_PKCS12),
        (lambda a: b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, PASSPHRASE, CertificateProblem.NOT_PKCS12),
        (lambda a: a.pem, PASSPHRASE, CertificateProblem.NOT_PKCS12),
        (lambda a: b"", PASSPHRASE, CertificateProblem.NOT_PKCS12),
        (
            lambda a: a.system_certificate(SENDER_CVR, "K", PASSPHRASE, days=-1, valid_from_days=-30),
            PASSPHRASE,
            CertificateProblem.EXPIRED,
        ),
        (
            lambda a: a.system_certificate(SENDER_CVR, "K", PASSPHRASE, days=20),
            PASSPHRASE,
            CertificateProblem.EXPIRES_SOON,
        ),
    ],
)
def test_a_certificate_that_cannot_be_used_says_why(authority, make, passphrase, problem):
    with pytest.raises(CertificateError) as caught:
        load_pkcs12(make(authority), passphrase)
    assert caught.value.problem == problem


def test_a_certificate_without_a_cvr_says_so(authority):
    assert load_pkcs12(authority.system_certificate(None, "Uden CVR", PASSPHRASE), PASSPHRASE).cvr is None


# --- sending ---------------------------------------------------------------------------


def test_a_letter_goes_through_sf1601_to_the_mailbox_with_transaction_headers(client, sandbox, calls, caplog):
    caplog.set_level(logging.INFO, logger="digitalpost.sf1601")
    message = letter()
    assert client.send(message).message_uuid == message.message_uuid
    mail = sandbox.mailbox(CITIZEN_CPR)
    assert [m["messageUUID"] for m in mail] == [message.message_uuid] and mail[0]["label"] == message.subject
    sent = [c for c in calls if c[0].endswith("/kombi")]
    transaction, moment = sent[0][1], sent[0][2]
    assert uuid.UUID(transaction) and moment.endswith("Z")
    assert datetime.fromisoformat(moment.replace("Z", "+00:00")).tzinfo is not None
    assert any(transaction in r.getMessage() for r in caplog.records)  # the log line names the transaction
    assert CITIZEN_CPR not in caplog.text


def test_tokens_are_cached_across_clients_and_encrypted_in_redis(client, calls, app, sf1601_url, certificate, ca_file):
    client.send(letter())
    with SF1601Client(
        Endpoints(sf1601_url, sf1601_url), SENDER_CVR, certificate, RedisTokenCache(), cafile=ca_file
    ) as other:
        other.send(letter())
    assert [c[0] for c in calls].count(STS) == 1  # one SAML token for both, from Redis
    stored = b" ".join(get_redis().get(k) for k in get_redis().scan_iter(redis_key("tokens", "*")))
    assert stored and b"Holder-of-key" not in stored  # sealed, not in clear


def test_a_token_expired_mid_round_is_taken_anew_once_and_the_round_goes_on(client, sandbox, calls):
    for i in range(3):
        client.send(letter(recipient_cpr=f"01019{i}1234"))
    sandbox.app.config["SANDBOX_TOKEN_EPOCH"] = 1  # every token handed out so far is dead
    for i in range(3, 6):
        client.send(letter(recipient_cpr=f"01019{i}1234"))
    assert sum(len(sandbox.mailbox(f"01019{i}1234")) for i in range(6)) == 6
    paths = [c[0] for c in calls]
    assert paths.count(STS) == 2 and paths.count("/service/KombiPostAfsend_1/kombi") == 7  # one refused, once


def test_a_short_lived_access_token_is_refreshed_before_it_expires(client, sandbox, calls):
    sandbox.app.config["SANDBOX_ACCESS_TOKEN_LIFETIME"] = 2
    try:
        client.send(letter())
        key = client._key(ENTITY_SEND, "access")
        assert 0 < get_redis().ttl(RedisTokenCache.key(key)) <= 2  # cached for less than its life
    finally:
        sandbox.app.config["SANDBOX_ACCESS_TOKEN_LIFETIME"] = 3600


def test_a_cvr_without_an_agreement_is_refused_for_good(client, sandbox):
    sandbox.app.config["SANDBOX_SF1601_AGREEMENTS"] = set()
    with pytest.raises(CertificateRefused):
        client.send(letter())
    assert sandbox.mailbox(CITIZEN_CPR) == []


def test_another_organizations_sender_cvr_is_refused(client):
    with pytest.raises(SenderNotAuthorized):
        client.send(letter(sender_cvr="12345674"))


@pytest.mark.parametrize("cpr,error", [(EXEMPT_CPR, RecipientExempt), (UNKNOWN_CPR, RecipientNotFound)])
def test_exempt_and_unknown_citizens(client, sandbox, cpr, error):
    with pytest.raises(error):
        client.send(letter(recipient_cpr=cpr))
    assert sandbox.mailbox(cpr) == []


def test_a_repeated_message_uuid_is_a_duplicate_not_a_second_letter(client, sandbox):
    message = letter()
    client.send(message)
    with pytest.raises(DuplicateMessage):
        client.send(message)
    assert len(sandbox.mailbox(CITIZEN_CPR)) == 1


def test_invalid_memo_is_refused_before_anything_is_sent(client, calls):
    with pytest.raises(InvalidMessage):
        client.send(letter(subject="Hej\x07"))
    assert list(calls) == []


def test_the_envelope_carries_the_choice_and_prefixed_memo():
    xml = kombi_request(letter(), KombiValg.AUTOMATIC).decode()
    assert "<KombiValgKode>Automatisk Valg</KombiValgKode>" in xml and "<memo:Message " in xml


def test_the_sandbox_refuses_memo_without_its_prefix(client, sf1601_url, certificate, ca_file):
    token = client.access_token(ENTITY_SEND)
    memo = kombi_request(letter(), KombiValg.DIGITAL_POST).replace(b"memo:", b"").replace(b"xmlns:memo=", b"xmlns=")
    with httpx.Client(verify=certificate.ssl_context(ca_file)) as http:
        response = http.post(
            f"{sf1601_url}/service/KombiPostAfsend_1/kombi",
            content=memo,
            headers={
                "Authorization": token,
                "x-TransaktionsId": str(uuid.uuid4()),
                "x-TransaktionsTid": "2026-12-01T10:00:00.000Z",
            },
        )
    assert response.status_code == 400 and b"invalid_memo" in response.content and b"memo: prefix" in response.content


def test_registration_lookup(client):
    assert client.is_registered(CITIZEN_CPR) is True
    assert client.is_registered(EXEMPT_CPR) is False
    with pytest.raises(RecipientNotFound):
        client.is_registered(UNKNOWN_CPR)


def test_without_a_client_certificate_there_is_no_connection_and_no_service(sf1601_url, ca_file, sandbox):
    with pytest.raises(httpx.TransportError):  # TLS 1.3 refuses after the handshake: a read error
        httpx.post(f"{sf1601_url}{STS}", json={}, verify=ssl.create_default_context(cafile=ca_file))
    plain = sandbox.app.test_client().post(STS, json={})  # the plain port has no client certificate
    assert plain.status_code == 401


def test_a_certificate_from_another_authority_is_refused_for_good(app, sf1601_url, ca_file, sandbox):
    """Refused in the TLS handshake: a permanent outcome that stops a round,
    not a passing failure to retry."""
    stranger = TestAuthority.create("Somebody else")
    certificate = load_pkcs12(stranger.system_certificate(SENDER_CVR, "Testkommune", PASSPHRASE), PASSPHRASE)
    with SF1601Client(
        Endpoints(sf1601_url, sf1601_url), SENDER_CVR, certificate, RedisTokenCache(), cafile=ca_file
    ) as c:
        with pytest.raises(CertificateRefused):
            c.send(letter())
    assert sandbox.mailbox(CITIZEN_CPR) == []


def test_the_sandbox_access_log_keeps_no_cpr_from_a_lookup(client, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    assert client.is_registered(CITIZEN_CPR) is True
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("/service/PostForespoerg_1/digitalpost" in line for line in lines), lines
    assert not any("cprNumber" in line or CITIZEN_CPR in line for line in lines), lines
