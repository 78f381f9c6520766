"""Every letter Postbud sends, composed once: valid against the official MeMo
schema, shown by the preview exactly as the citizen gets it, refused where it
is typed when Digital Post would refuse it, and sent to oneself as a test
letter that records nothing."""

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app import create_app
from conftest import CITIZEN_CPR
from digitalpost import build_memo
from extensions import db
from jobs.verification import verification_message
from models import Recipient, Response
from models.sharing import RoundKind, message_uuid
from models.sharing.letters import SUBJECT_LIMIT, compose, round_subject, verification_letter
from models.sharing.lifecycle import start_share
from models.sharing.recipients import add_one
from models.sharing.rows import ValidRow
from models.test_letters import TestLetter, letter_for, start_test_letter
from models.test_letters import TestLetterState as LetterState  # not a test class
from sandbox.memo_rules import check
from tests.fixtures.memo_schema import schema_errors
from tests.test_cpr_never_stored import assert_absent, database_text, redis_text
from tests.test_sharing import base, share_of, start_draft, survey, with_access  # noqa: F401
from tests.test_sharing import compose as compose_draft

OWN_CPR = "1503851234"  # the member's own, for test letters
EVERY_FIELD = "[FIRSTNAME] [LASTNAME] [FORNAVN] [EFTERNAVN] [AFDELING] [ROLLE]"
HOSTILE = "Æble, ø og å < & > \" ' ]]> 🎉 <![CDATA[x]]> &amp; <!-- -->"


@pytest.fixture
def share(survey, with_access):
    share = start_share(survey, with_access)
    db.session.flush()
    share.variables = ["AFDELING", "ROLLE"]
    add_one(share, ValidRow("Åse", "Ødegård", CITIZEN_CPR, "da", {"AFDELING": "Sundhed & Omsorg", "ROLLE": "<chef>"}))
    add_one(share, ValidRow("Bo", "Berg", "0202901234", "en", {"AFDELING": "IT ]]>", "ROLLE": "🎉"}))
    share.subject = f"Spørgeskema {HOSTILE} {EVERY_FIELD}"
    share.body = f"Kære [FIRSTNAME],\n\n{HOSTILE}\n{EVERY_FIELD}\n\tmed tab og linjeskift\r\n"
    english = {"subject": f"Survey {HOSTILE} {EVERY_FIELD}", "body": f"Dear [FIRSTNAME],\n\n{HOSTILE}\n{EVERY_FIELD}"}
    share.texts = {"invitation": {"en": english}}
    db.session.commit()
    return share


def memo_of(letter, cpr=CITIZEN_CPR) -> bytes:
    return build_memo(
        letter.message(
            message_uuid=message_uuid(7, 42),
            sender_cvr="13585628",
            recipient_cpr=cpr,
            created_at=datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=timezone.utc),
        )
    )


def recipients(share):
    return db.session.scalars(select(Recipient).where(Recipient.share_id == share.id).order_by(Recipient.id)).all()


@pytest.mark.parametrize("kind", list(RoundKind))
def test_every_round_letter_in_each_language_is_valid_memo(app, share, kind):
    for recipient in recipients(share):
        letter = compose(share, kind, recipient)
        xml = memo_of(letter)
        assert schema_errors(xml) == []
        read = check(xml, allow_loopback_http=True)
        assert read.label == letter.subject and read.documents[0].text == letter.body
        assert read.documents[0].language == recipient.language
        assert "[" not in letter.subject.replace("<![CDATA[x]]>", "")  # every merge field was filled in
    bo = recipients(share)[1]
    english = compose(share, kind, bo)
    assert english.actions[0].label == "Answer the survey" and "IT ]]>" in english.body and "🎉" in english.subject
    if kind == RoundKind.REMINDER:
        assert english.subject.startswith("Reminder: ")
        assert compose(share, kind, recipients(share)[0]).subject.startswith("Påmindelse: ")


@pytest.mark.parametrize("language", ["da", "en"])
def test_the_verification_letter_is_valid_memo(app, language):
    letter = verification_letter("Testkommune Æblø & <Søn>", "123456", 30, language)
    xml = memo_of(letter)
    assert schema_errors(xml) == [] and "123456" in check(xml).documents[0].text


