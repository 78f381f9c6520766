"""Sharing a survey through Digital Post, end to end over HTTP: the member's
steps with HTMX headers, a real rq worker, the real sandbox gateway, and the
answer pages that the links in the mail open."""

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conftest import CITIZEN_CPR, EXEMPT_CPR, UNKNOWN_CPR
from extensions import get_queue
from jobs.sending import send_round
from models import Delivery, Recipient, RecipientCpr, ScheduledSend, Share, Survey, db
from models.access import grant_access, selection_of
from models.base import utcnow
from models.sharing import CancelReason
from models.sharing.schedule import local
from models.survey import QuestionKind, SurveyState, add_question

CPRS = ["0101901234", "0202901234", "0303901234"]


@pytest.fixture
def survey(org, member):
    survey = Survey(
        org_id=org.id,
        owner_id=member.id,
        title="Trivsel 2026",
        introduction="Hvordan går det?",
        anonymous=False,
        state=SurveyState.OPEN,
    )
    db.session.add(survey)
    add_question(survey, QuestionKind.SINGLE_CHOICE, "Hvor tilfreds er du?", ["Meget", "Lidt", "Ikke"])
    add_question(survey, QuestionKind.FREE_TEXT, "Hvad kan blive bedre?", [])
    db.session.commit()
    return survey


@pytest.fixture
def with_access(org, admin, member, active_integration):
    membership = member.membership_in(org.id)
    grant_access(org.id, admin.id, selection_of(membership.id))
    db.session.commit()
    return membership


def base(survey):
    return f"/orgs/{survey.org_id}/surveys/{survey.id}/digital-post"


def start_draft(as_member, survey) -> str:
    response = as_member.post(base(survey) + "/")
    assert response.status_code == 303
    match = re.search(r"/digital-post/(\d+)/recipients", response.headers["Location"])
    return f"{base(survey)}/{match.group(1)}"


ENGLISH = {"subject_en": "A survey on wellbeing", "body_en": "Dear [FIRSTNAME], please answer."}


