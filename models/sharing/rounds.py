"""A round's verbs, the worker's side of a share's life: its deliveries are
written once, claimed in chunks for a lease, given their outcomes, and the
round is finished once. jobs/sending.py is the rq entry point that calls
these; nothing else writes a round's deliveries.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, bindparam, func, literal, or_, select, update
from sqlalchemy.orm import contains_eager

from extensions import db
from models.access import has_access_id
from models.base import utcnow
from models.bulk import dialect_insert
from models.contacts import Cap, contacts_of, record_contacts
from models.integration import DigitalPostIntegration
from models.optout import CitizenOptOut, opted_out_hmacs
from models.policy import policy_of
from models.sharing import (
    CancelReason,
    Channel,
    Delivery,
    DeliveryState,
    Recipient,
    RecipientCpr,
    RecipientState,
    RoundKind,
    ScheduledSend,
    SendError,
    SendState,
    message_uuid,
    secret_of_recipient,
)
from models.sharing.lifecycle import cancel_scheduled_sends, forget_cprs

CHUNK = 50  # claimed at a time: small enough that workers share a round evenly


@dataclass
class Guard:
    ok: bool
    reason: str | None = None
    integration: DigitalPostIntegration | None = None


def check_guard(rnd: ScheduledSend) -> Guard:
    """What must hold right before any message of the round is sent: the
    integration is active, the member has access, the survey is open."""
    share = rnd.share
    integration = db.session.scalar(
        select(DigitalPostIntegration)
        .where(DigitalPostIntegration.org_id == rnd.org_id)
        .execution_options(populate_existing=True)
    )
    if integration is None or not integration.is_active:
        return Guard(False, CancelReason.INTEGRATION_OFF)
    if rnd.membership_id is None or not has_access_id(rnd.org_id, rnd.membership_id):
        return Guard(False, CancelReason.NO_ACCESS)
    db.session.refresh(share.survey)
    if not share.survey.is_open:
        return Guard(False, CancelReason.SURVEY_NOT_OPEN)
    return Guard(True, integration=integration)


def unfinished_rounds() -> list[ScheduledSend]:
    """Every round that is scheduled or running, which the worker's
    housekeeping makes sure has a job."""
    return db.session.scalars(
        select(ScheduledSend)
        .where(ScheduledSend.state.in_((SendState.SCHEDULED, SendState.RUNNING)))
        .order_by(ScheduledSend.id)
    ).all()


def start_round(round_id: int) -> bool:
    """A scheduled round starts, once, and commits; False when it was no
    longer scheduled (cancelled meanwhile, or started by another job)."""
    started = db.session.execute(
        update(ScheduledSend)
        .where(ScheduledSend.id == round_id, ScheduledSend.state == SendState.SCHEDULED)
        .values(state=SendState.RUNNING, started_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return bool(started)


def record_crash(rnd: ScheduledSend, max_crashes: int) -> bool:
    """One more crash of the round's job, committed. True when the round may
    have another job, under a new rq job id (so a dead job's leftovers in
    Redis are never mistaken for it); False when it has crashed too often."""
    rnd.crashes += 1
    if rnd.crashes <= max_crashes:
        rnd.rq_job_id = f"{rnd.job_id}-c{rnd.crashes}"
    db.session.commit()
    return rnd.crashes <= max_crashes


def create_deliveries(rnd: ScheduledSend) -> None:
    """One pending Delivery per recipient of the round, written once: the
    invitation goes to everyone on the list, a reminder to those whose
    invitation was sent and who have neither answered nor declined."""
    recipients = select(literal(rnd.id), Recipient.id, literal(DeliveryState.PENDING.value), literal(0)).where(
        Recipient.share_id == rnd.share_id
    )
    if rnd.kind == RoundKind.REMINDER:
        # responded_at too: an anonymous survey's recipient keeps the state.
        recipients = recipients.where(
            Recipient.state.in_((RecipientState.SENT, RecipientState.DELIVERED)), Recipient.responded_at.is_(None)
        )
    db.session.execute(
        dialect_insert(Delivery)
        .from_select(["round_id", "recipient_id", "state", "attempts"], recipients)
        .on_conflict_do_nothing(index_elements=["round_id", "recipient_id"])
    )


def claim_chunk(rnd: ScheduledSend, worker: str) -> list:
    """Claim up to CHUNK pending deliveries nobody holds, for a lease, and
    return them with their recipients. On PostgreSQL the candidates are
    locked with SKIP LOCKED, so two workers claiming at once take different
    rows; SQLite runs one writer at a time."""
    now = utcnow()
    lease = timedelta(seconds=current_app.config["DELIVERY_CLAIM_LEASE"])
    candidates = (
        select(Delivery.id)
        .where(
            Delivery.round_id == rnd.id,
            Delivery.state == DeliveryState.PENDING,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
        )
        .order_by(Delivery.id)
        .limit(CHUNK)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimed = db.session.scalars(
        update(Delivery)
        .where(Delivery.id.in_(candidates.scalar_subquery()))
        .values(claimed_until=now + lease, claimed_by=worker)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    if not claimed:
        return []
    return db.session.execute(
        select(Delivery.id, Delivery.attempts, Delivery.uuid_version, Recipient, RecipientCpr.cpr_encrypted)
        .join(Recipient, Recipient.id == Delivery.recipient_id)
        .outerjoin(RecipientCpr, secret_of_recipient())
        .options(contains_eager(Recipient.secret))  # the letters' background variables, in the same query
        .where(Delivery.id.in_(claimed), Delivery.state == DeliveryState.PENDING)
        .order_by(Delivery.id)
        .execution_options(populate_existing=True)
    ).all()


def pending_count(rnd: ScheduledSend) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.round_id == rnd.id, Delivery.state == DeliveryState.PENDING)
    )


def record_message_uuids(rnd: ScheduledSend, chunk) -> None:
    """Before a transport that does not answer repeats as replays (SF1601)
    is called: each delivery's messageUUID, committed in a connection of its
    own, so a receipt finds its delivery and a repeat is known for one."""
    rows = [
        {"d_id": delivery_id, "d_uuid": message_uuid(rnd.id, recipient.id, uuid_version)}
        for delivery_id, _attempts, uuid_version, recipient, _cpr in chunk
    ]
    table = Delivery.__table__
    with db.engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.id == bindparam("d_id"), table.c.message_uuid.is_(None))
            .values(message_uuid=bindparam("d_uuid")),
            rows,
        )


def renew_claims(rnd: ScheduledSend, worker: str, lease: int) -> None:
    """Extend this worker's claims on the round, in a connection of its own,
    so the chunk's outcomes (still unwritten) are not committed half-way."""
    with db.engine.begin() as conn:
        conn.execute(
            update(Delivery.__table__)
            .where(
                Delivery.__table__.c.round_id == rnd.id,
                Delivery.__table__.c.claimed_by == worker,
                Delivery.__table__.c.state == DeliveryState.PENDING,
            )
            .values(claimed_until=utcnow() + timedelta(seconds=lease))
        )