def test_the_verification_job_sends_the_composed_letter(app, org, admin):
    from models.integration import DigitalPostIntegration

    integration = DigitalPostIntegration(org_id=org.id)
    integration.attempt_id = "attempt-1"
    integration.pending_sender_cvr = "13585628"
    integration.pending_started_by_id = admin.id
    integration.pending_started_at = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    db.session.add(integration)
    db.session.flush()
    message = verification_message(integration, CITIZEN_CPR, "654321")
    again = verification_message(integration, CITIZEN_CPR, "654321")
    assert message.message_uuid == again.message_uuid and uuid.UUID(message.message_uuid).version == 4
    assert schema_errors(build_memo(message)) == []
    db.session.rollback()


def test_each_recipient_gets_the_text_of_their_language_or_the_danish_one(app, share):
    """A text per language, and a reminder of its own: an English reader gets
    the English letter, and Danish, all of it, where there is no English."""
    from models.sharing.letters import LetterText, write_texts

    da, en = recipients(share)
    write_texts(
        share,
        {
            RoundKind.INVITATION: {
                "da": LetterText("Hvad mener du?", "Kære [FORNAVN]"),
                "en": LetterText("Your view?", "Dear [FIRSTNAME]"),
            },
            RoundKind.REMINDER: {"da": LetterText("Vi mangler dit svar", "Hej igen [FORNAVN]")},
        },
        {},
    )
    assert (compose(share, RoundKind.INVITATION, en).subject, compose(share, RoundKind.INVITATION, da).subject) == (
        "Your view?",
        "Hvad mener du?",
    )
    invitation = compose(share, RoundKind.INVITATION, en)
    assert invitation.body.startswith("Dear Bo") and invitation.actions[0].label == "Answer the survey"
    # No English reminder: Bo gets the Danish one, in Danish, not "Reminder: Your view?".
    reminder = compose(share, RoundKind.REMINDER, en)
    assert reminder.subject == "Vi mangler dit svar" and reminder.body.startswith("Hej igen Bo")
    assert reminder.language == "da" and reminder.actions[0].label == "Besvar spørgeskemaet"
    assert "Hvorfor du får dette brev" in reminder.body and "Why you get" not in reminder.body
    assert check(memo_of(reminder), allow_loopback_http=True).documents[0].language == "da"


def test_the_longest_subject_that_fits_is_valid_even_as_a_reminder(app, share):
    longest = "Ø" * (SUBJECT_LIMIT - len(round_subject(RoundKind.REMINDER, "", "da")))
    share.subject = longest
    for kind in RoundKind:
        letter = compose(share, kind, recipients(share)[0])
        assert len(letter.subject) <= SUBJECT_LIMIT and schema_errors(memo_of(letter)) == []
    assert len(compose(share, RoundKind.REMINDER, recipients(share)[0]).subject) == SUBJECT_LIMIT


def test_a_round_keeps_its_version_5_uuids_for_deliveries_that_may_have_been_sent(app):
    from digitalpost.memo import memo_uuid

    namespace = uuid.UUID("0b8f3f3e-2a51-4d3f-8a53-3f1c9a4d7e21")
    old = message_uuid(3, 9, version=5)
    new = message_uuid(3, 9)
    assert uuid.UUID(new).version == 4 and new == message_uuid(3, 9) != old
    # Another installation's round 3 and recipient 9 are other letters; the
    # default installation's UUIDs are those it has always sent.
    assert (old, new) == (str(uuid.uuid5(namespace, "postbud-test:3:9")), memo_uuid(namespace, "postbud-test:3:9"))
    app.config["INSTALLATION"] = "postbud"
    assert (message_uuid(3, 9, version=5), message_uuid(3, 9)) == (
        str(uuid.uuid5(namespace, "3:9")),
        memo_uuid(namespace, "3:9"),
    )