def compose(
    as_member,
    survey,
    text,
    subject="Spørgeskema om trivsel",
    body="Kære [FIRSTNAME], svar gerne.",
    reminders=(),
    **texts,
):
    """Recipients pasted, message written (texts: the message step's other
    fields), schedule checked; returns the draft URL and the schedule data."""
    draft = start_draft(as_member, survey)
    response = as_member.post(draft + "/recipients/paste", {"text": text}, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    response = as_member.post(draft + "/message", {"subject": subject, "body": body, **texts}, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    schedule = {"when": "now"}
    for i, days in enumerate(reminders):
        schedule.update({f"reminders-{i}-mode": "days", f"reminders-{i}-days": str(days)})
    response = as_member.post(draft + "/schedule", schedule, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Send invitationer" in response.get_data(as_text=True)
    return draft, schedule


def confirm(as_member, draft, schedule):
    response = as_member.post(draft + "/confirm", schedule, htmx=True)
    assert response.status_code == 204, response.get_data(as_text=True)
    assert response.headers["HX-Redirect"].endswith(draft.split("/digital-post")[1] + "/")
    return response


def share_of(draft) -> Share:
    db.session.expire_all()
    return db.session.get(Share, int(draft.rsplit("/", 1)[1]))


def test_member_sends_invitations_and_a_reminder_skips_who_answered(
    as_member, survey, with_access, sandbox, run_jobs, client
):
    text = (
        "firstname;lastname;cpr;language\nAnne;Hansen;010190-1234;da\nBo;Berg;0202901234;en\nCarl;Dahl;0303901234;da\n"
    )
    draft, schedule = compose(as_member, survey, text, reminders=[3], **ENGLISH)
    share = share_of(draft)
    assert share.is_draft and db.session.scalar(select(func.count()).select_from(ScheduledSend)) == 0

    confirm(as_member, draft, schedule)
    share = share_of(draft)
    assert [(r.kind, r.state) for r in share.rounds] == [("invitation", "scheduled"), ("reminder", "scheduled")]
    assert share.rounds[1].send_at - share.rounds[0].send_at >= timedelta(days=3) - timedelta(hours=1)

    run_jobs()
    mails = {cpr: sandbox.mailbox(cpr) for cpr in CPRS}
    assert all(len(m) == 1 for m in mails.values()), mails
    anne = mails[CPRS[0]][0]
    assert anne["label"] == "Spørgeskema om trivsel" and anne["text"].startswith("Kære Anne, svar gerne.\n\n")
    assert anne["senderCVR"] == "13585628"
    bo = mails[CPRS[1]][0]
    assert bo["actions"][0]["label"] == "Answer the survey"
    link = anne["actions"][0]["url"]
    token = link.rsplit("/r/", 1)[1]

    # Anne answers through her link; Bo declines through his.
    page = client.get(f"/r/{token}")
    assert page.status_code == 200 and "Hvor tilfreds er du?" in page.get_data(as_text=True)
    question_ids = [q.id for q in survey.questions]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    answered = client.post(
        f"/r/{token}", data={"csrf_token": csrf, f"q{question_ids[0]}": "0", f"q{question_ids[1]}": "Mere kaffe"}
    )
    assert "Tak" in answered.get_data(as_text=True)
    again = client.post(f"/r/{token}", data={"csrf_token": csrf, f"q{question_ids[0]}": "2"})
    assert again.status_code == 200 and "allerede" in again.get_data(as_text=True)
    bo_token = bo["actions"][0]["url"].rsplit("/r/", 1)[1]
    bo_page = client.get(f"/r/{bo_token}")
    assert "No thanks, I do not want to take part" in bo_page.get_data(as_text=True)  # in Bo's language
    client.post(f"/r/{bo_token}/decline", data={"csrf_token": csrf})

    # The reminder's time comes: only Carl gets it.
    reminder = share_of(draft).rounds[1]
    db.session.execute(db.update(ScheduledSend).where(ScheduledSend.id == reminder.id).values(send_at=utcnow()))
    db.session.commit()
    get_queue().enqueue(send_round, reminder.id)
    run_jobs()
    assert [len(sandbox.mailbox(c)) for c in CPRS] == [1, 1, 2]
    assert sorted(m["label"] for m in sandbox.mailbox(CPRS[2])) == [
        "Påmindelse: Spørgeskema om trivsel",
        "Spørgeskema om trivsel",
    ]

    share = share_of(draft)
    assert [r.state for r in share.rounds] == ["done", "done"]
    states = dict(db.session.execute(select(Recipient.first_name, Recipient.state)).all())
    assert states == {"Anne": "responded", "Bo": "declined", "Carl": "delivered"}
    # Nothing more is pending: the CPRs are deleted, and the status page says so.
    assert db.session.scalar(select(func.count()).select_from(RecipientCpr)) == 0
    status = as_member.get(draft + "/").get_data(as_text=True)
    assert "CPR-numre blev slettet" in status
    assert "1 af 3 har svaret (33 %)" in status  # Anne of the three invited
    # Not exclusive: Anne answered and Bo declined, and all three letters reached the mailbox.
    tiles = dict(re.findall(r'count-(\w+)"><span class="count-n">(\d+)<', status))
    assert {k: tiles[k] for k in ("invited", "delivered", "responded", "declined", "failed")} == {
        "invited": "3",
        "delivered": "3",
        "responded": "1",
        "declined": "1",
        "failed": "0",
    }
    # Every letter has its receipt: no look is left, and the page stops polling…
    assert [r.check_at for r in share.rounds] == [None, None]
    look = as_member.get(draft + "/counts", htmx=True)
    assert look.status_code == 286 and json.loads(look.headers["HX-Trigger"]) == {"recipientsChanged": True}
    # … which it goes on with while a look is due within the minute.
    db.session.execute(db.update(ScheduledSend).values(check_at=utcnow() + timedelta(seconds=30)))
    db.session.commit()
    assert as_member.get(draft + "/counts", htmx=True).status_code == 200
    assert "010190-****" in status and "0101901234" not in status
    # Not anonymous: the answer is linked to Anne; the responses page counts it.
    results = as_member.get(f"/orgs/{survey.org_id}/surveys/{survey.id}/responses").get_data(as_text=True)
    assert "Mere kaffe" in results


def test_a_round_run_twice_delivers_once(as_member, survey, with_access, sandbox, run_jobs, active_integration):
    """A message the gateway has already (an earlier run that died before it
    recorded the answer) is replayed, not delivered again; and a second job
    for the same round finds nothing to do."""
    from conftest import SANDBOX_KEY
    from digitalpost import DigitalPostClient
    from jobs.sending import round_message

    draft, schedule = compose(as_member, survey, "\n".join(CPRS))
    confirm(as_member, draft, schedule)
    invitation = share_of(draft).rounds[0]
    first = db.session.scalars(select(Recipient).order_by(Recipient.id)).first()
    with DigitalPostClient(sandbox.url, SANDBOX_KEY) as gateway:
        gateway.send(round_message(invitation, first, CPRS[0], "13585628"))
    get_queue().enqueue(send_round, invitation.id)  # a second job for the same round
    run_jobs()
    assert [len(sandbox.mailbox(c)) for c in CPRS] == [1, 1, 1]
    assert db.session.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == "sent")) == 3
    assert share_of(draft).rounds[0].state == "done"


def test_permanent_errors_are_recorded_per_recipient(as_member, survey, with_access, sandbox, run_jobs):
    from jobs.worker import AppWorker

    draft, schedule = compose(as_member, survey, "\n".join([CITIZEN_CPR, EXEMPT_CPR, UNKNOWN_CPR]))
    confirm(as_member, draft, schedule)
    run_jobs(AppWorker)  # forking, as `flask worker` runs it
    errors = dict(db.session.execute(select(Recipient.cpr_masked, Recipient.error)).all())
    assert errors == {"010190-****": None, "020280-****": "recipient_exempt", "030370-****": "recipient_not_found"}
    page = as_member.get(draft + "/").get_data(as_text=True)
    assert "fritaget for Digital Post" in page and "kendes ikke af Digital Post" in page


def test_transient_errors_are_retried(as_member, survey, with_access, sandbox, run_jobs, app):
    app.config["SEND_RETRY_DELAYS"] = [0]
    sandbox.configure(SANDBOX_FAIL_RATE=0.5)
    many = [f"{d:02d}0190{1000 + d}" for d in range(1, 21)]
    draft, schedule = compose(as_member, survey, "\n".join(many))
    confirm(as_member, draft, schedule)
    run_jobs()
    sandbox.configure(SANDBOX_FAIL_RATE=0.0)
    delivered = [len(sandbox.mailbox(c)) for c in many]
    rows = db.session.execute(select(Delivery.state, Delivery.attempts).order_by(Delivery.recipient_id)).all()
    # Each one is delivered once, or failed after all its tries and says so: never twice.
    assert all(n <= 1 for n in delivered)
    assert [state for state, _ in rows] == ["sent" if n else "failed" for n in delivered]
    # Half the first tries fail, so retries happened (one in a million runs has none).
    assert sum(attempts for _, attempts in rows) > len(rows)


@pytest.mark.parametrize("cause", ["revoke", "deactivate", "member", "close"])
def test_every_cause_cancels_what_is_scheduled(
    cause, as_member, survey, with_access, sandbox, run_jobs, admin, org, client
):
    from conftest import scheduled_job_ids
    from models import DigitalPostIntegration
    from models.access import revoke_access, selection_of
    from models.sharing.lifecycle import cancel_scheduled_sends

    draft = start_draft(as_member, survey)
    as_member.post(draft + "/recipients/paste", {"text": "\n".join(CPRS)}, htmx=True)
    as_member.post(draft + "/message", {"subject": "Emne", "body": "Tekst"}, htmx=True)
    when = local(utcnow() + timedelta(days=2))
    schedule = {
        "when": "later",
        "date": when.strftime("%Y-%m-%d"),
        "time": when.strftime("%H:%M"),
        "reminders-0-mode": "days",
        "reminders-0-days": "2",
    }
    confirm(as_member, draft, schedule)
    assert len(scheduled_job_ids()) == 2
    if cause == "member":
        dialog = as_member.get(draft + "/cancel", htmx=True).get_data(as_text=True)
        assert "Påmindelse" in dialog
        response = as_member.post(draft + "/cancel", htmx=True)
        assert response.status_code == 200
        reason = CancelReason.CANCELLED_BY_MEMBER
    elif cause == "close":
        as_member.post(f"/orgs/{org.id}/surveys/{survey.id}/close")
        reason = CancelReason.SURVEY_CLOSED
    elif cause == "revoke":
        revoke_access(org.id, admin.id, selection_of(with_access.id))
        db.session.commit()
        reason = CancelReason.ACCESS_REVOKED
    else:
        DigitalPostIntegration.find(org.id).deactivate(admin.id)
        cancel_scheduled_sends(org.id, CancelReason.INTEGRATION_DEACTIVATED)
        db.session.commit()
        reason = CancelReason.INTEGRATION_DEACTIVATED
    share = share_of(draft)
    assert [(r.state, r.cancel_reason) for r in share.rounds] == [("cancelled", reason)] * 2
    assert scheduled_job_ids() == set()
    assert share.cprs_deleted_at is not None
    page = as_member.get(draft + "/").get_data(as_text=True)
    assert reason.label in page  # in Danish, the member's language
    run_jobs()
    assert all(sandbox.mailbox(c) == [] for c in CPRS)


def test_the_worker_cancels_a_round_when_access_went_before_it_ran(
    as_member, survey, with_access, sandbox, run_jobs, admin, org
):
    draft, schedule = compose(as_member, survey, "\n".join(CPRS))
    confirm(as_member, draft, schedule)
    # Access is removed behind the job's back (the row gone, the job still queued).
    db.session.execute(db.delete(db.metadata.tables["access_block"]))
    db.session.commit()
    run_jobs()
    share = share_of(draft)
    assert (share.rounds[0].state, share.rounds[0].cancel_reason) == ("cancelled", "no_access")
    assert all(sandbox.mailbox(c) == [] for c in CPRS)


def test_without_access_the_card_is_greyed_and_the_flow_refused(as_member, survey, active_integration):
    page = as_member.get(f"/orgs/{survey.org_id}/surveys/{survey.id}/share").get_data(as_text=True)
    assert 'aria-disabled="true"' in page and "administrator" in page
    assert "Send via Digital Post" not in page
    assert as_member.post(base(survey) + "/").status_code == 403


def test_the_link_option_shows_the_anonymous_link(as_member, survey, client):
    page = as_member.get(f"/orgs/{survey.org_id}/surveys/{survey.id}/share").get_data(as_text=True)
    assert f"/s/{survey.public_token}" in page
    anonymous = client.get(f"/s/{survey.public_token}?lang=en").get_data(as_text=True)
    assert "Submit" in anonymous and "No thanks" not in anonymous
    # The survey links answers to recipients, but through its own link nobody is known.
    assert "Your answers are anonymous." in anonymous
    share = Share(org_id=survey.org_id, survey_id=survey.id, state="confirmed")
    db.session.add(share)
    db.session.flush()
    db.session.add(
        Recipient(share_id=share.id, cpr_hmac="x" * 64, cpr_masked="010190-****", token="personal-token", language="da")
    )
    db.session.commit()
    personal = client.get("/r/personal-token").get_data(as_text=True)
    assert "Dine svar kobles til dig." in personal


def test_another_members_share_and_survey_are_not_found(as_member, survey, with_access, make_user, org, app):
    from conftest import Session

    draft = start_draft(as_member, survey)
    other = make_user(org)
    s = Session(app.test_client())
    s.login(other)
    assert s.get(draft + "/recipients").status_code == 404
    assert s.get(f"/orgs/{org.id}/surveys/{survey.id}/").status_code == 404


def test_unknown_merge_field_is_an_error_at_the_field(as_member, survey, with_access):
    draft = start_draft(as_member, survey)
    as_member.post(draft + "/recipients/paste", {"text": CITIZEN_CPR}, htmx=True)
    response = as_member.post(draft + "/message", {"subject": "Hej", "body": "Kære [FORNAVN] fra [KOMMUNE]"}, htmx=True)
    assert response.status_code == 422
    assert "[KOMMUNE]" in response.get_data(as_text=True)
    assert share_of(draft).body == ""


def test_a_double_clicked_confirm_schedules_once(as_member, survey, with_access):
    draft, schedule = compose(as_member, survey, CITIZEN_CPR)
    confirm(as_member, draft, schedule)
    confirm(as_member, draft, schedule)
    assert db.session.scalar(select(func.count()).select_from(ScheduledSend)) == 1


def test_a_message_the_gateway_has_with_other_content_counts_as_sent(
    as_member, survey, with_access, sandbox, run_jobs, app
):
    """The same messageUUID sent before with other content (here: another
    PUBLIC_BASE_URL in its link) is a 409: that citizen has the message once."""
    from dataclasses import replace

    from conftest import SANDBOX_KEY
    from digitalpost import DigitalPostClient
    from jobs.sending import round_message

    draft, schedule = compose(as_member, survey, CITIZEN_CPR)
    confirm(as_member, draft, schedule)
    invitation = share_of(draft).rounds[0]
    recipient = db.session.scalar(select(Recipient))
    earlier = round_message(invitation, recipient, CITIZEN_CPR, "13585628")
    with DigitalPostClient(sandbox.url, SANDBOX_KEY) as gateway:
        gateway.send(replace(earlier, body="an older text"))
    run_jobs()
    assert len(sandbox.mailbox(CITIZEN_CPR)) == 1
    assert db.session.scalar(select(Recipient.state)) == "delivered"


@pytest.mark.parametrize("app", [{"DELIVERY_CHECK_DELAYS": [0, 3600]}], indirect=True)
def test_delivery_is_read_back_from_the_gateway(as_member, survey, with_access, sandbox, run_jobs, app):
    """Sent means accepted; delivered once the gateway says the message is in
    the mailbox. Until then the recipient stays sent, the round's row holds
    its next look, and looks stop when the configured intervals run out."""
    sandbox.configure(SANDBOX_DELIVERY_DELAY_MS=3_600_000)  # delivered in an hour
    draft, schedule = compose(as_member, survey, "\n".join(CPRS[:2]))
    confirm(as_member, draft, schedule)
    run_jobs()
    assert db.session.scalars(select(Recipient.state)).all() == ["sent", "sent"]
    assert db.session.scalar(select(func.count()).where(Delivery.delivered_at.is_not(None))) == 0

    from jobs.delivery_status import check_deliveries

    invitation = share_of(draft).rounds[0]
    assert invitation.checks == 1  # the first look found both waiting
    assert timedelta(minutes=59) < invitation.check_at - utcnow() <= timedelta(hours=1)
    assert check_deliveries(invitation.id, attempt=1) == "not due yet"
    with sandbox.app.app_context():  # the hour has passed
        from sandbox.models import DeliveredMessage
        from sandbox.models import db as sandbox_db

        sandbox_db.session.execute(sandbox_db.update(DeliveredMessage).values(delivery_delay_ms=0))
        sandbox_db.session.commit()
    db.session.execute(db.update(ScheduledSend).values(check_at=utcnow()))
    db.session.commit()
    assert check_deliveries(invitation.id, attempt=0).startswith("nothing to do")  # an old look's job
    assert check_deliveries(invitation.id, attempt=1).startswith("delivered 2, failed 0, waiting 0")
    db.session.expire_all()
    assert db.session.scalars(select(Recipient.state)).all() == ["delivered", "delivered"]
    assert db.session.get(ScheduledSend, invitation.id).check_at is None  # the last look
    page = as_member.get(draft + "/").get_data(as_text=True)
    assert "Leveret" in page


def test_rounds_due_later_and_now_enqueue_together_in_either_order(as_member, survey, with_access, app):
    from jobs.sending import enqueue_rounds

    draft, schedule = compose(as_member, survey, "\n".join(CPRS), reminders=[3])
    confirm(as_member, draft, schedule)
    invitation, reminder = share_of(draft).rounds
    get_queue().empty()
    queue = get_queue()
    queue.scheduled_job_registry.remove(queue.job_id(reminder.job_id))
    enqueue_rounds([reminder, invitation])  # a scheduled one first, then one due now
    assert queue.job_ids == [queue.job_id(invitation.job_id)]
    assert queue.scheduled_job_registry.get_job_ids() == [queue.job_id(reminder.job_id)]


def test_rounds_whose_jobs_redis_lost_are_sent_once_by_the_workers_housekeeping(
    as_member, survey, with_access, sandbox, run_jobs, app
):
    from extensions import get_redis
    from jobs.housekeeping import lock_key
    from jobs.worker import AppWorker

    draft, schedule = compose(as_member, survey, "\n".join(CPRS), reminders=[3])
    confirm(as_member, draft, schedule)
    get_redis(app).flushdb()  # Redis restarted empty: the invitation's and the reminder's jobs are gone
    run_jobs(AppWorker)
    assert [len(sandbox.mailbox(c)) for c in CPRS] == [1, 1, 1]
    rounds = share_of(draft).rounds
    assert [r.state for r in rounds] == ["done", "scheduled"]
    queue = get_queue()
    assert queue.scheduled_job_registry.get_job_ids() == [queue.job_id(rounds[1].job_id)]  # the reminder is back
    get_redis(app).delete(lock_key())  # the next interval
    run_jobs(AppWorker)
    assert [len(sandbox.mailbox(c)) for c in CPRS] == [1, 1, 1]
    assert len(get_queue().scheduled_job_registry.get_job_ids()) == 1


def test_the_member_cancels_one_reminder_and_the_rest_goes_as_planned(
    as_member, survey, with_access, sandbox, run_jobs, org, make_org
):
    from conftest import scheduled_job_ids
    from extensions import get_queue
    from models.sharing import RoundKind

    draft = start_draft(as_member, survey)
    as_member.post(draft + "/recipients/paste", {"text": "\n".join(CPRS)}, htmx=True)
    as_member.post(draft + "/message", {"subject": "Emne", "body": "Tekst"}, htmx=True)
    when = local(utcnow() + timedelta(days=2))
    schedule = {"when": "later", "date": when.strftime("%Y-%m-%d"), "time": when.strftime("%H:%M")}
    for i, days in enumerate((3, 7)):
        schedule.update({f"reminders-{i}-mode": "days", f"reminders-{i}-days": str(days)})
    confirm(as_member, draft, schedule)
    share = share_of(draft)
    invitation, first, second = share.rounds
    assert len(scheduled_job_ids()) == 3
    page = as_member.get(draft + "/").get_data(as_text=True)
    assert page.count("Annullér denne påmindelse") == 2  # one per reminder, none for the invitation

    response = as_member.post(f"{draft}/rounds/{first.id}/cancel", htmx=True)
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"])["showMessage"]["text"].startswith("Påmindelsen er annulleret")
    share = share_of(draft)
    assert [(r.kind, r.state) for r in share.rounds] == [
        (RoundKind.INVITATION, "scheduled"),
        (RoundKind.REMINDER, "cancelled"),
        (RoundKind.REMINDER, "scheduled"),
    ]
    assert share.rounds[1].cancel_reason == CancelReason.CANCELLED_BY_MEMBER
    assert scheduled_job_ids() == {get_queue().job_id(r.rq_job_id) for r in (invitation, second)}
    assert share.cprs_deleted_at is None  # the rest still needs them
    fragment = response.get_data(as_text=True)
    assert fragment.count("Annullér denne påmindelse") == 1 and "du annullerede det" in fragment

    # Again (a double click), the invitation, and another share's reminder: nothing changes.
    again = as_member.post(f"{draft}/rounds/{first.id}/cancel", htmx=True)
    assert "ikke længere planlagt" in json.loads(again.headers["HX-Trigger"])["showMessage"]["text"]
    as_member.post(f"{draft}/rounds/{invitation.id}/cancel", htmx=True)
    other_draft = start_draft(as_member, survey)
    as_member.post(other_draft + "/recipients/paste", {"text": CPRS[0]}, htmx=True)
    as_member.post(other_draft + "/message", {"subject": "Emne", "body": "Tekst"}, htmx=True)
    confirm(as_member, other_draft, schedule)
    other = share_of(other_draft)
    as_member.post(f"{draft}/rounds/{other.rounds[1].id}/cancel", htmx=True)
    assert [r.state for r in share_of(draft).rounds] == ["scheduled", "cancelled", "scheduled"]
    assert [r.state for r in share_of(other_draft).rounds] == ["scheduled"] * 3
    # Without the HTMX header or the CSRF token, it is refused like every post.
    assert as_member.post(f"{draft}/rounds/{second.id}/cancel", csrf=False).status_code == 400


def test_a_merge_field_a_recipient_lacks_reads_as_its_fallback_never_as_the_field(
    as_member, survey, with_access, sandbox, run_jobs
):
    """[AFDELING] is empty for Bo and Carl has no first name: the message
    step says how many lack each field and takes a text for each; the letters
    carry the values, the fallback or nothing, and never a literal [FIELD]."""
    draft = start_draft(as_member, survey)
    text = "fornavn;cpr;afdeling\nAnne;0101901234;Nord\nBo;0202901234;\n;0303901234;Syd\n"
    assert as_member.post(draft + "/recipients/paste", {"text": text}, htmx=True).status_code == 200
    subject, body = "Trivsel i [AFDELING]", "Kære [FORNAVN], hvordan går det i [AFDELING]?"
    step = as_member.get(draft + "/message", htmx=True).get_data(as_text=True)
    assert "merge-gaps" in step and "modtager mangler" not in step  # no message yet: no field used

    # The preview tells which fields some recipients lack, once they are used.
    preview = as_member.post(draft + "/preview", {"subject": subject, "body": body, "gap_fields": ""}, htmx=True)
    gaps = preview.get_data(as_text=True)
    assert 'id="merge-gaps" hx-swap-oob="true"' in gaps
    assert "1 modtager har ingen værdi for [AFDELING]" in gaps and "1 modtager har ingen værdi for [FORNAVN]" in gaps
    same = as_member.post(
        draft + "/preview", {"subject": subject, "body": body, "gap_fields": "AFDELING,FORNAVN"}, htmx=True
    )
    assert "merge-gaps" not in same.get_data(as_text=True)  # unchanged: the field being typed in stays

    # A fallback that a letter cannot carry is refused at its field, and nothing is saved.
    for bad, error in [("x" * 501, "Højst 500 tegn"), ("af\x07deling", "kontroltegn"), ("010190-1234", "CPR-nummer")]:
        response = as_member.post(
            draft + "/message", {"subject": subject, "body": body, "fallback-AFDELING": bad}, htmx=True
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and 'id="fallback-AFDELING-error"' in page and error in page, bad
    assert share_of(draft).subject == ""

    fallbacks = {"fallback-AFDELING": "jeres afdeling", "fallback-FORNAVN": ""}
    response = as_member.post(draft + "/message", {"subject": subject, "body": body, **fallbacks}, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert share_of(draft).merge_fallbacks == {"AFDELING": "jeres afdeling"}
    response = as_member.post(draft + "/schedule", {"when": "now"}, htmx=True)
    confirm(as_member, draft, {"when": "now"})
    run_jobs()
    letters = {cpr: sandbox.mailbox(cpr)[0] for cpr in ("0101901234", "0202901234", "0303901234")}
    assert [m["label"] for m in letters.values()] == ["Trivsel i Nord", "Trivsel i jeres afdeling", "Trivsel i Syd"]
    assert [m["text"].split("\n\n")[0] for m in letters.values()] == [
        "Kære Anne, hvordan går det i Nord?",
        "Kære Bo, hvordan går det i jeres afdeling?",
        "Kære , hvordan går det i Syd?",
    ]
    assert not any("[" in m["text"].split("\n\n")[0] or "[" in m["label"] for m in letters.values())


@pytest.mark.parametrize("when", ["now", "later"])
def test_the_confirmation_says_what_happened_sent_now_or_scheduled(as_member, survey, with_access, when):
    draft, schedule = compose(as_member, survey, CPRS[0])
    if when == "later":
        moment = local(utcnow() + timedelta(days=1))
        schedule = {"when": "later", "date": moment.strftime("%Y-%m-%d"), "time": moment.strftime("%H:%M")}
    confirm(as_member, draft, schedule)
    page = as_member.get(draft + "/").get_data(as_text=True)
    said = {"now": "Invitationerne sendes nu.", "later": "Invitationerne er planlagt."}
    assert said[when] in page and said["later" if when == "now" else "now"] not in page
    assert "dansk tid" in page  # the rounds' times say whose clock they are


def test_a_reminder_of_no_number_is_refused_in_danish_at_its_field(as_member, survey, with_access):
    draft, _ = compose(as_member, survey, CPRS[0])
    response = as_member.post(
        draft + "/schedule", {"when": "now", "reminders-0-mode": "days", "reminders-0-days": "syv"}, htmx=True
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Skriv et helt tal." in page and "Not a valid" not in page


def test_the_audit_log_records_each_confirmed_share_and_filters_by_kind(
    as_member, survey, with_access, org, admin, app
):
    from conftest import Session

    as_admin = Session(app.test_client())  # a browser of its own: as_member's client is the member's
    as_admin.login(admin)
    draft, schedule = compose(as_member, survey, "\n".join(CPRS))
    confirm(as_member, draft, schedule)
    log = f"/orgs/{org.id}/settings/audit/"
    sent = "Sendte “Trivsel 2026” til 3 modtagere med Digital Post"
    page = as_admin.get(log).get_data(as_text=True)
    assert sent in page and "Mads Medlem" in page and "første breve" in page
    assert "Gav 1 medlem adgang" in page  # everything, by default
    shares = as_admin.get(log + "?kind=share").get_data(as_text=True)
    assert sent in shares and "Gav 1 medlem adgang" not in shares
    access = as_admin.get(log + "?kind=access").get_data(as_text=True)
    assert sent not in access and "Gav 1 medlem adgang" in access
    assert sent in as_admin.get(log + "?kind=nonsense").get_data(as_text=True)  # an unknown kind: everything
    assert as_member.get(log).status_code == 403  # admins only


def test_a_citizen_who_said_no_thanks_can_take_it_back_while_the_survey_is_open(
    as_member, survey, with_access, sandbox, run_jobs, client
):
    draft, schedule = compose(as_member, survey, CPRS[0])
    confirm(as_member, draft, schedule)
    run_jobs()
    token = sandbox.mailbox(CPRS[0])[0]["actions"][0]["url"].rsplit("/r/", 1)[1]
    asked = client.get(f"/r/{token}/decline").get_data(as_text=True)
    assert "Fortryd" not in asked  # "no thanks" is asked first; nothing to undo yet
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', asked).group(1)
    declined = client.post(f"/r/{token}/decline", data={"csrf_token": csrf}).get_data(as_text=True)
    assert "Fortryd – jeg vil gerne svare" in declined
    later = client.get(f"/r/{token}").get_data(as_text=True)  # a later visit still offers the way back
    assert "Du har takket nej" in later and "Fortryd – jeg vil gerne svare" in later
    assert client.post(f"/r/{token}/undecline", data={}).status_code == 400  # CSRF, as every post
    back = client.post(f"/r/{token}/undecline", data={"csrf_token": csrf})
    assert back.status_code == 303 and back.headers["Location"].endswith(f"/r/{token}")
    recipient = db.session.scalar(select(Recipient))
    db.session.refresh(recipient)
    assert recipient.declined_at is None and recipient.state in ("sent", "delivered")
    assert "Hvor tilfreds er du?" in client.get(f"/r/{token}").get_data(as_text=True)

    # Declined again, once the survey closes there is no way back.
    client.post(f"/r/{token}/decline", data={"csrf_token": csrf})
    as_member.post(f"/orgs/{survey.org_id}/surveys/{survey.id}/close")
    assert "Fortryd" not in client.get(f"/r/{token}/decline").get_data(as_text=True)
    client.post(f"/r/{token}/undecline", data={"csrf_token": csrf})
    db.session.refresh(recipient)
    assert recipient.declined_at is not None


def test_the_preview_opens_the_answer_page_as_the_citizen_sees_it_and_saves_nothing(
    as_member, survey, with_access, client
):
    from urllib.parse import urlsplit

    from models import Response

    draft = start_draft(as_member, survey)
    as_member.post(draft + "/recipients/paste", {"text": "Bo;Berg;0202901234;en"}, htmx=True)
    preview = as_member.post(draft + "/preview", {"subject": "Emne", "body": "Tekst"}, htmx=True).get_data(as_text=True)
    path = urlsplit(re.search(r'href="([^"]+)" target="_blank" rel="noopener"', preview).group(1)).path
    assert path.startswith("/p/")
    page = client.get(path).get_data(as_text=True)
    assert "Hvor tilfreds er du?" in page and "Submit" in page  # in Bo's language, as he will see it
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    done = client.post(path, data={"csrf_token": csrf, f"q{survey.questions[0].id}": "0"}).get_data(as_text=True)
    assert "Preview: your answers are fine, and they were not saved." in done
    assert db.session.scalar(select(func.count()).select_from(Response)) == 0


def test_unfinished_drafts_are_listed_resumed_deleted_and_kept_as_the_organization_says(
    as_member, survey, with_access, org, admin, app
):
    from conftest import Session
    from models.policy import set_policy
    from models.sharing.lifecycle import expire_drafts

    first = start_draft(as_member, survey)
    as_member.post(first + "/recipients/paste", {"text": "\n".join(CPRS)}, htmx=True)
    second = start_draft(as_member, survey)  # starting another keeps the first, with its 3 recipients
    share_page = f"/orgs/{org.id}/surveys/{survey.id}/share"
    page = as_member.get(share_page).get_data(as_text=True)
    assert page.count('class="inline-form"') == 2 and "3 modtagere" in page and "slettes" in page
    assert f'href="{base(survey)}/{share_of(first).id}/recipients"' in page  # resume where the list is
    assert db.session.scalar(select(func.count()).select_from(RecipientCpr)) == 3

    # Deleting one takes its recipients' CPRs with it; the other stays.
    deleted = as_member.post(second + "/discard")
    assert deleted.status_code == 303 and deleted.headers["Location"].endswith(share_page)
    assert share_of(second) is None and share_of(first) is not None
    again = as_member.post(second + "/discard")
    assert again.status_code == 404  # gone: nothing to delete twice

    # Kept as long as the organization says: 30 days by default, then deleted with its CPRs.
    started = share_of(first).created_at
    assert expire_drafts(now=started + timedelta(days=29)) == 0
    set_policy(org.id, admin.id, draft_days=60)
    db.session.commit()
    assert expire_drafts(now=started + timedelta(days=59)) == 0
    assert expire_drafts(now=started + timedelta(days=61)) == 1
    db.session.commit()
    assert share_of(first) is None
    assert db.session.scalar(select(func.count()).select_from(RecipientCpr)) == 0
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0
    # Another member cannot delete a member's draft.
    third = start_draft(as_member, survey)
    outsider = Session(app.test_client())
    outsider.login(admin)
    assert outsider.post(third + "/discard").status_code == 404
    assert share_of(third) is not None
