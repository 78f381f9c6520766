"""Was it delivered? After a round, the worker asks the gateway for the
status of each message it sent (GET /v1/messages/<messageUUID>), at growing
intervals (DELIVERY_CHECK_DELAYS), until every one is delivered or failed or
the intervals run out. Reading a status changes nothing at the gateway, so
the job is safe to run twice; each pass records what it learnt before it
schedules the next.
"""

import logging
from datetime import datetime, timedelta, timezone

from flask import current_app
from redis.exceptions import RedisError

from digitalpost import MessageNotFound, TransientError
from extensions import db, get_queue
from jobs.gateway import transport_for
from models import DigitalPostIntegration
from models.sharing import ScheduledSend, message_uuid
from models.sharing.rounds import awaiting_delivery, record_delivery_status

log = logging.getLogger(__name__)
CHECKED_AT_ONCE = 500  # deliveries looked up per read


def schedule_delivery_check(round_id: int, attempt: int = 0) -> bool:
    """Queue the next look, if any is left. Losing it (Redis down) loses only
    the "delivered" mark, never a message, so it is logged and not raised."""
    delays = current_app.config["DELIVERY_CHECK_DELAYS"]
    if attempt >= len(delays):
        return False
    options = dict(
        job_id=f"delivery-check-{round_id}-{attempt}",
        result_ttl=24 * 3600,
        failure_ttl=7 * 24 * 3600,
        description=f"delivery check {attempt + 1} of round {round_id}",
    )
    try:
        queue = get_queue()
        if delays[attempt] <= 0:
            queue.enqueue(check_deliveries, round_id, attempt, **options)
        else:
            queue.enqueue_in(timedelta(seconds=delays[attempt]), check_deliveries, round_id, attempt, **options)
    except RedisError:
        log.warning("delivery check %d of round %s could not be queued", attempt + 1, round_id)
        return False
    return True


def check_deliveries(round_id: int, attempt: int = 0) -> str:
    rnd = db.session.get(ScheduledSend, round_id)
    integration = DigitalPostIntegration.find(rnd.org_id) if rnd else None
    if integration is None or not integration.is_active:
        return "not checked: Digital Post is not enabled"
    if integration.uses_certificate:
        return "not checked: SF1601's receipts come from the message broker"
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
    if waiting:
        outcome += "; next look queued" if schedule_delivery_check(round_id, attempt + 1) else "; no more looks"
    log.info("delivery check %d of round %s: %s", attempt + 1, round_id, outcome)
    return outcome