def test_the_migration_keeps_version_5_for_deliveries_that_left(tmp_path, redis_url):
    """A round in flight when version 4 UUIDs ship: deliveries a worker
    claimed or tried keep their UUID (a resend stays a replay); the rest
    never left and take version 4."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    app = create_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'm.sqlite'}", REDIS_URL=redis_url)
    with app.app_context():
        upgrade(revision="a7c9e1f3b5d6")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO delivery (round_id, recipient_id, state, attempts, claimed_by) VALUES "
                    "(1, 1, 'sent', 1, 'w1'), (1, 2, 'pending', 0, 'w1'), (1, 3, 'pending', 0, NULL)"
                )
            )
        upgrade()
        with db.engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT recipient_id, uuid_version FROM delivery ORDER BY 1")).all()
        assert [tuple(v) for v in versions] == [(1, 5), (2, 5), (3, 4)]
        db.engine.dispose()


# --- the preview --------------------------------------------------------------------


def preview(as_member, draft, **form):
    response = as_member.post(draft + "/preview", form, htmx=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_preview_shows_each_round_in_the_recipients_language(as_member, survey, with_access):
    draft, _ = compose_draft(as_member, survey, "Anne;Hansen;0101901234;da\nBo;Berg;0202901234;en")
    share = share_of(draft)
    anne, bo = recipients(share)
    form = {"subject": "Din mening, [FIRSTNAME]", "body": "Hej [FIRSTNAME] [LASTNAME]"}
    # Only Danish written: Bo, who reads English, gets the Danish letter, all of it.
    page = preview(as_member, draft, **form, preview_recipient=bo.id, preview_kind="reminder")
    assert "Påmindelse: Din mening, Bo" in page and "Hej Bo Berg" in page and "Besvar spørgeskemaet" in page
    form |= {"subject_en": "Your view, [FIRSTNAME]", "body_en": "Dear [FIRSTNAME] [LASTNAME]"}
    page = preview(as_member, draft, **form, preview_recipient=bo.id, preview_kind="reminder")
    assert "Reminder: Your view, Bo" in page and "Dear Bo Berg" in page and "Answer the survey" in page
    assert 'lang="en"' in page
    form |= {"reminder_subject_en": "Still time, [FIRSTNAME]", "reminder_body_en": "We miss your answer"}
    page = preview(as_member, draft, **form, preview_recipient=bo.id, preview_kind="reminder")
    assert "Still time, Bo" in page and "Reminder:" not in page and "We miss your answer" in page
    page = preview(as_member, draft, **form, preview_recipient=anne.id, preview_kind="invitation")
    assert "Din mening, Anne" in page and "Påmindelse: " not in page and "Besvar spørgeskemaet" in page
    page = preview(as_member, draft, **form, preview_recipient=anne.id, preview_kind="nonsense")
    assert "Din mening, Anne" in page  # an unknown kind is the invitation


# --- refused where it is typed --------------------------------------------------------


@pytest.mark.parametrize("char", ["\x07", "\x1b", "\x0b", "\x0c", "\x85"])
@pytest.mark.parametrize("where", ["subject", "body"])
def test_control_characters_are_refused_at_the_field(as_member, survey, with_access, char, where):
    draft = start_draft(as_member, survey)
    as_member.post(draft + "/recipients/paste", {"text": CITIZEN_CPR}, htmx=True)
    form = {"subject": "Emne", "body": "Tekst"}
    form[where] = f"Før{char}efter"
    response = as_member.post(draft + "/message", form, htmx=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "kontroltegn" in page
    assert re.search(rf'id="{where}-error"', page)
    assert share_of(draft).subject == ""  # nothing half-saved


def test_a_merge_value_with_a_control_character_is_refused_naming_row_and_column(
    as_member,
    survey,
    with_access,
):
    draft = start_draft(as_member, survey)
    text = "cpr;fornavn;afdeling\n0101901234;Anne;Sundhed\n0202901234;Bo;Sal\x07g\n0303901234;Carl\x1b;IT\n"
    page = as_member.post(draft + "/recipients/paste", {"text": text}, htmx=True).get_data(as_text=True)
    rows = re.findall(r"<tr><td>(\d+)</td><td class=\"wrap\">[^<]*</td><td class=\"wrap\">([^<]+)</td>", page)
    assert [(row, "kontroltegn" in reason) for row, reason in rows] == [("3", True), ("4", True)]
    assert (
        '<td class="wrap">Bo</td>' in page and "Carl\x1b" not in page
    )  # the name shown, unless it holds the character
    assert "kolonne AFDELING" in rows[0][1] and "kolonne Fornavn" in rows[1][1]


def test_a_subject_too_long_with_the_reminder_prefix_is_refused_naming_the_recipient(
    as_member,
    survey,
    with_access,
):
    draft = start_draft(as_member, survey)
    as_member.post(
        draft + "/recipients/paste", {"text": "cpr;fornavn\n0101901234;Bo\n0202901234;Maximiliane"}, htmx=True
    )
    subject = "x" * (SUBJECT_LIMIT - len("Påmindelse: ") - 2) + "[FORNAVN]"
    response = as_member.post(draft + "/message", {"subject": subject, "body": "Tekst"}, htmx=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Maximiliane" in page and "påmindelsen" in page
    assert 'id="subject-error"' in page and share_of(draft).subject == ""


def test_a_text_too_long_once_merged_is_refused(as_member, survey, with_access):
    draft = start_draft(as_member, survey)
    as_member.post(draft + "/recipients/paste", {"text": "cpr;note\n0101901234;" + "n" * 500}, htmx=True)
    body = "[NOTE] " * 1400  # under the 10,000 characters typed, over the letter's 20,000 merged
    response = as_member.post(draft + "/message", {"subject": "Emne", "body": body}, htmx=True)
    assert response.status_code == 422 and 'id="body-error"' in response.get_data(as_text=True)


# --- the test letter -----------------------------------------------------------------


ENGLISH = {"subject_en": "Wellbeing in [AFDELING]", "body_en": "Dear [FIRSTNAME] in [AFDELING]."}


def summary(as_member, survey, reminders=()):
    draft, schedule = compose_draft(
        as_member,
        survey,
        "fornavn;efternavn;cpr;sprog;afdeling\nAnne;Hansen;0101901234;en;Sundhed\nBo;Berg;0202901234;da;IT",
        subject="Trivsel i [AFDELING]",
        body="Kære [FORNAVN] i [AFDELING].",
        reminders=reminders,
        **ENGLISH,
    )
    return draft, schedule


def send_test_letter(as_member, draft, cpr=OWN_CPR, kind="invitation"):
    return as_member.post(draft + "/test-letter", {"cpr": cpr, "kind": kind}, htmx=True)


def test_a_test_letter_arrives_exactly_as_previewed_and_its_link_records_nothing(
    as_member,
    survey,
    with_access,
    sandbox,
    run_jobs,
    client,
    caplog,
):
    draft, schedule = summary(as_member, survey, reminders=[3])
    page = as_member.post(draft + "/schedule", schedule, htmx=True).get_data(as_text=True)
    assert "Send et testbrev til dig selv" in page and "Anne Hansen" in page

    response = send_test_letter(as_member, draft, cpr="150385-1234", kind="reminder")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "150385-****" in page and 'hx-trigger="every 1s"' in page
    assert OWN_CPR not in page and "150385-1234" not in page  # the field comes back empty
    run_jobs()
    row = db.session.scalar(select(TestLetter))
    status = as_member.get(draft + f"/test-letter/{row.id}", htmx=True)
    assert status.status_code == 286 and "er i Digital Post" in status.get_data(as_text=True)

    mail = sandbox.mailbox(OWN_CPR)
    assert len(mail) == 1
    db.session.refresh(row)
    letter = letter_for(row)
    preview_page = preview(
        as_member,
        draft,
        subject="Trivsel i [AFDELING]",
        body="Kære [FORNAVN] i [AFDELING].",
        **ENGLISH,
        preview_recipient=row.recipient_id,
        preview_kind="reminder",
    )
    assert (mail[0]["label"], mail[0]["text"]) == (letter.subject, letter.body)
    assert letter.subject == "Reminder: Wellbeing in Sundhed"
    assert letter.body.startswith("Dear Anne in Sundhed.\n\nWhy you get this letter\n")
    assert mail[0]["actions"][0]["label"] == letter.actions[0].label == "Answer the survey"
    # The preview shows the citizen's own "no thanks" link where the test letter has its preview link.
    for shown in (letter.subject, letter.body.rsplit("\n", 1)[0], letter.actions[0].label):
        assert shown in preview_page

    link = mail[0]["actions"][0]["url"]
    assert "/p/" in link
    path = link.split("127.0.0.1:5000", 1)[1]
    answer_page = client.get(path)
    text = answer_page.get_data(as_text=True)
    assert answer_page.status_code == 200 and "Preview from a test letter" in text  # Anne's language
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)
    questions = [q.id for q in survey.questions]
    done = client.post(path, data={"csrf_token": csrf, f"q{questions[0]}": "0", f"q{questions[1]}": "Fint"})
    assert done.status_code == 200 and db.session.scalar(select(func.count()).select_from(Response)) == 0
    assert (
        db.session.scalar(select(func.count()).select_from(Recipient).where(Recipient.responded_at.is_not(None))) == 0
    )

    # The status page counts nothing of it: the share has its two recipients only.
    confirm_response = as_member.post(draft + "/confirm", schedule, htmx=True)
    assert confirm_response.status_code == 204
    run_jobs()
    status_page = as_member.get(draft + "/").get_data(as_text=True)
    assert "150385" not in status_page
    assert sorted(len(sandbox.mailbox(c)) for c in ("0101901234", "0202901234")) == [1, 1]

    assert_absent(OWN_CPR, database_text(), "the database")
    assert_absent(OWN_CPR, redis_text(), "Redis")
    assert_absent(OWN_CPR, "\n".join(r.getMessage() for r in caplog.records), "the logs")


def test_a_test_letter_composed_again_later_is_the_same_letter_and_its_link_expires(
    share, with_access, client, monkeypatch
):
    """A retried job composes the test letter again, maybe seconds later: the
    gateway must get the same letter under its message UUID (a replay, not a
    conflict), so its preview link must not depend on the clock."""
    import time

    from models.test_letters import PREVIEW_LINK_DAYS

    row = start_test_letter(share, with_access.id, RoundKind.INVITATION, "150385-****")
    db.session.commit()
    first = letter_for(row)
    later = time.time() + 90
    monkeypatch.setattr(time, "time", lambda: later)
    assert letter_for(row) == first
    monkeypatch.undo()

    path = first.actions[0].url.split("127.0.0.1:5000", 1)[1]
    assert client.get(path).status_code == 200
    row.created_at = row.created_at - timedelta(days=PREVIEW_LINK_DAYS, minutes=1)
    db.session.commit()
    expired = letter_for(row).actions[0].url.split("127.0.0.1:5000", 1)[1]
    assert expired != path and client.get(expired).status_code == 404
    assert client.get(path[:-3] + "abc").status_code == 404  # a forged signature


def test_a_test_letter_with_a_bad_cpr_is_refused_at_the_field(as_member, survey, with_access):
    draft, _ = summary(as_member, survey)
    for cpr, words in (("", "Angiv CPR-nummeret"), ("12345", "10 cifre"), ("3102901234", "fødselsdato")):
        response = send_test_letter(as_member, draft, cpr=cpr)
        assert response.status_code == 422 and words in response.get_data(as_text=True), cpr
    assert db.session.scalar(select(func.count()).select_from(TestLetter)) == 0


def test_test_letters_are_limited_per_member_per_hour(as_member, survey, with_access, app):
    draft, _ = summary(as_member, survey)
    limit = app.config["TEST_LETTERS_PER_HOUR"]
    for _ in range(limit):
        assert send_test_letter(as_member, draft).status_code == 200
    response = send_test_letter(as_member, draft)
    assert response.status_code == 422 and "testbreve i timen" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(TestLetter)) == limit


def test_a_test_letter_that_the_gateway_refuses_says_why(as_member, survey, with_access, sandbox, run_jobs):
    from conftest import EXEMPT_CPR

    draft, _ = summary(as_member, survey)
    send_test_letter(as_member, draft, cpr=EXEMPT_CPR)
    run_jobs()
    row = db.session.scalar(select(TestLetter))
    page = as_member.get(draft + f"/test-letter/{row.id}", htmx=True).get_data(as_text=True)
    assert row.state == LetterState.FAILED and "fritaget for Digital Post" in page


def test_an_unsent_test_letter_gets_an_outcome_from_housekeeping(app, share):
    from datetime import timedelta

    from jobs.housekeeping import expire_stalled_verifications

    row = start_test_letter(share, share.membership_id, RoundKind.INVITATION, "150385-****")
    row.created_at = datetime.now(timezone.utc) - timedelta(hours=1)
    db.session.commit()
    expire_stalled_verifications()
    db.session.refresh(row)
    assert row.state == LetterState.FAILED and row.error_label


# --- links Digital Post takes ------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url,gateway,starts",
    [
        ("https://postbud.kommune.dk", "https://api.provider.dk", True),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5001", True),
        ("http://localhost:5000", "http://localhost:5001", True),
        ("http://postbud.kommune.dk", "https://api.provider.dk", False),
        ("http://127.0.0.1:5000", "https://api.provider.dk", False),  # a real gateway refuses the links
        ("postbud.kommune.dk", "https://api.provider.dk", False),
        ("https://postbud.kommune.dk/" + "x" * 220, "https://api.provider.dk", False),
    ],
)
def test_the_app_refuses_to_start_with_links_digital_post_would_refuse(base_url, gateway, starts, redis_url):
    def start():
        return create_app(PUBLIC_BASE_URL=base_url, DIGITAL_POST_API_URL=gateway, REDIS_URL=redis_url)

    if starts:
        start()
    else:
        with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL"):
            start()


def test_a_test_letter_with_the_queue_down_says_so_and_keeps_no_cpr(as_member, share, redis_down):
    response = as_member.post(f"{base(share.survey)}/{share.id}/test-letter", {"cpr": OWN_CPR}, htmx=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Køen svarede ikke, så intet blev sendt" in page
    assert 'id="cpr-error"' in page and OWN_CPR not in page and "150385-1234" not in page
    row = db.session.scalar(select(TestLetter))
    assert row.state == LetterState.FAILED and row.error == "unavailable"
    assert_absent(OWN_CPR, database_text(), "the database")


def test_the_merged_length_check_is_exact_at_the_limits(app, share):
    """first_oversized measures in SQL what compose() makes: at the limit
    passes, one character more is refused, for the right recipient and round."""
    from models.sharing.letters import LETTER_TEXT_MAX, LetterText, first_oversized, resolve_texts

    def texts(subject, body):  # the same text in both languages; the reminder repeats it
        return resolve_texts({RoundKind.INVITATION: {lang: LetterText(subject, body) for lang in ("da", "en")}})

    def letters(subject, body):
        written = texts(subject, body)
        return [compose(share, k, r, texts=written[k]) for k in RoundKind for r in (anne, bo)]

    anne, bo = recipients(share)  # Åse Ødegård (da), Bo Berg (en)
    longest = max(len(letter.subject) for letter in letters("[FORNAVN] [AFDELING] [ROLLE] [MANGLER]", "Tekst"))
    pad = SUBJECT_LIMIT - longest
    fits = "x" * pad + "[FORNAVN] [AFDELING] [ROLLE] [MANGLER]"
    assert first_oversized(share, texts(fits, "Tekst")) is None
    assert max(len(letter.subject) for letter in letters(fits, "Tekst")) == SUBJECT_LIMIT
    problem = first_oversized(share, texts("x" + fits, "Tekst"))
    assert problem is not None and problem.field == "subject" and problem.kind == RoundKind.REMINDER
    # The text: the merged message and the closing block (why this letter),
    # whose length depends on the language and the link.
    lengths = {
        r.first_name: len(
            compose(share, RoundKind.INVITATION, r, texts=texts("E", "[AFDELING]")[RoundKind.INVITATION]).body
        )
        for r in (anne, bo)
    }
    longest_name = max(lengths, key=lengths.get)
    body = "y" * (LETTER_TEXT_MAX - lengths[longest_name]) + "[AFDELING]"
    assert first_oversized(share, texts("Emne", body)) is None
    assert max(len(letter.body) for letter in letters("Emne", body)) == LETTER_TEXT_MAX
    problem = first_oversized(share, texts("Emne", body + "z"))
    assert problem.field == "body" and problem.recipient.startswith(longest_name)
    # A text goes only to its own language's readers: the long English one is
    # Bo's alone, and the long Danish one, with an English beside it, Åse's alone.
    long = body + "z" * 300
    problem = first_oversized(
        share, {RoundKind.INVITATION: {"da": LetterText("E", "Kort"), "en": LetterText("E", long)}}
    )
    assert (problem.language, problem.recipient) == ("en", "Bo Berg")
    problem = first_oversized(
        share, {RoundKind.INVITATION: {"da": LetterText("E", long), "en": LetterText("E", "Kort")}}
    )
    assert (problem.language, problem.recipient) == ("da", "Åse Ødegård")