def left_out_of(org_id: int, invitation: bool, hmacs: list[str]) -> dict[str, SendError]:
    """The citizens of a chunk who get no letter: those who want no surveys
    from the organization, and those the letter would take over its cap."""
    opted = set(db.session.scalars(opted_out_hmacs(org_id).where(CitizenOptOut.cpr_hmac.in_(hmacs))))
    cap = Cap.of(policy_of(org_id))
    had = contacts_of(org_id, hmacs, cap.since())
    out = {h: SendError.OPTED_OUT for h in opted}
    out.update({h: SendError.CONTACT_CAP for h in hmacs if h not in out and not cap.allows(invitation, had[h])})
    return out


@dataclass
class ChunkOutcomes:
    """What became of each delivery of a claimed chunk, gathered while it is
    sent and written at once by record_outcomes."""

    deliveries: list[dict] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)  # recipient ids
    failed: list[dict] = field(default_factory=list)  # {r_id, r_error}
    left_out: list[dict] = field(default_factory=list)  # {r_id, r_error}
    contacts: list[tuple[int, str]] = field(default_factory=list)  # (delivery id, CPR HMAC)

    def delivery(self, delivery_id: int, state: DeliveryState, attempts: int, error=None, channel=None) -> None:
        self.deliveries.append(
            {
                "d_id": delivery_id,
                "d_state": state,
                "d_error": error,
                "d_attempts": attempts,
                "d_sent_at": utcnow() if state == DeliveryState.SENT else None,
                "d_channel": channel,
            }
        )

    def skipped(self, delivery_id: int, attempts: int, reason: SendError | None = None) -> None:
        self.delivery(delivery_id, DeliveryState.SKIPPED, attempts, reason)

    def sent_to(self, delivery_id: int, attempts: int, recipient: Recipient, channel: Channel) -> None:
        self.delivery(delivery_id, DeliveryState.SENT, attempts, None, channel)
        self.sent.append(recipient.id)
        self.contacts.append((delivery_id, recipient.cpr_hmac))

    def failed_for(self, delivery_id: int, attempts: int, recipient: Recipient, error: str) -> None:
        self.delivery(delivery_id, DeliveryState.FAILED, attempts, error)
        self.failed.append({"r_id": recipient.id, "r_error": error})

    def left_out_of_round(self, delivery_id: int, attempts: int, recipient: Recipient, reason: SendError) -> None:
        self.skipped(delivery_id, attempts, reason)
        self.left_out.append({"r_id": recipient.id, "r_error": reason})


