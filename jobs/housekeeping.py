"""Housekeeping that the worker runs between jobs: the database is the
source of truth, and Redis may lose what it held (restarted empty, or down
when a share was confirmed). Rounds that the database says are scheduled or
running, but for which Redis has no job, are enqueued again; their job ids
derive from the rows and their messages from deterministic messageUUIDs, so
doing this twice, or for a round whose job merely looked missing, sends
nothing twice."""

import logging

from rq.job import Job
from sqlalchemy import select

from extensions import db, get_queue
from jobs.sending import enqueue_rounds
from models.sharing import ScheduledSend, SendState

log = logging.getLogger(__name__)


def requeue_orphaned_rounds() -> int:
    queue = get_queue()
    rounds = db.session.scalars(
        select(ScheduledSend).where(ScheduledSend.state.in_((SendState.SCHEDULED, SendState.RUNNING)))
    ).all()
    if not rounds:
        return 0
    with queue.connection.pipeline(transaction=False) as pipe:
        for r in rounds:
            pipe.exists(Job.key_for(r.job_id))
        present = pipe.execute()
    orphans = [r for r, exists in zip(rounds, present) if not exists]
    if orphans:
        enqueue_rounds(orphans)
        log.warning("requeued %d rounds that had no job in Redis: %s", len(orphans), [r.id for r in orphans])
    return len(orphans)


def run_housekeeping() -> None:
    """Once per interval across all workers (a Redis lock), never raising:
    the worker must go on with its jobs whatever happens here."""
    from flask import current_app

    interval = current_app.config["WORKER_MAINTENANCE_INTERVAL"]
    if not get_queue().connection.set("postbud:housekeeping", "1", nx=True, ex=max(interval - 1, 1)):
        return
    try:
        requeue_orphaned_rounds()
    except Exception:
        log.exception("housekeeping failed")
    finally:
        db.session.remove()
