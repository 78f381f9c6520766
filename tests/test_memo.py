"""MeMo 1.1 building and parsing: round trips, refusals, and no CPR in sight."""

import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digitalpost import Action, InvalidMessage, Message, build_memo, normalize_cpr, normalize_cvr, parse_memo
from digitalpost.identifiers import InvalidCPR, InvalidCVR, mask_cpr

CPR = "0101901234"


def make(**changes):
    fields = dict(
        message_uuid=str(uuid.uuid4()),
        subject="Emne",
        sender_cvr="13585628",
        sender_name="Testkommune",
        recipient_cpr=CPR,
        body="Tekst",
        created_at=datetime(2026, 11, 26, 10, 31, 35, tzinfo=timezone.utc),
    )
    fields.update(changes)
    return Message(**fields)


def test_hostile_text_survives_a_round_trip():
    hostile = "Ærø & <b>\"Søren\"</b> 'citat' ]]> <!-- x --> 🎉 &amp; \r\n linjer"
    msg = make(subject=hostile[:200], body=hostile, actions=(Action(hostile[:50], "https://x.dk/r/a?b=1&c=2"),))
    assert parse_memo(build_memo(msg)) == msg


def test_html_body_and_english_round_trip():
    msg = make(body="<p>Hello <em>you</em></p>", body_format="text/html", language="en")
    parsed = parse_memo(build_memo(msg))
    assert (parsed.body, parsed.body_format, parsed.language) == (msg.body, "text/html", "en")


def test_built_xml_has_the_contract_shape():
    xml = build_memo(make()).decode()
    for part in (
        'memoVersion="1.1"',
        "<memo:messageType>DIGITALPOST</memo:messageType>",
        "<memo:idType>CVR</memo:idType>",
        "<memo:recipientID>0101901234</memo:recipientID>",
        "<memo:createdDateTime>2026-11-26T10:31:35Z</memo:createdDateTime>",
    ):
        assert part in xml


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"subject": "x" * 256}, "subject"),
        ({"subject": "  "}, "subject"),
        ({"recipient_cpr": "3102901234"}, "recipient_cpr"),
        ({"recipient_cpr": "12345"}, "recipient_cpr"),
        ({"sender_cvr": "13585627"}, "sender_cvr"),
        ({"body": ""}, "body"),
        ({"language": "de"}, "language"),
        ({"actions": (Action("Svar", "javascript:alert(1)"),)}, "actions"),
    ],
)
def test_invalid_messages_are_refused_naming_the_field(changes, field):
    with pytest.raises(InvalidMessage) as caught:
        build_memo(make(**changes))
    assert caught.value.field == field
    assert "3102901234" not in str(caught.value) and "12345" not in str(caught.value)


def test_subject_of_exactly_255_characters_is_fine():
    assert parse_memo(build_memo(make(subject="å" * 255))).subject == "å" * 255


def test_parser_refuses_entities_and_names_what_is_missing():
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    with pytest.raises(InvalidMessage):
        parse_memo(evil)
    xml = build_memo(make()).replace(b"<memo:language>da</memo:language>", b"")
    with pytest.raises(InvalidMessage, match="File/language"):
        parse_memo(xml)


def test_cpr_never_appears_in_repr_or_errors():
    msg = make()
    assert CPR not in repr(msg) and "010190-****" in repr(msg)
    with pytest.raises(InvalidMessage) as caught:
        build_memo(make(body=""))
    assert CPR not in str(caught.value) and CPR not in repr(caught.value)


@pytest.mark.parametrize("text", ["0101901234", "010190-1234", "010190 1234", " 010190-1234 "])
def test_cpr_input_forms(text):
    assert normalize_cpr(text) == "0101901234"


@pytest.mark.parametrize(
    "text,reason",
    [
        ("01019012345", "format"),
        ("0101-901234", "format"),
        ("010190--1234", "format"),
        ("abcdefghij", "format"),
        ("", "format"),
        ("3102901234", "date"),
        ("0113901234", "date"),
    ],
)
def test_cpr_refusals(text, reason):
    with pytest.raises(InvalidCPR) as caught:
        normalize_cpr(text)
    assert caught.value.reason == reason
    if text.strip():
        assert text.strip() not in str(caught.value)  # the input is never echoed


def test_cvr_check_digit():
    assert normalize_cvr("13585628") == "13585628"
    with pytest.raises(InvalidCVR) as caught:
        normalize_cvr("13585627")
    assert caught.value.reason == "checksum"
    with pytest.raises(InvalidCVR):
        normalize_cvr("1358562")


def test_mask():
    assert mask_cpr("010190-1234") == "010190-****"


xml_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\ufffe\uffff",
    ),
    min_size=1,
)


@settings(max_examples=200, deadline=None)
@given(
    subject=xml_text.filter(lambda s: s.strip()).map(lambda s: s[:255]),
    body=st.text(min_size=1).filter(lambda s: s.strip()),
)
def test_any_unicode_subject_and_body_round_trip(subject, body):
    msg = make(subject=subject, body=body)
    assert parse_memo(build_memo(msg)) == msg


@settings(max_examples=50, deadline=None)
@given(subject=st.text(min_size=1).filter(lambda s: s.strip()))
def test_any_subject_is_either_sent_intact_or_refused_as_invalid(subject):
    try:
        xml = build_memo(make(subject=subject))
    except InvalidMessage as exc:
        assert exc.field == "subject"
    else:
        assert parse_memo(xml).subject == subject
