"""Sending a round (an invitation or a reminder) of a share.

The database says what to send: the job re-reads its round, writes one
Delivery per recipient (INSERT … SELECT, once), and sends the pending ones in
chunks, SEND_CONCURRENCY letters in flight at once and the next chunk set
going before the last one ends, at a pace all workers share. Each message
has a messageUUID derived from the round and the recipient, so a job that
runs twice, or a retry after a timeout, is answered by the gateway's replay
and never delivers twice. Right before each chunk it
checks that the integration is active, the member still has access and the
survey is open; if not, the round is cancelled with that reason.
"""

import logging
import os
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import timedelta

from flask import current_app
from rq import Callback, get_current_job

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
from jobs.delivery_status import first_check_at, schedule_delivery_check
from jobs.gateway import send_pace, transport_for
from jobs.throttle import Pace
from models import DigitalPostIntegration
from models.base import utcnow
from models.paper import paper_letter
from models.reach import ensure_paper_code, record_exempt
from models.sharing import (
    Channel,
    DeliveryState,
    ExemptChoice,
    Recipient,
    RoundKind,
    ScheduledSend,
    SendError,
    SendState,
    message_uuid,
)
from models.sharing.letters import compose_round
from models.sharing.rounds import (
    ChunkOutcomes,
    check_guard,
    claim_chunk,
    create_deliveries,
    delivery_counts,
    finish_round,
    left_out_of,
    pending_count,
    record_crash,
    record_message_uuids,
    record_outcomes,
    renew_claims,
    start_round,
)

log = logging.getLogger(__name__)
CLAIM_POLL = 1.0  # seconds between looks while others hold the rest
MAX_ATTEMPTS = 5
JOB_TIMEOUT = 6 * 3600
NOT_DUE_SLACK = timedelta(minutes=1)  # clocks of scheduler and database may differ a little
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
        if rnd.send_at > utcnow() + NOT_DUE_SLACK:
            # A job of a time the member changed: the round's own job comes at its time.
            return "not due yet"
        if not start_round(round_id):  # cancelled in the meantime
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
    config = current_app.config
    with (
        transport_for(guard.integration) as client,
        ThreadPoolExecutor(
            config["SEND_CONCURRENCY"],
            thread_name_prefix=f"round-{rnd.id}",
            initializer=_enter_app,
            initargs=(current_app._get_current_object(),),
        ) as pool,
    ):
        sender = Sender(client, pool, send_pace(guard.integration), config["SEND_RETRY_DELAYS"])
        lease = config["DELIVERY_CLAIM_LEASE"]

        def keep_claims():
            renew_claims(rnd, worker, lease)

        # One chunk is prepared and set going while the one before it is
        # still in flight, so the threads never wait at a chunk's end; each
        # chunk is checked (the round's state, the guard) before it starts,
        # and every chunk set going is recorded before the job returns.
        in_flight: Batch | None = None

        def settle() -> str | None:
            nonlocal in_flight
            batch, in_flight = in_flight, None
            failure = finish_chunk(sender, batch, keep_claims, lease / 2) if batch else None
            db.session.commit()
            return failure

        while True:
            db.session.refresh(rnd)
            if rnd.state != SendState.RUNNING:
                settle()
                return f"stopped: {rnd.state}"
            guard = check_guard(rnd)
            if not guard.ok:
                settle()
                return finish(rnd, SendState.CANCELLED, reason=guard.reason)
            chunk = [] if sender.stopped else claim_chunk(rnd, worker)
            batch = start_chunk(sender, rnd, guard.integration, chunk) if chunk else None
            failure = settle()
            in_flight = batch
            if failure or sender.stopped:
                failure = settle() or failure
                return finish(rnd, SendState.FAILED, error=failure)
            if batch:
                continue
            if not pending_count(rnd):
                break
            # The rest is claimed by other workers: wait for them to send it,
            # or for a dead one's claims to run out.
            db.session.commit()
            time.sleep(CLAIM_POLL)
    outcome = finish(rnd, SendState.DONE)
    return outcome


@dataclass(frozen=True)
class Letter:
    """One letter of a claimed chunk, ready to go."""

    delivery_id: int
    attempts: int
    recipient: Recipient
    message: Message
    paper: PaperLetter | None = None


