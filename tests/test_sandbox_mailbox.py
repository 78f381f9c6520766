"""The sandbox's mailbox pages, as a developer (playing the citizen) uses them."""

import logging
import re
import uuid

from conftest import CITIZEN_CPR, SANDBOX_KEY, SENDER_CVR
from digitalpost import Action, DigitalPostClient, Message


def send(sandbox, **changes):
    fields = dict(
        message_uuid=str(uuid.uuid4()),
        subject="Din mening tæller",
        sender_cvr=SENDER_CVR,
        sender_name="Testkommune",
        recipient_cpr=CITIZEN_CPR,
        body="Hej Ærø\nLinje to",
        actions=(Action("Besvar", "https://postbud.example/r/tok"),),
    )
    fields.update(changes)
    with DigitalPostClient(sandbox.url, SANDBOX_KEY) as client:
        client.send(Message(**fields))
    return fields


def test_mailbox_shows_sender_subject_text_and_action_button(sandbox):
    send(sandbox)
    page = sandbox.mailbox_page(CITIZEN_CPR).get_data(as_text=True)
    assert "Din mening tæller" in page and "Hej Ærø\nLinje to" in page
    assert "Testkommune" in page and SENDER_CVR in page
    assert 'href="https://postbud.example/r/tok"' in page and ">Besvar</a>" in page
    assert "010190-****" in page  # the heading shows the CPR masked


def test_mailbox_escapes_everything_it_shows(sandbox):
    send(
        sandbox,
        subject="<script>alert(1)</script>",
        body="<img src=x onerror=alert(1)>",
        sender_name="<b>Ond</b>",
        actions=(Action('"><script>', 'https://x.dk/"onmouseover=alert(1)'),),
    )
    page = sandbox.mailbox_page(CITIZEN_CPR).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<b>Ond</b>" not in page
    assert '"onmouseover' not in page


def test_html_body_is_shown_as_its_text(sandbox):
    send(sandbox, body="<p>Kære borger, <strong>svar</strong> venligst</p>", body_format="text/html")
    page = sandbox.mailbox_page(CITIZEN_CPR).get_data(as_text=True)
    assert "Kære borger, svar venligst" in page and "<strong>" not in page


def test_malformed_cpr_gets_a_clear_message_at_the_field(sandbox):
    client = sandbox.app.test_client()
    response = client.post("/mailbox", data={"cpr": "12345"})
    assert response.status_code == 400
    assert "10 cifre" in response.get_data(as_text=True)
    response = client.post("/mailbox", data={"cpr": "3102901234"})
    assert response.status_code == 400 and "ikke en rigtig dato" in response.get_data(as_text=True)


def test_mailbox_form_accepts_the_dashed_form_and_english(sandbox):
    send(sandbox)
    client = sandbox.app.test_client()
    assert "Din mening tæller" in sandbox.mailbox_page("010190-1234", client).get_data(as_text=True)
    client.get("/language/en?next=/mailbox")
    assert "Open mailbox" in client.get("/mailbox").get_data(as_text=True)


def test_no_cpr_in_any_mailbox_address(sandbox):
    """The access log keeps URLs: the CPR is posted, and the address it leads
    to carries it sealed. A forged or foreign address is 404."""
    send(sandbox)
    client = sandbox.app.test_client()
    response = client.post("/mailbox", data={"cpr": "010190-1234"})
    address = response.headers["Location"]
    assert "0101901234" not in address and "010190" not in address
    page = client.get(address).get_data(as_text=True)
    for link in re.findall(r'(?:href|src|action)="([^"]+)"', page):
        assert "010190" not in link, link
    assert client.get("/mailbox/not-a-sealed-cpr").status_code == 404
    assert client.get(f"/mailbox/{CITIZEN_CPR}").status_code == 404


def test_json_mailbox_for_tests(sandbox):
    fields = send(sandbox)
    mail = sandbox.mailbox(CITIZEN_CPR)
    assert any(m["messageUUID"] == fields["message_uuid"] and m["label"] == fields["subject"] for m in mail)
    response = sandbox.app.test_client().post("/sandbox/api/mailbox", json={"cpr": "nope"})
    assert response.status_code == 400


def test_client_logs_never_contain_the_cpr(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    send(sandbox)
    assert CITIZEN_CPR not in caplog.text and "010190-1234" not in caplog.text
