"""Sending a round (an invitation or a reminder) of a share.

The database says what to send: the job re-reads its round, writes one
Delivery per recipient (INSERT … SELECT, once), and sends the pending ones in
chunks. Each message has a messageUUID derived from the round and the
recipient, so a job that runs twice, or a retry after a timeout, is answered
by the gateway's replay and never delivers twice. Right before each chunk it
checks that the integration is active, the member still has access and the
survey is open; if not, the round is cancelled with that reason.
"""

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from rq import Callback, get_current_job
from sqlalchemy import and_, bindparam, func, literal, or_, select, update

from crypto import decrypt
from digitalpost import (
    DuplicateMessage,
    Message,
    PermanentError,
    RateLimited,
    TransientError,
)
from digitalpost.errors import CertificateRefused, ErrorCode, InvalidApiKey, SenderNotAuthorized
from digitalpost.transport import PaperLetter, Registration, Transport
from extensions import db, get_queue
from jobs.delivery_status import schedule_delivery_check
from jobs.gateway import transport_for
from models import DigitalPostIntegration
from models.access import has_access_id
from models.base import utcnow
from models.bulk import dialect_insert
from models.contacts import Cap, contacts_of, record_contacts
from models.letters import compose
from models.optout import CitizenOptOut, opted_out_hmacs
from models.paper import paper_letter
from models.policy import policy_of
from models.reach import ensure_paper_code, record_exempt
from models.sharing import (
    CancelReason,
    Channel,
    Delivery,
    DeliveryState,
    ExemptChoice,
    Recipient,
    RecipientCpr,
    RecipientState,
    RoundKind,
    ScheduledSend,
    SendError,
    SendState,
    cancel_scheduled_sends,
    forget_cprs,
    message_uuid,
)

log = logging.getLogger(__name__)
CHUNK = 50  # claimed at a time: small enough that workers share a round evenly
CLAIM_POLL = 1.0  # seconds between looks while others hold the rest
MAX_ATTEMPTS = 5
JOB_TIMEOUT = 6 * 3600
ROUND_FAILURE_CODES = (InvalidApiKey.code, SenderNotAuthorized.code, CertificateRefused.code)


def enqueue_rounds(rounds: list[ScheduledSend]) -> None:
    """Schedule the rounds' jobs, after their rows are committed. Job ids
    come from the rows (rq_job_id), so enqueueing again replaces rather
    than adds."""
    queue = get_queue()
    now = utcnow()
    with queue.connection.pipeline() as pipe:
        # MULTI first: rq's enqueue() starts one unless it runs, and would
        # refuse after enqueue_at() has queued commands (whatever the order).
        pipe.multi()
        for r in rounds:
            options = _job_options(r.rq_job_id or r.job_id, f"{r.kind} round {r.id}", pipe)
            if r.send_at <= now:
                queue.enqueue(send_round, r.id, **options)
            else:
                queue.enqueue_at(r.send_at, send_round, r.id, **options)
        pipe.execute()


def _job_options(job_id: str, description: str, pipe) -> dict:
    return dict(
        job_id=job_id,
        job_timeout=JOB_TIMEOUT,
        result_ttl=24 * 3600,
        failure_ttl=7 * 24 * 3600,
        on_failure=Callback(round_crashed),
        description=description,
        pipeline=pipe,
    )


def enqueue_helpers(rnd: ScheduledSend) -> None:
    """More jobs for a running round, so that free workers send it side by
    side; they take chunks as the first job does, by claims."""
    count = current_app.config["ROUND_WORKERS"] - 1
    if count < 1:
        return
    queue = get_queue()
    with queue.connection.pipeline() as pipe:
        for k in range(1, count + 1):
            options = _job_options(
                f"{rnd.rq_job_id or rnd.job_id}-h{k}", f"{rnd.kind} round {rnd.id}, helper {k}", pipe
            )
            queue.enqueue(send_round, rnd.id, k, **options)
        pipe.execute()


@dataclass
class Guard:
    ok: bool
    reason: str | None = None
    integration: DigitalPostIntegration | None = None


def check_guard(rnd: ScheduledSend) -> Guard:
    """What must hold right before any message of the round is sent."""
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