Sent = tuple[str, str | None, int]  # (delivery state, error code, attempts)


@dataclass
class Sender:
    """Sends letters side by side, SEND_CONCURRENCY at a time, at the
    organization's pace: a gateway across a network answers in tens of
    milliseconds, and one letter at a time would leave the worker waiting.
    The threads only talk to the gateway; the database stays the job's
    thread's. An answer that stops the round (the key, the certificate or
    the CVR refused) stops every letter not yet begun."""

    client: Transport
    pool: ThreadPoolExecutor
    pace: Pace
    delays: list[float]
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def submit(self, letters: list[Letter]) -> list[Future]:
        return [self.pool.submit(self._one, letter) for letter in letters]

    def results(self, futures: list[Future], keep_claims, renew_every: float) -> list[Sent | None]:
        """Each letter's outcome, in order; None for one not sent because
        the round stopped first."""
        waiting = set(futures)
        while waiting:
            _, waiting = wait(waiting, timeout=renew_every)
            if waiting:  # a slow gateway: keep the claim
                keep_claims()
        return [future.result() for future in futures]

    def _one(self, letter: Letter) -> Sent | None:
        if self._stop.is_set():
            return None
        sent = send_with_retries(self.client, letter.message, letter.attempts, letter.paper, self.delays, self.pace)
        if sent[1] in ROUND_FAILURE_CODES:
            self._stop.set()
        return sent


@dataclass
class Batch:
    """A claimed chunk on its way: what became of those who get no letter,
    and the letters in flight."""

    rnd: ScheduledSend
    integration: DigitalPostIntegration
    paper_wanted: bool
    outcomes: ChunkOutcomes
    letters: list[Letter]
    futures: list[Future]


def _enter_app(app) -> None:
    """A sending thread works in the job's app (its settings, its Redis keys)."""
    app.app_context().push()


def start_chunk(sender: Sender, rnd: ScheduledSend, integration, chunk) -> Batch:
    """Decide each claimed delivery of the chunk, and set its letters going."""
    outcomes = ChunkOutcomes()
    client = sender.client
    paper_wanted = client.sends_paper and integration.can_send_paper and rnd.share.exempt_choice == ExemptChoice.PAPER
    if not client.polls_status:
        record_message_uuids(rnd, chunk)
    invitation = rnd.kind == RoundKind.INVITATION
    # Counted again for every chunk: other shares may have written to the same citizens meanwhile.
    leave_out = left_out_of(rnd.share.org_id, invitation, [row[3].cpr_hmac for row in chunk])
    letters = []
    for delivery_id, attempts, uuid_version, recipient, cpr_encrypted in chunk:
        if not invitation and (recipient.responded_at or recipient.declined_at):
            outcomes.skipped(delivery_id, attempts)
            continue
        if recipient.cpr_hmac in leave_out:
            outcomes.left_out_of_round(delivery_id, attempts, recipient, leave_out[recipient.cpr_hmac])
            continue
        if cpr_encrypted is None:
            outcomes.delivery(delivery_id, DeliveryState.FAILED, attempts, SendError.CPR_DELETED)
            continue
        known = recipient.registration
        if known == Registration.NOT_FOUND or (known == Registration.EXEMPT and not paper_wanted):
            # The lookup said so: no letter can reach them, so none is sent.
            outcomes.failed_for(delivery_id, attempts, recipient, _KNOWN_FAILURE[known])
            continue
        message = round_message(rnd, recipient, decrypt(cpr_encrypted), integration.sender_cvr, uuid_version)
        paper = paper_for(rnd, recipient, integration) if known == Registration.EXEMPT else None
        letters.append(Letter(delivery_id, attempts, recipient, message, paper))
    return Batch(rnd, integration, paper_wanted, outcomes, letters, sender.submit(letters))


