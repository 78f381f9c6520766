"""Was it delivered? After a round, the worker asks the gateway for the
status of each message it sent (GET /v1/messages/<messageUUID>), at growing
intervals (DELIVERY_CHECK_DELAYS), until every one is delivered or failed or
the intervals run out. The round's row holds its next look (check_at,
checks): the job only carries it out, and housekeeping queues a look that
Redis lost. Reading a status changes nothing at the gateway, so the job is
safe to run twice; each pass records what it learnt before it moves on.
"""

import logging
from datetime import datetime, timedelta, timezone

from flask import current_app
from redis.exceptions import RedisError

from digitalpost import MessageNotFound, TransientError
from extensions import db, get_queue
from jobs.gateway import transport_for
from models import DigitalPostIntegration
from models.base import utcnow
from models.sharing import ScheduledSend, message_uuid
from models.sharing.rounds import advance_check, awaiting_delivery, record_delivery_status

log = logging.getLogger(__name__)
CHECKED_AT_ONCE = 500  # deliveries looked up per read
NOT_DUE_SLACK = timedelta(seconds=5)  # the scheduler's clock and the database's may differ a little


def check_delay(attempt: int) -> timedelta | None:
    """How long after the round (look 0) or the last look the look comes; None: no more."""
    delays = current_app.config["DELIVERY_CHECK_DELAYS"]
    return timedelta(seconds=delays[attempt]) if attempt < len(delays) else None


def first_check_at() -> datetime | None:
    delay = check_delay(0)
    return utcnow() + delay if delay is not None else None


def schedule_delivery_check(rnd: ScheduledSend) -> bool:
    """Queue the round's next look, as its row says, after it is committed.
    Losing it (Redis down) is logged, not raised: housekeeping queues it."""
    if rnd.check_at is None:
        return False
    options = dict(
        job_id=rnd.check_job_id,
        result_ttl=24 * 3600,
        failure_ttl=7 * 24 * 3600,
        description=f"delivery check {rnd.checks + 1} of round {rnd.id}",
    )
    try:
        queue = get_queue()
        if rnd.check_at <= utcnow():
            queue.enqueue(check_deliveries, rnd.id, rnd.checks, **options)
        else:
            queue.enqueue_at(rnd.check_at, check_deliveries, rnd.id, rnd.checks, **options)
    except RedisError:
        log.warning("delivery check %d of round %s could not be queued", rnd.checks + 1, rnd.id)
        return False
    return True


def move_on(rnd: ScheduledSend, attempt: int, more: bool) -> bool:
    """Look number `attempt` is over; with `more` to learn, the next look (if
    any is left) is written and queued. True when one was queued."""
    delay = check_delay(attempt + 1) if more else None
    moved = advance_check(rnd, attempt, utcnow() + delay if delay is not None else None)
    return moved and delay is not None and schedule_delivery_check(rnd)


def skip_check(rnd: ScheduledSend) -> bool:
    """The round's look whose job died learnt nothing: on to the next."""
    return move_on(rnd, rnd.checks, more=True)


def check_deliveries(round_id: int, attempt: int = 0) -> str:
    rnd = db.session.get(ScheduledSend, round_id)
    if rnd is None:
        return "gone"
    if rnd.check_at is None or rnd.checks != attempt:
        return f"nothing to do: look {attempt + 1} is not the round's next"
    if rnd.check_at > utcnow() + NOT_DUE_SLACK:
        return "not due yet"
    integration = DigitalPostIntegration.find(rnd.org_id)
    if integration is None or not integration.is_active or integration.uses_certificate:
        move_on(rnd, attempt, more=False)
        if integration is not None and integration.uses_certificate:
            return "not checked: SF1601's receipts come from the message broker"
        return "not checked: Digital Post is not enabled"
    delivered = failed = waiting = 0
    last_id = 0
    with transport_for(integration) as client:
        while True:
            chunk = awaiting_delivery(round_id, after=last_id, limit=CHECKED_AT_ONCE)
            if not chunk:
                break
            last_id = chunk[-1].id
            arrived, lost = [], []
            try:
                for delivery_id, recipient_id, uuid_version in chunk:
                    status = client.status(message_uuid(round_id, recipient_id, uuid_version))
                    if status.status == "delivered":
                        when = status.delivered_at or datetime.now(timezone.utc)
                        arrived.append({"d_id": delivery_id, "r_id": recipient_id, "at": when})
                    elif status.status == "failed":
                        lost.append({"d_id": delivery_id, "r_id": recipient_id})
                    else:
                        waiting += 1
            except (TransientError, MessageNotFound) as exc:
                log.warning("delivery check of round %s stopped early: %s", round_id, exc.code)
                waiting += 1
                record_delivery_status(rnd, arrived, lost)
                break
            finally:
                delivered, failed = delivered + len(arrived), failed + len(lost)
            record_delivery_status(rnd, arrived, lost)
    outcome = f"delivered {delivered}, failed {failed}, waiting {waiting}"
    if move_on(rnd, attempt, more=bool(waiting)):
        outcome += "; next look queued"
    elif waiting:
        outcome += "; no more looks queued"
    log.info("delivery check %d of round %s: %s", attempt + 1, round_id, outcome)
    return outcome