def record_outcomes(rnd: ScheduledSend, outcomes: ChunkOutcomes) -> None:
    """Write a chunk's outcomes, its claims released; an invitation's
    recipients take their letter's state (a reminder leaves them as they are)."""
    if outcomes.deliveries:
        db.session.execute(
            update(Delivery.__table__)
            .where(Delivery.__table__.c.id == bindparam("d_id"))
            .values(
                state=bindparam("d_state"),
                error=bindparam("d_error"),
                attempts=bindparam("d_attempts"),
                sent_at=bindparam("d_sent_at"),
                channel=bindparam("d_channel"),
                claimed_until=None,
            ),
            outcomes.deliveries,
        )
    invitation = rnd.kind == RoundKind.INVITATION
    record_contacts(rnd.share.org_id, invitation, outcomes.contacts, utcnow())
    if not invitation:
        return
    table = Recipient.__table__
    pending = table.c.state == RecipientState.PENDING
    for rows, state in ((outcomes.left_out, RecipientState.LEFT_OUT), (outcomes.failed, RecipientState.FAILED)):
        if rows:
            db.session.execute(
                update(table)
                .where(and_(table.c.id == bindparam("r_id"), pending))
                .values(state=state, error=bindparam("r_error")),
                rows,
            )
    if outcomes.sent:
        db.session.execute(
            update(table).where(table.c.id.in_(outcomes.sent), pending).values(state=RecipientState.SENT)
        )


