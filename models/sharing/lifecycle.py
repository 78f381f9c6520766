"""A share's life after its draft: confirming it into rounds, cancelling,
sending again what failed for a passing reason, and retention (its CPR
numbers are deleted once nothing is pending). Every verb works in the
caller's transaction."""

import uuid
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import exists, func, select, update

from extensions import db
from models.audit import AuditAction, AuditEvent, record_audit
from models.base import utcnow
from models.deletions import record_deletion
from models.policy import DRAFT_DAYS, CitizenPolicy, policy_of
from models.sharing import (
    PENDING_STATES,
    RETRY_WINDOW,
    RETRYABLE_ERRORS,
    CancelReason,
    Delivery,
    DeliveryState,
    Recipient,
    RecipientCpr,
    RecipientImport,
    RecipientState,
    RoundKind,
    ScheduledSend,
    SendState,
    Share,
    ShareState,
)
from models.sharing.letters import Texts, round_texts, texts_of
from models.sharing.recipients import delete_recipients, listed, recipient_count
from models.sharing.schedule import PlannedRound, Problem, check_round_time
from models.test_letters import TestLetter

# --- the draft ----------------------------------------------------------------


def start_share(survey, membership) -> Share:
    """A new draft share of the survey by the member. It is kept, with the
    recipients given so far, until it is sent, deleted, or the
    organization's draft_days pass (expire_drafts)."""
    share = Share(
        org_id=survey.org_id,
        survey=survey,  # the relationship: a survey not flushed yet gets its id first
        membership_id=membership.id,
        state=ShareState.DRAFT,
        language="da",
        variables=[],
    )
    db.session.add(share)
    return share


def _delete_drafts(share_ids) -> int:
    """Drafts and all they hold. Explicitly: SQLite here does not enforce ON DELETE CASCADE."""
    if not share_ids:
        return 0
    for table in (Recipient.__table__, RecipientCpr.__table__, RecipientImport.__table__, TestLetter.__table__):
        db.session.execute(table.delete().where(table.c.share_id.in_(share_ids)))
    return db.session.execute(
        Share.__table__.delete().where(Share.id.in_(share_ids), Share.state == ShareState.DRAFT)
    ).rowcount


def draft_deleted_at(share: Share) -> datetime:
    """When the draft will be deleted if it is not sent."""
    return share.created_at + timedelta(days=policy_of(share.org_id).draft_days)


def drafts_of(survey_id: int, membership_id: int) -> list[Share]:
    """The member's unfinished drafts of the survey, newest first."""
    return db.session.scalars(
        select(Share)
        .where(Share.survey_id == survey_id, Share.membership_id == membership_id, Share.state == ShareState.DRAFT)
        .order_by(Share.created_at.desc(), Share.id.desc())
    ).all()


def discard_draft(share: Share) -> bool:
    """Delete a draft the member gives up, with its recipients and their CPRs."""
    return bool(share.is_draft and _delete_drafts([share.id]))


def expire_drafts(now: datetime | None = None) -> int:
    """Delete every draft older than its organization's draft_days."""
    now = now or utcnow()
    periods = dict(db.session.execute(select(CitizenPolicy.org_id, CitizenPolicy.draft_days)).all())
    expired = []
    for share_id, org_id, created_at in db.session.execute(
        select(Share.id, Share.org_id, Share.created_at).where(Share.state == ShareState.DRAFT)
    ):
        if created_at < now - timedelta(days=periods.get(org_id, DRAFT_DAYS)):
            expired.append(share_id)
    return _delete_drafts(expired)


class ConfirmOutcome(StrEnum):
    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already_confirmed"
    NO_RECIPIENTS = "no_recipients"
    NO_MESSAGE = "no_message"
    NOT_ALLOWED = "not_allowed"
    SURVEY_NOT_OPEN = "survey_not_open"
    HELD = "held"  # confirmed, and waiting for an admin: over a daily volume


