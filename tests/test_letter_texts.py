"""A letter per language and a reminder of its own, from a suggested first
text; and a round that has not started can change its time and text, checked
like the first schedule, recorded, and shown on the status page."""

import html
import re
from datetime import timedelta

from sqlalchemy import select

from conftest import scheduled_job_ids
from extensions import get_queue
from jobs.sending import send_round
from models import AuditEvent, ScheduledSend, db
from models.base import utcnow
from models.sharing.schedule import local
from tests.test_sharing import CPRS, base, confirm, share_of, start_draft, survey, with_access  # noqa: F401

LIST = "fornavn;efternavn;cpr;sprog\nAnne;Hansen;0101901234;da\nBo;Berg;0202901234;en"


def field_value(page: str, name: str) -> str:
    """What an input or a textarea of the page holds."""
    found = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page) or re.search(
        rf'<textarea[^>]*name="{name}"[^>]*>\r?\n?(.*?)</textarea>', page, re.S
    )
    return html.unescape(found.group(1)) if found else ""


def draft_with(as_member, survey, text=LIST):
    draft = start_draft(as_member, survey)
    response = as_member.post(draft + "/recipients/paste", {"text": text}, htmx=True)
    assert response.status_code == 200
    return draft


def test_the_message_step_starts_from_a_suggested_text_in_the_recipients_languages(as_member, survey, with_access):
    page = as_member.get(draft_with(as_member, survey, "fornavn;cpr\nAnne;0101901234") + "/message").get_data(
        as_text=True
    )
    assert field_value(page, "subject").startswith("Vil du svare på et spørgeskema fra")
    assert field_value(page, "body").startswith("Kære [FORNAVN]") and "Trivsel 2026" in field_value(page, "body")
    assert "Dine svar gemmes med dit navn" in field_value(page, "body")  # the survey is not anonymous
    assert field_value(page, "reminder_subject").startswith("Påmindelse: Vil du svare")
    assert "Vi har endnu ikke hørt fra dig" in field_value(page, "reminder_body")
    assert field_value(page, "subject_en") == ""  # nobody reads English: no English text
    assert '<details class="letter-text">' in page  # and its section stays closed

    # Someone reads English, and someone has no first name: English is
    # suggested too, and the greeting needs no first name.
    page = as_member.get(draft_with(as_member, survey, "cpr;sprog\n0101901234;en") + "/message").get_data(as_text=True)
    assert field_value(page, "subject_en").startswith("Will you answer a survey from")
    assert field_value(page, "body_en").startswith("Hello,") and "[FIRSTNAME]" not in field_value(page, "body_en")
    assert field_value(page, "body").startswith("Hej") and 'class="letter-text" open' in page


def test_each_text_is_checked_at_its_field_and_nothing_is_half_saved(as_member, survey, with_access):
    draft = draft_with(as_member, survey)
    for form, field, message in [
        ({"subject": "", "body": "Tekst"}, "subject", "Skriv invitationens emne."),
        ({"subject": "Emne", "body": "Tekst", "subject_en": "Survey"}, "body_en", "Skriv også beskeden"),
        ({"subject": "Emne", "body": "Tekst", "reminder_body": "Husk"}, "reminder_subject", "Skriv også emnet"),
        (
            {"subject": "Emne", "body": "Tekst", "reminder_subject_en": "Reminder", "reminder_body_en": "Do"},
            "reminder_subject",
            "Skriv også den danske påmindelse",
        ),
        ({"subject": "Emne", "body": "Tekst", "body_en": "Hi [MANGLER]", "subject_en": "S"}, "body_en", "[MANGLER]"),
        ({"subject": "Emne", "body": "Tekst", "subject_en": "Bip\x07", "body_en": "x"}, "subject_en", "kontroltegn"),
    ]:
        response = as_member.post(draft + "/message", form, htmx=True)
        page = response.get_data(as_text=True)
        assert response.status_code == 422, form
        error = re.search(rf'id="{field}-error">([^<]*)<', page)
        assert error and message in html.unescape(error.group(1)), (form, error and error.group(1))
        assert share_of(draft).subject == "" and not share_of(draft).texts


