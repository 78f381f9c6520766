"""The gateway contract, row by row: the real client over HTTP against the real sandbox."""

import time
import uuid

import httpx
import pytest

from conftest import CITIZEN_CPR, EXEMPT_CPR, OTHER_KEY, SANDBOX_KEY, SENDER_CVR, UNBOUND_CVR, UNKNOWN_CPR
from digitalpost import (
    Action,
    DigitalPostClient,
    DuplicateMessage,
    GatewayUnavailable,
    InvalidApiKey,
    InvalidMessage,
    Message,
    MessageNotFound,
    NoAnswer,
    RateLimited,
    RecipientExempt,
    RecipientNotFound,
    SenderNotAuthorized,
    TransientError,
)


def message(**changes):
    fields = dict(
        message_uuid=str(uuid.uuid4()),
        subject="Invitation til spørgeskema",
        sender_cvr=SENDER_CVR,
        sender_name="Testkommune",
        recipient_cpr=CITIZEN_CPR,
        body="Hej! Svar venligst på vores spørgeskema.",
        actions=(Action("Besvar spørgeskemaet", "https://postbud.example/r/abc"),),
    )
    fields.update(changes)
    return Message(**fields)


@pytest.fixture
def client(sandbox):
    with DigitalPostClient(sandbox.url, SANDBOX_KEY) as c:
        yield c


def test_accepted_message_is_delivered_to_the_citizens_mailbox(client, sandbox):
    msg = message()
    result = client.send(msg)
    assert (result.message_uuid, result.status, result.replayed) == (msg.message_uuid, "accepted", False)
    mail = [m for m in sandbox.mailbox(CITIZEN_CPR) if m["messageUUID"] == msg.message_uuid]
    assert mail[0]["label"] == "Invitation til spørgeskema"
    assert mail[0]["text"] == msg.body and mail[0]["senderCVR"] == SENDER_CVR
    assert mail[0]["actions"][0]["url"] == "https://postbud.example/r/abc"


def test_replay_with_same_content_answers_200_and_delivers_once(client, sandbox):
    msg = message()
    client.send(msg)
    again = client.send(msg)
    assert again.replayed and again.status == "accepted"
    assert [m["messageUUID"] for m in sandbox.mailbox(CITIZEN_CPR)].count(msg.message_uuid) == 1


def test_replay_with_other_content_is_a_conflict(client):
    msg = message()
    client.send(msg)
    with pytest.raises(DuplicateMessage):
        client.send(message(message_uuid=msg.message_uuid, body="Noget helt andet"))


def test_malformed_memo_gets_invalid_memo_with_a_detail(sandbox):
    response = httpx.post(
        f"{sandbox.url}/v1/messages",
        content=b"<memo:Message",
        headers={"Authorization": f"Bearer {SANDBOX_KEY}", "Content-Type": "application/xml"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_memo" and "XML" in response.json()["detail"]


def test_memo_missing_a_required_element_is_refused_by_the_client_wrapper(sandbox, client):
    from digitalpost.memo import build_memo

    xml = build_memo(message()).replace(b"<memo:messageType>DIGITALPOST</memo:messageType>", b"")
    response = httpx.post(
        f"{sandbox.url}/v1/messages",
        content=xml,
        headers={"Authorization": f"Bearer {SANDBOX_KEY}", "Content-Type": "application/xml"},
    )
    assert response.status_code == 400 and "messageType" in response.json()["detail"]
    with pytest.raises(InvalidMessage):
        client._raise_for(response)


@pytest.mark.parametrize("key", ["", "unknown-key"])
def test_wrong_key_is_invalid_api_key(sandbox, key):
    with DigitalPostClient(sandbox.url, key) as c, pytest.raises(InvalidApiKey):
        c.send(message())


def test_sender_cvr_not_bound_to_the_key(client):
    with pytest.raises(SenderNotAuthorized):
        client.send(message(sender_cvr=UNBOUND_CVR))


def test_another_keys_cvr_is_not_authorized_either(sandbox):
    with DigitalPostClient(sandbox.url, OTHER_KEY) as c, pytest.raises(SenderNotAuthorized):
        c.send(message())


@pytest.mark.parametrize("cpr,error", [(EXEMPT_CPR, RecipientExempt), (UNKNOWN_CPR, RecipientNotFound)])
def test_recipient_exempt_or_unknown(client, sandbox, cpr, error):
    with pytest.raises(error):
        client.send(message(recipient_cpr=cpr))
    assert sandbox.mailbox(cpr) == []


def test_rate_limited_with_retry_after(client, sandbox):
    sandbox.configure(SANDBOX_RATE_LIMIT=2)
    client.send(message())
    client.send(message())
    with pytest.raises(RateLimited) as caught:
        client.send(message())
    assert isinstance(caught.value, TransientError) and 0 < caught.value.retry_after <= 1


def test_unavailable_is_transient(client, sandbox):
    sandbox.configure(SANDBOX_FAIL_RATE=1.0)
    with pytest.raises(GatewayUnavailable) as caught:
        client.send(message())
    assert isinstance(caught.value, TransientError)


def test_timeout_is_transient_and_may_have_arrived(sandbox):
    sandbox.configure(SANDBOX_LATENCY_MS=600)
    with DigitalPostClient(sandbox.url, SANDBOX_KEY, timeout=httpx.Timeout(2.0, read=0.2)) as c:
        with pytest.raises(NoAnswer) as caught:
            c.send(message())
    assert isinstance(caught.value, GatewayUnavailable) and "ReadTimeout" in str(caught.value)


def test_connection_refused_is_transient_and_sent_nothing():
    with DigitalPostClient("http://127.0.0.1:9", SANDBOX_KEY) as c, pytest.raises(GatewayUnavailable) as caught:
        c.send(message())
    assert not isinstance(caught.value, NoAnswer)


def test_a_key_that_is_not_ascii_is_refused_before_sending(sandbox):
    with DigitalPostClient(sandbox.url, "nøgle-æøå-1234") as c, pytest.raises(InvalidApiKey):
        c.send(message())


def test_status_before_and_after_delivery(client, sandbox):
    sandbox.configure(SANDBOX_DELIVERY_DELAY_MS=400)
    msg = message()
    client.send(msg)
    before = client.status(msg.message_uuid)
    assert before.status == "accepted" and before.delivered_at is None
    assert msg.message_uuid not in [m["messageUUID"] for m in sandbox.mailbox(CITIZEN_CPR)]
    time.sleep(0.5)
    after = client.status(msg.message_uuid)
    assert after.status == "delivered" and after.delivered_at is not None
    assert msg.message_uuid in [m["messageUUID"] for m in sandbox.mailbox(CITIZEN_CPR)]


def test_status_of_a_message_this_key_never_sent_is_404(client, sandbox):
    with pytest.raises(MessageNotFound):
        client.status(str(uuid.uuid4()))
    msg = message(sender_cvr="29190003")
    with DigitalPostClient(sandbox.url, OTHER_KEY) as other:
        other.send(msg)
    with pytest.raises(MessageNotFound):
        client.status(msg.message_uuid)


def test_bad_message_is_refused_before_anything_is_sent(sandbox):
    """The builder refuses; the sandbox never sees a request (its rate limit of 1 is not used up)."""
    sandbox.configure(SANDBOX_RATE_LIMIT=1)
    with DigitalPostClient(sandbox.url, SANDBOX_KEY) as c:
        with pytest.raises(InvalidMessage) as caught:
            c.send(message(subject="x" * 257))
        assert caught.value.field == "subject"
        c.send(message())  # the one allowed send of this second
