"""MeMo 1.1 building: valid against the official schema, read back intact by
the sandbox, refusals that name the field, and no CPR in sight."""

import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digitalpost import Action, InvalidMessage, Message, build_memo, normalize_cpr, normalize_cvr
from digitalpost.identifiers import InvalidCPR, InvalidCVR, mask_cpr
from digitalpost.memo import memo_uuid, sanitize_filename, url_problem
from sandbox.memo_rules import MemoRefused, check
from tests.fixtures.memo_schema import schema_errors

CPR = "0101901234"


def parse_memo(xml: bytes) -> Message:
    """The message as the sandbox reads it back, after the official schema has passed it."""
    assert schema_errors(xml) == []
    letter = check(xml)
    document = letter.documents[0]
    return Message(
        message_uuid=letter.message_uuid,
        subject=letter.label,
        sender_cvr=letter.sender_cvr,
        sender_name=letter.sender_name,
        recipient_cpr=letter.recipient_cpr,
        body=document.text,
        body_format=document.encoding_format,
        language=document.language,
        actions=tuple(Action(a["label"], a["url"], a["actionCode"]) for a in letter.actions),
        created_at=datetime.fromisoformat(letter.created_at.replace("Z", "+00:00")),
    )


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
        ({"subject": "x" * 257}, "subject"),
        ({"subject": "  "}, "subject"),
        ({"recipient_cpr": "3102901234"}, "recipient_cpr"),
        ({"recipient_cpr": "12345"}, "recipient_cpr"),
        ({"sender_cvr": "13585627"}, "sender_cvr"),
        ({"body": ""}, "body"),
        ({"language": "de"}, "language"),
        ({"actions": (Action("Svar", "javascript:alert(1)"),)}, "actions"),
        ({"actions": (Action("Svar", "http://postbud.example/r/abc"),)}, "actions"),
        ({"actions": (Action("Svar", "http://127.0.0.1:5000/r/abc"),)}, "actions"),
        ({"actions": (Action("Svar", "/r/abc"),)}, "actions"),
        ({"actions": (Action("Svar", "https://x.dk/" + "a" * 244),)}, "actions"),
        ({"actions": (Action("Svar", "https://x.dk/r/a", code="SVAR"),)}, "actions"),
        ({"actions": (Action("x" * 257, "https://x.dk/r/a"),)}, "actions"),
        ({"message_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, "x"))}, "message_uuid"),
        ({"message_uuid": str(uuid.uuid1())}, "message_uuid"),
        ({"subject": "Hej\x07"}, "subject"),
        ({"body": "Hej\x1b[31m"}, "body"),
        ({"sender_name": "Kommune\x0c"}, "sender_name"),
        ({"created_at": datetime(2026, 11, 26, 10, 31, 35)}, "created_at"),
    ],
)
def test_invalid_messages_are_refused_naming_the_field(changes, field):
    with pytest.raises(InvalidMessage) as caught:
        build_memo(make(**changes))
    assert caught.value.field == field
    assert "3102901234" not in str(caught.value) and "12345" not in str(caught.value)


def test_labels_of_the_schemas_256_characters_are_fine():
    message = make(subject="å" * 256, actions=(Action("ø" * 256, "https://x.dk/r/a"),))
    assert parse_memo(build_memo(message)) == message


def test_a_longest_link_of_256_characters_is_fine():
    url = "https://x.dk/" + "a" * 243
    assert len(url) == 256 and url_problem(url) is None
    assert parse_memo(build_memo(make(actions=(Action("Svar", url),)))).actions[0].url == url


def test_http_to_a_loopback_host_only_where_the_caller_allows_it():
    for url in ("http://127.0.0.1:5000/r/a", "http://localhost/r/a", "http://[::1]:5000/r/a"):
        assert url_problem(url) is not None and url_problem(url, allow_loopback_http=True) is None
    assert url_problem("http://postbud.example/r/a", allow_loopback_http=True) is not None
    assert url_problem("http://127.0.0.1.evil.dk/r/a", allow_loopback_http=True) is not None


def test_message_uuids_are_deterministic_and_version_4():
    namespace = uuid.UUID("0b8f3f3e-2a51-4d3f-8a53-3f1c9a4d7e21")
    first, again, other = memo_uuid(namespace, "7:42"), memo_uuid(namespace, "7:42"), memo_uuid(namespace, "7:43")
    assert first == again != other
    assert uuid.UUID(first).version == 4 and uuid.UUID(first).variant == uuid.RFC_4122


def test_file_names_are_sanitized_as_ngdp_does():
    assert sanitize_filename('Svar <på> "dit":/\\|?*skema.txt') == "Svar på ditskema.txt"
    built = build_memo(make(filename="a/b:c.txt"))
    assert b"<memo:filename>abc.txt</memo:filename>" in built and schema_errors(built) == []
    assert b"<memo:filename>besked.txt</memo:filename>" in build_memo(make(filename="<>"))


def test_the_reader_refuses_entities_and_names_what_is_missing():
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    with pytest.raises(MemoRefused):
        check(evil)
    xml = build_memo(make()).replace(b"<memo:language>da</memo:language>", b"")
    with pytest.raises(MemoRefused, match="language"):
        check(xml)


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


# Text a letter can carry: any Unicode but control characters (tab, LF, CR
# allowed), surrogates and the two non-characters XML refuses.
letter_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff", whitelist_characters="\t\n\r"
    ),
    min_size=1,
)


@settings(max_examples=200, deadline=None)
@given(
    subject=letter_text.filter(lambda s: s.strip()).map(lambda s: s[:256]),
    body=letter_text.filter(lambda s: s.strip()),
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