def finish_chunk(sender: Sender, batch: Batch, keep_claims, renew_every: float) -> str | None:
    """Wait for a chunk's letters and record every outcome. Returns an error
    code that stops the whole round, else None."""
    rnd, letters = batch.rnd, batch.letters
    results = sender.results(batch.futures, keep_claims, renew_every)
    if batch.paper_wanted and not sender.stopped:
        # Exempt since the lookup (or never looked up): the same letter on paper.
        again = [
            i
            for i, (letter, sent) in enumerate(zip(letters, results))
            if sent and sent[1] == ErrorCode.RECIPIENT_EXEMPT and letter.paper is None
        ]
        for i in again:
            paper = paper_for(rnd, letters[i].recipient, batch.integration)
            letters[i] = replace(letters[i], attempts=results[i][2], paper=paper)
        resent = sender.results(sender.submit([letters[i] for i in again]), keep_claims, renew_every)
        for i, sent in zip(again, resent):
            results[i] = sent
    outcomes, stop = batch.outcomes, None
    for letter, sent in zip(letters, results):
        if sent is None:
            continue  # not sent: the round stopped first; left pending
        outcome, error, attempts = sent
        if outcome == DeliveryState.SENT:
            channel = Channel.PAPER if letter.paper else Channel.DIGITAL
            outcomes.sent_to(letter.delivery_id, attempts, letter.recipient, channel)
        elif error in ROUND_FAILURE_CODES:
            # Not this recipient's fault: left pending for a later retry of the round.
            stop = error
        else:
            outcomes.failed_for(letter.delivery_id, attempts, letter.recipient, error)
    record_outcomes(rnd, outcomes)
    return stop


_KNOWN_FAILURE = {
    Registration.NOT_FOUND: ErrorCode.RECIPIENT_NOT_FOUND,
    Registration.EXEMPT: ErrorCode.RECIPIENT_EXEMPT,
}


def paper_for(rnd: ScheduledSend, recipient: Recipient, integration) -> PaperLetter:
    """The round's letter to one recipient as fjernprint prints it. Its short
    code, and that the recipient is exempt, are committed before the letter
    goes: the printed link always works, and a repeat goes on paper too."""
    with db.engine.begin() as conn:
        record_exempt(recipient.id, conn)
        code = ensure_paper_code(recipient.id, conn)
    letter = compose_round(rnd, recipient)
    return paper_letter(letter, code, integration.print_type, rnd.send_at)


def send_with_retries(
    client: Transport,
    message: Message,
    attempts: int,
    paper: PaperLetter | None = None,
    delays: list[float] = (),
    pace: Pace | None = None,
) -> Sent:
    """Transient trouble (503, timeouts, 429) is retried with backoff that
    honours Retry-After; permanent answers are final at once. Every try
    waits for its moment of the organization's pace."""
    while True:
        attempts += 1
        if pace is not None:
            pace.wait()
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
            wait_for = delays[min(attempts, len(delays)) - 1] if delays else 0
            if isinstance(exc, RateLimited):
                if pace is not None:
                    pace.hold(exc.retry_after)  # everyone sending to this gateway waits too
                wait_for = max(wait_for, exc.retry_after)
            time.sleep(min(wait_for, 60))


def round_message(rnd: ScheduledSend, recipient: Recipient, cpr: str, sender_cvr: str, uuid_version: int = 4):
    """The round's letter to one recipient in its MeMo envelope: the same
    content every time, so that a repeated send is a replay, not a conflict."""
    return compose_round(rnd, recipient).message(
        message_uuid=message_uuid(rnd.id, recipient.id, uuid_version),
        sender_cvr=sender_cvr,
        recipient_cpr=cpr,
        created_at=rnd.send_at,
    )


def finish(rnd: ScheduledSend, state: SendState, reason: str | None = None, error: str | None = None) -> str:
    """End the round (finish_round) and, when it went well, look for its
    receipts later."""
    integration = DigitalPostIntegration.find(rnd.org_id)
    # SF1601's receipts come from the message broker instead.
    looks = state == SendState.DONE and not (integration and integration.uses_certificate)
    outcome = finish_round(rnd, state, reason, error, check_at=first_check_at() if looks else None)
    if outcome is None:
        return "finished by another job"
    log.info("round %s (%s) %s; deliveries %s", rnd.id, rnd.kind, outcome, delivery_counts(rnd.id))
    db.session.refresh(rnd)
    schedule_delivery_check(rnd)
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
    if not record_crash(rnd, current_app.config["ROUND_MAX_CRASHES"]):
        return finish(rnd, SendState.FAILED, error=SendError.INTERNAL_ERROR)
    enqueue_rounds([rnd])
    return f"requeued as {rnd.rq_job_id}"