def test_each_recipient_gets_their_languages_text_and_the_reminder_its_own(
    as_member, survey, with_access, sandbox, run_jobs
):
    draft = draft_with(as_member, survey)
    texts = {
        "subject": "Hvordan går det, [FORNAVN]?",
        "body": "Kære [FORNAVN], svar gerne.",
        "subject_en": "How are you, [FIRSTNAME]?",
        "body_en": "Dear [FIRSTNAME], please answer.",
        "reminder_subject": "Vi mangler dit svar",
        "reminder_body": "Kære [FORNAVN], der er stadig tid.",
    }
    assert as_member.post(draft + "/message", texts, htmx=True).status_code == 200
    # Coming back to the step shows what was written, not the suggestion.
    page = as_member.get(draft + "/message").get_data(as_text=True)
    assert field_value(page, "subject_en") == "How are you, [FIRSTNAME]?"
    assert field_value(page, "reminder_subject_en") == ""
    schedule = {"when": "now", "reminders-0-mode": "days", "reminders-0-days": "3"}
    assert as_member.post(draft + "/schedule", schedule, htmx=True).status_code == 200
    confirm(as_member, draft, schedule)
    run_jobs()
    anne, bo = (sandbox.mailbox(c)[0] for c in CPRS[:2])
    assert (anne["label"], bo["label"]) == ("Hvordan går det, Anne?", "How are you, Bo?")
    first = {anne["messageUUID"], bo["messageUUID"]}
    assert bo["text"].startswith("Dear Bo, please answer.") and bo["actions"][0]["label"] == "Answer the survey"

    reminder = share_of(draft).rounds[1]
    assert set(reminder.texts) == {"da"}  # no English reminder was written
    db.session.execute(db.update(ScheduledSend).where(ScheduledSend.id == reminder.id).values(send_at=utcnow()))
    db.session.commit()
    get_queue().enqueue(send_round, reminder.id)
    run_jobs()
    # Bo gets the Danish reminder, all of it in Danish: never "Reminder: How are you".
    reminders = [next(m for m in sandbox.mailbox(c) if m["messageUUID"] not in first) for c in CPRS[:2]]
    assert [m["label"] for m in reminders] == ["Vi mangler dit svar", "Vi mangler dit svar"]
    assert reminders[1]["text"].startswith("Kære Bo, der er stadig tid.")
    assert reminders[1]["actions"][0]["label"] == "Besvar spørgeskemaet"


# --- changing what is scheduled ------------------------------------------------------


def scheduled_share(as_member, survey, reminders=(3,)):
    draft = draft_with(as_member, survey)
    as_member.post(draft + "/message", {"subject": "Emne", "body": "Tekst"}, htmx=True)
    when = local(utcnow() + timedelta(days=2)).replace(second=0, microsecond=0)
    schedule = {"when": "later", "date": when.strftime("%Y-%m-%d"), "time": when.strftime("%H:%M")}
    for i, days in enumerate(reminders):
        schedule.update({f"reminders-{i}-mode": "days", f"reminders-{i}-days": str(days)})
    confirm(as_member, draft, schedule)
    return draft


def change(as_member, draft, rnd, moment, **texts):
    form = {"date": moment.strftime("%Y-%m-%d"), "time": moment.strftime("%H:%M"), "subject": "Emne", "body": "Tekst"}
    return as_member.post(f"{draft}/rounds/{rnd.id}/edit", form | texts, htmx=True)