def send_round(round_id: int, helper: int = 0) -> str:
    """Send a round: the first job starts it and writes its deliveries;
    it and its helpers then claim chunks until none is pending. Safe to run
    twice, side by side, or after a crash: a claim keeps two workers off
    one recipient, and the messageUUID keeps a repeat from delivering twice."""
    rnd = db.session.get(ScheduledSend, round_id)
    if rnd is None:
        return "gone"
    if rnd.state not in (SendState.SCHEDULED, SendState.RUNNING):
        return f"nothing to do: {rnd.state}"
    if rnd.state == SendState.SCHEDULED:
        if helper:
            return "not started"
        started = db.session.execute(
            update(ScheduledSend)
            .where(ScheduledSend.id == round_id, ScheduledSend.state == SendState.SCHEDULED)
            .values(state=SendState.RUNNING, started_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        if not started:  # cancelled in the meantime
            return "cancelled before start"
        db.session.refresh(rnd)
    guard = check_guard(rnd)
    if not guard.ok:
        return finish(rnd, SendState.CANCELLED, reason=guard.reason)
    if not helper:
        create_deliveries(rnd)  # ON CONFLICT DO NOTHING: once, however often this runs
        db.session.commit()
        enqueue_helpers(rnd)
    job = get_current_job()
    worker = (
        job.worker_name if job is not None and job.worker_name else None
    ) or f"{socket.gethostname()}:{os.getpid()}"
    with transport_for(guard.integration) as client:
        while True:
            db.session.refresh(rnd)
            if rnd.state != SendState.RUNNING:
                return f"stopped: {rnd.state}"
            guard = check_guard(rnd)
            if not guard.ok:
                return finish(rnd, SendState.CANCELLED, reason=guard.reason)
            chunk = claim_chunk(rnd, worker)
            if chunk:
                failure = send_chunk(client, rnd, guard.integration, chunk, worker)
                db.session.commit()
                if failure:
                    return finish(rnd, SendState.FAILED, error=failure)
                continue
            if not pending_count(rnd):
                break
            # The rest is claimed by other workers: wait for them to send it,
            # or for a dead one's claims to run out.
            db.session.commit()
            time.sleep(CLAIM_POLL)
    outcome = finish(rnd, SendState.DONE)
    return outcome


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
        .outerjoin(
            RecipientCpr, and_(RecipientCpr.share_id == Recipient.share_id, RecipientCpr.cpr_hmac == Recipient.cpr_hmac)
        )
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


def send_chunk(client: Transport, rnd: ScheduledSend, integration, chunk, worker: str) -> str | None:
    """Send one claimed chunk and record every outcome. Returns an error code
    that stops the whole round (the key, the certificate or the CVR
    refused), else None."""
    delivery_updates, sent_ids, failed = [], [], []
    stop = None
    lease = current_app.config["DELIVERY_CLAIM_LEASE"]
    renewed = time.monotonic()
    paper_wanted = client.sends_paper and integration.can_send_paper and rnd.share.exempt_choice == ExemptChoice.PAPER
    if not client.polls_status:
        record_message_uuids(rnd, chunk)
    invitation = rnd.kind == RoundKind.INVITATION
    # Counted again for every chunk: other shares may have written to the same citizens meanwhile.
    leave_out = left_out_of(rnd.share.org_id, invitation, [row[3].cpr_hmac for row in chunk])
    left, contacts = [], []
    for delivery_id, attempts, uuid_version, recipient, cpr_encrypted in chunk:
        if time.monotonic() - renewed > lease / 2:  # a slow gateway: keep the claim
            renew_claims(rnd, worker, lease)
            renewed = time.monotonic()
        if rnd.kind == RoundKind.REMINDER and (recipient.responded_at or recipient.declined_at):
            delivery_updates.append(
                {
                    "d_id": delivery_id,
                    "d_state": DeliveryState.SKIPPED,
                    "d_error": None,
                    "d_attempts": attempts,
                    "d_sent_at": None,
                    "d_channel": None,
                }
            )
            continue
        if recipient.cpr_hmac in leave_out:
            reason = leave_out[recipient.cpr_hmac]
            delivery_updates.append(
                {
                    "d_id": delivery_id,
                    "d_state": DeliveryState.SKIPPED,
                    "d_error": reason,
                    "d_attempts": attempts,
                    "d_sent_at": None,
                    "d_channel": None,
                }
            )
            left.append({"r_id": recipient.id, "r_error": reason})
            continue
        if cpr_encrypted is None:
            delivery_updates.append(
                {
                    "d_id": delivery_id,
                    "d_state": DeliveryState.FAILED,
                    "d_error": SendError.CPR_DELETED,
                    "d_attempts": attempts,
                    "d_sent_at": None,
                    "d_channel": None,
                }
            )
            continue
        known = recipient.registration
        if known == Registration.NOT_FOUND or (known == Registration.EXEMPT and not paper_wanted):
            # The lookup said so: no letter can reach them, so none is sent.
            outcome, error, channel = DeliveryState.FAILED, _KNOWN_FAILURE[known], None
        else:
            message = round_message(rnd, recipient, decrypt(cpr_encrypted), integration.sender_cvr, uuid_version)
            paper = paper_for(rnd, recipient, integration) if known == Registration.EXEMPT else None
            outcome, error, attempts = send_with_retries(client, message, attempts, paper)
            if error == ErrorCode.RECIPIENT_EXEMPT and paper_wanted and paper is None:
                # Exempt since the lookup (or never looked up): the same letter on paper.
                paper = paper_for(rnd, recipient, integration)
                outcome, error, attempts = send_with_retries(client, message, attempts, paper)
            channel = (Channel.PAPER if paper else Channel.DIGITAL) if outcome == DeliveryState.SENT else None
        delivery_updates.append(
            {
                "d_id": delivery_id,
                "d_state": outcome,
                "d_error": error,
                "d_attempts": attempts,
                "d_sent_at": utcnow() if outcome == DeliveryState.SENT else None,
                "d_channel": channel,
            }
        )
        if outcome == DeliveryState.SENT:
            sent_ids.append(recipient.id)
            contacts.append((delivery_id, recipient.cpr_hmac))
        elif error in ROUND_FAILURE_CODES:
            delivery_updates.pop()  # not this recipient's fault: left pending for a later retry of the round
            stop = error
            break
        else:
            failed.append({"r_id": recipient.id, "r_error": error})
    if delivery_updates:
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
            delivery_updates,
        )
    record_contacts(rnd.share.org_id, invitation, contacts, utcnow())
    if invitation:
        table = Recipient.__table__
        if left:
            db.session.execute(
                update(table)
                .where(and_(table.c.id == bindparam("r_id"), table.c.state == RecipientState.PENDING))
                .values(state=RecipientState.LEFT_OUT, error=bindparam("r_error")),
                left,
            )
        if sent_ids:
            db.session.execute(
                update(table)
                .where(table.c.id.in_(sent_ids), table.c.state == RecipientState.PENDING)
                .values(state=RecipientState.SENT)
            )
        if failed:
            db.session.execute(
                update(table)
                .where(and_(table.c.id == bindparam("r_id"), table.c.state == RecipientState.PENDING))
                .values(state=RecipientState.FAILED, error=bindparam("r_error")),
                failed,
            )
    return stop


def left_out_of(org_id: int, invitation: bool, hmacs: list[str]) -> dict[str, SendError]:
    """The citizens of a chunk who get no letter: those who want no surveys
    from the organization, and those the letter would take over its cap."""
    opted = set(db.session.scalars(opted_out_hmacs(org_id).where(CitizenOptOut.cpr_hmac.in_(hmacs))))
    cap = Cap.of(policy_of(org_id))
    had = contacts_of(org_id, hmacs, cap.since())
    out = {h: SendError.OPTED_OUT for h in opted}
    out.update({h: SendError.CONTACT_CAP for h in hmacs if h not in out and not cap.allows(invitation, had[h])})
    return out


_KNOWN_FAILURE = {
    Registration.NOT_FOUND: ErrorCode.RECIPIENT_NOT_FOUND,
    Registration.EXEMPT: ErrorCode.RECIPIENT_EXEMPT,
}


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


def paper_for(rnd: ScheduledSend, recipient: Recipient, integration) -> PaperLetter:
    """The round's letter to one recipient as fjernprint prints it. Its short
    code, and that the recipient is exempt, are committed before the letter
    goes: the printed link always works, and a repeat goes on paper too."""
    with db.engine.begin() as conn:
        record_exempt(recipient.id, conn)
        code = ensure_paper_code(recipient.id, conn)
    letter = compose(rnd.share, RoundKind(rnd.kind), recipient)
    return paper_letter(letter, code, integration.print_type, rnd.send_at)


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


def send_with_retries(
    client: Transport, message: Message, attempts: int, paper: PaperLetter | None = None
) -> tuple[str, str | None, int]:
    """Transient trouble (503, timeouts, 429) is retried with backoff that
    honours Retry-After; permanent answers are final at once."""
    delays = current_app.config["SEND_RETRY_DELAYS"]
    while True:
        attempts += 1
        try:
            client.send(message, paper=paper)
            return DeliveryState.SENT, None, attempts
        except DuplicateMessage:
            # This messageUUID reached the gateway before, with content that has
            # changed since (a new PUBLIC_BASE_URL, say): it was delivered once.
            return DeliveryState.SENT, None, attempts
        except PermanentError as exc:
            return DeliveryState.FAILED, exc.code, attempts
        except TransientError as exc:
            if attempts >= MAX_ATTEMPTS:
                return DeliveryState.FAILED, exc.code, attempts
            wait = delays[min(attempts, len(delays)) - 1] if delays else 0
            if isinstance(exc, RateLimited):
                wait = max(wait, exc.retry_after)
            time.sleep(min(wait, 60))


def round_message(rnd: ScheduledSend, recipient: Recipient, cpr: str, sender_cvr: str, uuid_version: int = 4):
    """The round's letter to one recipient in its MeMo envelope: the same
    content every time, so that a repeated send is a replay, not a conflict."""
    return compose(rnd.share, RoundKind(rnd.kind), recipient).message(
        message_uuid=message_uuid(rnd.id, recipient.id, uuid_version),
        sender_cvr=sender_cvr,
        recipient_cpr=cpr,
        created_at=rnd.send_at,
    )


def finish(rnd: ScheduledSend, state: SendState, reason: str | None = None, error: str | None = None) -> str:
    """End the round, once: of the jobs that may finish it side by side,
    only the one whose conditional UPDATE flips the state does the rest."""
    values = {"state": state, "finished_at": utcnow()}
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
        return "finished by another job"
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
    outcome = f"{state}" + (f": {reason or error}" if reason or error else "")
    counts = dict(
        db.session.execute(
            select(Delivery.state, func.count()).where(Delivery.round_id == rnd.id).group_by(Delivery.state)
        ).all()
    )
    log.info("round %s (%s) %s; deliveries %s", rnd.id, rnd.kind, outcome, counts)
    integration = DigitalPostIntegration.find(rnd.org_id)
    if state == SendState.DONE and not (integration and integration.uses_certificate):
        schedule_delivery_check(rnd.id)  # SF1601's receipts come from the message broker instead
    return outcome


def round_crashed(job, connection, exc_type, exc_value, traceback) -> None:
    """rq's failure callback (also for a killed work horse, AppWorker): the
    round is sent on by a new job, which takes over what the dead one had
    claimed once its lease runs out; after ROUND_MAX_CRASHES the round is
    failed and says so, instead of running for ever."""
    round_id = job.args[0] if job.args else None
    helper = job.args[1] if len(job.args) > 1 else 0
    log.error("round %s job %s died: %s", round_id, job.id, exc_type.__name__ if exc_type else "unknown")
    if helper:
        return  # the round's own job (or its next one) finishes what a helper left
    try:
        db.session.rollback()
        recover_round(round_id)
    except Exception:
        log.exception("could not recover round %s", round_id)


def recover_round(round_id: int) -> str:
    """A round whose job is gone: a new job, or failed after too many crashes."""
    rnd = db.session.get(ScheduledSend, round_id)
    if rnd is None or rnd.state not in (SendState.SCHEDULED, SendState.RUNNING):
        return "nothing to recover"
    rnd.crashes += 1
    if rnd.crashes > current_app.config["ROUND_MAX_CRASHES"]:
        db.session.commit()
        return finish(rnd, SendState.FAILED, error=SendError.INTERNAL_ERROR)
    rnd.rq_job_id = f"{rnd.job_id}-c{rnd.crashes}"
    db.session.commit()
    enqueue_rounds([rnd])
    return f"requeued as {rnd.rq_job_id}"