def confirm_share(
    share: Share, rounds: list[PlannedRound], may_share: bool
) -> tuple[ConfirmOutcome, list[ScheduledSend]]:
    """Turn the draft into its rounds, in the caller's transaction. The draft
    flips by a conditional UPDATE, so a double click confirms once."""
    if not share.is_draft:
        return ConfirmOutcome.ALREADY_CONFIRMED, []
    if not may_share:
        return ConfirmOutcome.NOT_ALLOWED, []
    if not share.survey.is_open:
        return ConfirmOutcome.SURVEY_NOT_OPEN, []
    if not share.subject or not share.body:
        return ConfirmOutcome.NO_MESSAGE, []
    if not recipient_count(share.id):
        return ConfirmOutcome.NO_RECIPIENTS, []
    flipped = db.session.execute(
        update(Share)
        .where(Share.id == share.id, Share.state == ShareState.DRAFT)
        .values(state=ShareState.CONFIRMED, confirmed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not flipped:
        return ConfirmOutcome.ALREADY_CONFIRMED, []
    policy = policy_of(share.org_id)
    share.purpose_da, share.purpose_en = policy.purpose_da, policy.purpose_en
    # Rows of imports the member never accepted are not part of the share.
    delete_recipients(share.id, ~listed(share.id))
    created = [
        ScheduledSend(
            org_id=share.org_id,
            share_id=share.id,
            membership_id=share.membership_id,
            kind=r.kind,
            send_at=r.send_at,
            state=SendState.SCHEDULED,
            # Each round keeps its own letter: what it sends, and what a later change edits.
            texts={lang: t.stored() for lang, t in texts_of(share, r.kind).items()},
        )
        for r in rounds
    ]
    db.session.add_all(created)
    db.session.flush()
    for r in created:
        r.rq_job_id = r.job_id
    db.session.refresh(share)
    from models.volume import hold_if_over  # models.volume builds on this module

    membership = share.membership
    actor_id = membership.user_id if membership else None
    # Letters under the organization's CVR: the admins read who sent what, and when.
    record_audit(
        share.org_id,
        actor_id,
        AuditAction.SHARE_CONFIRMED,
        target=str(share.id),
        share_id=share.id,
        survey=share.survey.title,
        count=recipient_count(share.id),
        first_at=min(r.send_at for r in created).isoformat(),
    )
    if hold_if_over(share, created, actor_id):
        return ConfirmOutcome.HELD, created
    return ConfirmOutcome.CONFIRMED, created


def scheduled_sends_filter(org_id: int, membership_ids=None, share_ids=None, round_ids=None):
    conditions = [ScheduledSend.org_id == org_id, ScheduledSend.state.in_((SendState.SCHEDULED, SendState.HELD))]
    if membership_ids is not None:
        conditions.append(ScheduledSend.membership_id.in_(membership_ids))
    if share_ids is not None:
        conditions.append(ScheduledSend.share_id.in_(share_ids))
    if round_ids is not None:
        conditions.append(ScheduledSend.id.in_(round_ids))
    return conditions


def count_scheduled_sends(org_id: int, membership_ids=None) -> int:
    return db.session.scalar(
        db.select(db.func.count()).select_from(ScheduledSend).where(*scheduled_sends_filter(org_id, membership_ids))
    )


def cancel_scheduled_sends(
    org_id: int, reason: str, membership_ids=None, share_ids=None, held=None, round_ids=None
) -> int:
    """Cancel every scheduled send of the organization, or of the given
    members, shares or rounds (subqueries of ids), in the current transaction.

    Their rq jobs are dequeued once the transaction commits; a job that
    still runs re-reads its row and finds it cancelled. Shares left with no
    pending round forget their recipients' CPRs.
    """
    conditions = scheduled_sends_filter(org_id, membership_ids, share_ids, round_ids)
    if held:  # only what waits for approval
        conditions.append(ScheduledSend.state == SendState.HELD)
    rows = db.session.execute(
        update(ScheduledSend)
        .where(*conditions)
        .values(state=SendState.CANCELLED, cancel_reason=reason, cancelled_at=utcnow())
        .returning(ScheduledSend.rq_job_id, ScheduledSend.share_id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.info.setdefault("rq_jobs_to_cancel", set()).update(j for j, _ in rows if j)
    for share_id in {s for _, s in rows}:
        forget_cprs(share_id)
    return len(rows)


def cancel_share(share: Share) -> int:
    return cancel_scheduled_sends(share.org_id, CancelReason.CANCELLED_BY_MEMBER, share_ids=[share.id])


def cancel_reminder(share: Share, round_id: int) -> bool:
    """Cancel one reminder of the share that has not started; the invitation
    and the other reminders stay as they are. False when the round is not a
    reminder of this share, or is no longer scheduled (it started, or a
    double click cancelled it already)."""
    kind = db.session.scalar(
        select(ScheduledSend.kind).where(ScheduledSend.id == round_id, ScheduledSend.share_id == share.id)
    )
    if kind != RoundKind.REMINDER:
        return False
    cancelled = cancel_scheduled_sends(
        share.org_id, CancelReason.CANCELLED_BY_MEMBER, share_ids=[share.id], round_ids=[round_id]
    )
    if cancelled:
        send_at = db.session.scalar(select(ScheduledSend.send_at).where(ScheduledSend.id == round_id))
        membership = share.membership
        record_audit(
            share.org_id,
            membership.user_id if membership else None,
            AuditAction.REMINDER_CANCELLED,
            target=str(share.id),
            share_id=share.id,
            survey=share.survey.title,
            from_at=send_at.isoformat(),
        )
    return cancelled == 1


WAITING_STATES = (SendState.SCHEDULED, SendState.HELD)  # not started: its time and text may change


class ChangeOutcome(StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    INVALID = "invalid"  # the time breaks the schedule's rules: see the problems
    NOT_WAITING = "not_waiting"  # not a round of the share that waits (it started, or was cancelled)


def change_round(
    share: Share, round_id: int, day: date | None, clock: time | None, texts: Texts, actor_id: int | None
) -> tuple[ChangeOutcome, list[Problem]]:
    """A new time and text for one round that has not started, checked by
    the first schedule's rules against the share's other rounds, and
    recorded in the audit log. The round gets a new job id (the old job
    leaves the queue after commit; one that fires anyway finds it not due),
    and the caller enqueues it after commit. The write is conditional, so
    a round that starts meanwhile is left as it is."""
    rnd = next((r for r in share.rounds if r.id == round_id and r.state in WAITING_STATES), None)
    if rnd is None:
        return ChangeOutcome.NOT_WAITING, []
    others = [r for r in share.rounds if r.id != rnd.id and r.state != SendState.CANCELLED]
    invitation_at = next((r.send_at for r in others if r.kind == RoundKind.INVITATION), None)
    reminders_at = [r.send_at for r in others if r.kind == RoundKind.REMINDER]
    moment, problems = check_round_time(RoundKind(rnd.kind), day, clock, invitation_at, reminders_at)
    if problems:
        return ChangeOutcome.INVALID, problems
    if moment == rnd.send_at.replace(second=0, microsecond=0):
        moment = rnd.send_at  # the form shows minutes: the same minute is the same time
    stored = {lang: t.stored() for lang, t in texts.items()}
    before = {lang: t.stored() for lang, t in round_texts(rnd).items()}
    moved, rewritten = moment != rnd.send_at, stored != before
    if not moved and not rewritten:
        return ChangeOutcome.UNCHANGED, []
    old_job, from_at = rnd.rq_job_id, rnd.send_at
    changed = db.session.execute(
        update(ScheduledSend)
        .where(ScheduledSend.id == rnd.id, ScheduledSend.state.in_(WAITING_STATES))
        .values(send_at=moment, texts=stored, rq_job_id=f"{rnd.job_id}-{uuid.uuid4().hex[:8]}")
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        return ChangeOutcome.NOT_WAITING, []
    if old_job:
        db.session.info.setdefault("rq_jobs_to_cancel", set()).add(old_job)
    db.session.refresh(rnd)
    record_audit(
        share.org_id,
        actor_id,
        AuditAction.ROUND_CHANGED,
        target=str(share.id),
        share_id=share.id,
        survey=share.survey.title,
        kind=rnd.kind,
        from_at=from_at.isoformat() if moved else None,
        to_at=moment.isoformat() if moved else None,
        texts=rewritten,
    )
    return ChangeOutcome.CHANGED, []


def share_changes(share: Share) -> list:
    """What was changed in the share's rounds after it was confirmed, newest first."""
    return db.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.org_id == share.org_id,
            AuditEvent.target == str(share.id),
            AuditEvent.action.in_((AuditAction.ROUND_CHANGED, AuditAction.REMINDER_CANCELLED)),
        )
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    ).all()


def retryable_failures(share_id: int, now: datetime | None = None):
    """The failed deliveries of the share that may still be sent again."""
    since = (now or utcnow()) - RETRY_WINDOW
    return (
        select(Delivery.id, Delivery.round_id, Delivery.recipient_id)
        .join(ScheduledSend, ScheduledSend.id == Delivery.round_id)
        .where(
            ScheduledSend.share_id == share_id,
            ScheduledSend.finished_at > since,
            Delivery.state == DeliveryState.FAILED,
            Delivery.error.in_(RETRYABLE_ERRORS),
        )
    )


def forget_cprs(share_id: int) -> bool:
    """Retention: once no round of the share is pending, delete its
    recipients' encrypted CPRs; those that failed for a passing reason are
    kept for RETRY_WINDOW, so the member can send them again (the worker's
    housekeeping deletes them after). Background variables go with the
    CPRs. Names, states and answers stay."""
    pending = db.session.scalar(
        select(func.count())
        .select_from(ScheduledSend)
        .where(ScheduledSend.share_id == share_id, ScheduledSend.state.in_(PENDING_STATES))
    )
    if pending:
        return False
    retry = retryable_failures(share_id).subquery()
    keep = select(Recipient.cpr_hmac).where(Recipient.id.in_(select(retry.c.recipient_id)))
    table = RecipientCpr.__table__
    going = (table.c.share_id == share_id) & table.c.cpr_hmac.not_in(keep)
    # The variables live in the same rows, so one DELETE takes both; the
    # receipt's counts are read first.
    cprs, variables = db.session.execute(select(func.count(), func.count(table.c.variables)).where(going)).one()
    if cprs:
        db.session.execute(table.delete().where(going))
    share = db.session.get(Share, share_id)
    cancelled = db.session.scalar(  # a query: the session's rounds may predate the cancelling UPDATE
        select(ScheduledSend.cancel_reason)
        .where(ScheduledSend.share_id == share_id, ScheduledSend.state == SendState.CANCELLED)
        .order_by(ScheduledSend.send_at)
        .limit(1)
    )
    record_deletion(share, cprs, variables, cancelled)
    if db.session.scalar(select(func.count()).select_from(table).where(table.c.share_id == share_id)):
        return False
    db.session.execute(
        update(Share)
        .where(Share.id == share_id, Share.cprs_deleted_at.is_(None))
        .values(cprs_deleted_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return True


def forget_finished_cprs() -> int:
    """forget_cprs for every confirmed share that has nothing more to send
    and still holds CPRs (a round's own cleanup may have died with its
    worker). Returns how many shares were looked at."""
    pending = exists().where(ScheduledSend.share_id == Share.id, ScheduledSend.state.in_(PENDING_STATES))
    share_ids = db.session.scalars(
        select(Share.id).where(Share.state == ShareState.CONFIRMED, Share.cprs_deleted_at.is_(None), ~pending)
    ).all()
    for share_id in share_ids:
        forget_cprs(share_id)
    return len(share_ids)


def retry_count(share: Share) -> int:
    """How many recipients a retry would send to (none while a round runs)."""
    if any(r.state == SendState.RUNNING for r in share.rounds):
        return 0
    retry = retryable_failures(share.id).subquery()
    return db.session.scalar(select(func.count(func.distinct(retry.c.recipient_id))))


def retry_failed(share: Share) -> tuple[int, list[ScheduledSend]]:
    """Send again to the recipients whose message failed for a passing
    reason: their deliveries are pending again in their own rounds, which
    are scheduled now under new job ids. The messageUUIDs stay, so a message
    that did reach the gateway after all is a replay, not a second letter.
    In the caller's transaction; the caller enqueues the rounds after commit.
    Returns (recipients, rounds)."""
    if any(r.state == SendState.RUNNING for r in share.rounds):
        return 0, []
    failures = db.session.execute(retryable_failures(share.id)).all()
    if not failures:
        return 0, []
    delivery_ids = [f.id for f in failures]
    round_ids = sorted({f.round_id for f in failures})
    recipient_ids = {f.recipient_id for f in failures}
    db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids))
        .values(state=DeliveryState.PENDING, error=None, attempts=0, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Recipient)
        .where(Recipient.id.in_(recipient_ids), Recipient.state == RecipientState.FAILED)
        .values(state=RecipientState.PENDING, error=None)
        .execution_options(synchronize_session=False)
    )
    rounds = db.session.scalars(select(ScheduledSend).where(ScheduledSend.id.in_(round_ids))).all()
    for r in rounds:
        r.state, r.finished_at, r.error, r.crashes = SendState.RUNNING, None, None, 0
        r.rq_job_id = f"{r.job_id}-retry-{uuid.uuid4().hex[:8]}"
    return len(recipient_ids), list(rounds)