def finish_round(
    rnd: ScheduledSend,
    state: SendState,
    reason: str | None = None,
    error: str | None = None,
    check_at: datetime | None = None,
) -> str | None:
    """End the round, once, and commit: of the jobs that may finish it side
    by side, only the one whose conditional UPDATE flips the state does the
    rest (claims released; a round that did not finish well cancels the
    share's later rounds; the CPRs go once nothing is pending). A round done
    well gets its first delivery look (`check_at`) in the same write, so no
    crash can lose it. Returns the outcome, or None when another job had
    finished it."""
    values = {"state": state, "finished_at": utcnow()}
    if state == SendState.DONE and check_at is not None:
        values.update(check_at=check_at, checks=0)
    if state == SendState.CANCELLED:
        values.update(cancel_reason=reason, cancelled_at=utcnow())
    if error:
        values["error"] = error
    flipped = db.session.execute(
        update(ScheduledSend)
        .where(ScheduledSend.id == rnd.id, ScheduledSend.state.in_((SendState.RUNNING, SendState.SCHEDULED)))
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not flipped:
        db.session.commit()
        return None
    db.session.execute(
        update(Delivery)
        .where(Delivery.round_id == rnd.id, Delivery.state == DeliveryState.PENDING)
        .values(claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    if state != SendState.DONE:
        # What stopped this round (access, integration, survey, the key) stops the later ones too.
        cancel_scheduled_sends(rnd.org_id, reason or error, share_ids=[rnd.share_id])
    forget_cprs(rnd.share_id)
    db.session.commit()
    return f"{state}" + (f": {reason or error}" if reason or error else "")


def delivery_counts(round_id: int) -> dict[str, int]:
    return dict(
        db.session.execute(
            select(Delivery.state, func.count()).where(Delivery.round_id == round_id).group_by(Delivery.state)
        ).all()
    )


def pending_checks() -> list[ScheduledSend]:
    """Every round with a delivery look still to come, which the worker's
    housekeeping makes sure has a job."""
    return db.session.scalars(
        select(ScheduledSend).where(ScheduledSend.check_at.is_not(None)).order_by(ScheduledSend.id)
    ).all()


def advance_check(rnd: ScheduledSend, done: int, next_at: datetime | None) -> bool:
    """Look number `done` is over: the next is due at `next_at` (None: no
    more). Conditional and committed: of two copies of one look, only the
    first moves on, so the next look is queued once."""
    moved = db.session.execute(
        update(ScheduledSend)
        .where(ScheduledSend.id == rnd.id, ScheduledSend.checks == done, ScheduledSend.check_at.is_not(None))
        .values(checks=done + 1, check_at=next_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    db.session.refresh(rnd)
    return bool(moved)


def awaiting_delivery(round_id: int, after: int, limit: int) -> list:
    """The next sent deliveries of the round (id, recipient_id,
    uuid_version), by id after `after`, whose delivery is not known yet."""
    return db.session.execute(
        select(Delivery.id, Delivery.recipient_id, Delivery.uuid_version)
        .where(
            Delivery.round_id == round_id,
            Delivery.state == DeliveryState.SENT,
            Delivery.delivered_at.is_(None),
            Delivery.id > after,
        )
        .order_by(Delivery.id)
        .limit(limit)
    ).all()


def record_delivery_status(rnd: ScheduledSend, arrived: list[dict], lost: list[dict]) -> None:
    """What the gateway said of letters sent: arrived ({d_id, r_id, at}) or
    lost ({d_id, r_id}); the invitation's recipients follow their letter."""
    deliveries, recipients = Delivery.__table__, Recipient.__table__
    if arrived:
        db.session.execute(
            update(deliveries).where(deliveries.c.id == bindparam("d_id")).values(delivered_at=bindparam("at")), arrived
        )
        if rnd.kind == RoundKind.INVITATION:
            db.session.execute(
                update(recipients)
                .where(and_(recipients.c.id == bindparam("r_id"), recipients.c.state == RecipientState.SENT))
                .values(state=RecipientState.DELIVERED),
                arrived,
            )
    if lost:
        db.session.execute(
            update(deliveries)
            .where(deliveries.c.id == bindparam("d_id"))
            .values(state=DeliveryState.FAILED, error=SendError.DELIVERY_FAILED),
            lost,
        )
        if rnd.kind == RoundKind.INVITATION:
            db.session.execute(
                update(recipients)
                .where(and_(recipients.c.id == bindparam("r_id"), recipients.c.state == RecipientState.SENT))
                .values(state=RecipientState.FAILED, error=SendError.DELIVERY_FAILED),
                lost,
            )
    db.session.commit()