def error_at(response, field) -> str:
    found = re.search(rf'id="{field}-error">([^<]*)<', response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else ""


def test_a_round_that_has_not_started_changes_its_time_and_text_checked_and_recorded(
    as_member, survey, with_access, sandbox, run_jobs, app
):
    draft = scheduled_share(as_member, survey)
    invitation, reminder = share_of(draft).rounds
    status = as_member.get(draft + "/").get_data(as_text=True)
    assert status.count("Ændr tidspunkt eller tekst") == 2

    page = as_member.get(f"{draft}/rounds/{reminder.id}/edit").get_data(as_text=True)
    assert field_value(page, "subject") == "Påmindelse: Emne" and field_value(page, "body") == "Tekst"
    assert field_value(page, "time") == local(reminder.send_at).strftime("%H:%M")

    # Checked like the first schedule, each problem at its field; nothing changes.
    now = local(utcnow())
    before_invitation = local(invitation.send_at) - timedelta(hours=1)
    for moment, field, message in [
        (now - timedelta(hours=1), "time", "Tidspunktet er passeret"),
        (now + timedelta(days=400), "date", "inden for et år"),
        (before_invitation, "time", "efter invitationen"),
    ]:
        response = change(as_member, draft, reminder, moment)
        assert response.status_code == 422 and message in error_at(response, field), error_at(response, field)
    response = change(as_member, draft, invitation, local(reminder.send_at) + timedelta(hours=1))
    assert response.status_code == 422 and "før sine påmindelser" in error_at(response, "time")
    response = change(as_member, draft, reminder, local(reminder.send_at), subject="")
    assert response.status_code == 422 and "Skriv emnet" in error_at(response, "subject")
    assert share_of(draft).rounds[1].send_at == reminder.send_at
    old_job = get_queue().job_id(reminder.rq_job_id)
    assert old_job in scheduled_job_ids()

    # A new time and text: saved, re-queued at the new time, recorded, shown.
    later = local(reminder.send_at + timedelta(days=1)).replace(second=0, microsecond=0)
    response = change(
        as_member,
        draft,
        reminder,
        later,
        subject="Sidste chance, [FORNAVN]",
        body="Vi lukker snart.",
        subject_en="Last chance, [FIRSTNAME]",
        body_en="We close soon.",
    )
    assert response.status_code == 204 and response.headers["HX-Redirect"].endswith(draft + "/")
    changed = share_of(draft).rounds[1]
    assert local(changed.send_at) == later
    assert changed.texts == {
        "da": {"subject": "Sidste chance, [FORNAVN]", "body": "Vi lukker snart."},
        "en": {"subject": "Last chance, [FIRSTNAME]", "body": "We close soon."},
    }
    jobs = scheduled_job_ids()
    assert old_job not in jobs and get_queue().job_id(changed.rq_job_id) in jobs
    registry = get_queue().scheduled_job_registry
    assert (
        abs(
            registry.get_scheduled_time(get_queue().job_id(changed.rq_job_id)).timestamp() - changed.send_at.timestamp()
        )
        < 1
    )
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "share.round_changed"))
    assert event.details["texts"] is True and event.details["to_at"] == changed.send_at.isoformat()
    status = as_member.get(draft + "/").get_data(as_text=True)
    assert "Påmindelsen er ændret" in status and "Ændringer" in status
    assert "Ændrede en påmindelse af “Trivsel 2026”: tidspunktet" in html.unescape(status)

    # The text alone, from a form that shows the time to the minute: the time stays as it was.
    invitation_at = share_of(draft).rounds[0].send_at + timedelta(seconds=17)  # as one planned from "now"
    db.session.execute(db.update(ScheduledSend).where(ScheduledSend.id == invitation.id).values(send_at=invitation_at))
    db.session.commit()
    response = change(as_member, draft, invitation, local(invitation_at), subject="Ny invitation")
    assert response.status_code == 204 and share_of(draft).rounds[0].send_at == invitation_at
    text_only = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "share.round_changed").order_by(AuditEvent.id.desc()).limit(1)
    )
    assert text_only.details["to_at"] is None and text_only.details["texts"] is True

    # Saving the same again changes nothing and records nothing.
    same = change(
        as_member,
        draft,
        changed,
        later,
        subject="Sidste chance, [FORNAVN]",
        body="Vi lukker snart.",
        subject_en="Last chance, [FIRSTNAME]",
        body_en="We close soon.",
    )
    assert same.status_code == 204
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "share.round_changed")).all()) == 2

    # A job left from the old time does nothing; the round's own job sends the new text.
    assert send_round(changed.id) == "not due yet"
    assert sandbox.mailbox(CPRS[0]) == []
    invitation_now = db.update(ScheduledSend).where(ScheduledSend.id == invitation.id).values(send_at=utcnow())
    db.session.execute(invitation_now)
    db.session.execute(db.update(ScheduledSend).where(ScheduledSend.id == changed.id).values(send_at=utcnow()))
    db.session.commit()
    get_queue().enqueue(send_round, invitation.id)
    get_queue().enqueue(send_round, changed.id)
    run_jobs()
    assert sorted(m["label"] for m in sandbox.mailbox(CPRS[1])) == ["Last chance, Bo", "Ny invitation"]
    assert sorted(m["label"] for m in sandbox.mailbox(CPRS[0])) == ["Ny invitation", "Sidste chance, Anne"]

    # Sent: it can no longer change, and the status page offers nothing.
    response = change(as_member, draft, changed, later + timedelta(days=1))
    assert response.status_code == 204 and "HX-Redirect" in response.headers
    assert share_of(draft).rounds[1].send_at == changed.send_at
    assert "Ændr tidspunkt eller tekst" not in as_member.get(draft + "/").get_data(as_text=True)


def test_another_members_round_cannot_be_changed(as_member, survey, with_access, app, org, admin, make_user):
    from conftest import Session
    from models.access import grant_access, selection_of

    draft = scheduled_share(as_member, survey)
    reminder = share_of(draft).rounds[1]
    other = make_user(org, email="anden@example.dk")
    grant_access(org.id, admin.id, selection_of(other.membership_in(org.id).id))
    db.session.commit()
    as_other = Session(app.test_client())
    as_other.login(other)
    assert as_other.get(f"{draft}/rounds/{reminder.id}/edit").status_code == 404
    moment = local(reminder.send_at + timedelta(days=1))
    assert change(as_other, draft, reminder, moment).status_code == 404
    assert share_of(draft).rounds[1].send_at == reminder.send_at
    # Without the CSRF token, refused like every post.
    assert as_member.post(f"{draft}/rounds/{reminder.id}/edit", {}, csrf=False).status_code == 400
