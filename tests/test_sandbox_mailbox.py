"""The sandbox's mailbox pages, as a developer (playing the citizen) uses them."""

import logging
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
    page = sandbox.app.test_client().get(f"/mailbox/{CITIZEN_CPR}").get_data(as_text=True)
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
    page = sandbox.app.test_client().get(f"/mailbox/{CITIZEN_CPR}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<b>Ond</b>" not in page
    assert '"onmouseover' not in page


def test_html_body_is_shown_as_its_text(sandbox):
    send(sandbox, body="<p>Kære borger, <strong>svar</strong> venligst</p>", body_format="text/html")
    page = sandbox.app.test_client().get(f"/mailbox/{CITIZEN_CPR}").get_data(as_text=True)
    assert "Kære borger, svar venligst" in page and "<strong>" not in page


def test_malformed_cpr_in_the_url_gets_a_clear_message(sandbox):
    client = sandbox.app.test_client()
    response = client.get("/mailbox/12345")
    assert response.status_code == 400
    assert "10 cifre" in response.get_data(as_text=True)
    response = client.get("/mailbox/3102901234")
    assert response.status_code == 400 and "ikke en rigtig dato" in response.get_data(as_text=True)


def test_mailbox_form_accepts_the_dashed_form_and_english(sandbox):
    client = sandbox.app.test_client()
    response = client.get("/mailbox?cpr=010190-1234")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/mailbox/{CITIZEN_CPR}")
    client.get("/language/en?next=/mailbox")
    assert "Open mailbox" in client.get("/mailbox").get_data(as_text=True)


def test_json_mailbox_for_tests(sandbox):
    fields = send(sandbox)
    mail = sandbox.mailbox(CITIZEN_CPR)
    assert any(m["messageUUID"] == fields["message_uuid"] and m["label"] == fields["subject"] for m in mail)
    assert sandbox.app.test_client().get("/sandbox/api/mailbox/nope").status_code == 400


def test_client_logs_never_contain_the_cpr(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    send(sandbox)
    assert CITIZEN_CPR not in caplog.text and "010190-1234" not in caplog.text
