"""Housekeeping that the worker runs every WORKER_MAINTENANCE_INTERVAL, once
across all workers: the database is the source of truth, and Redis may lose
what it held (restarted empty, down when a share was confirmed) or a worker
may die with a job.

- Rounds the database says are scheduled or running, whose job Redis no
  longer has, are enqueued again; those whose job failed or was stopped get
  a new job (a crash, counted). Job ids come from the rows and messages
  carry deterministic messageUUIDs, so doing this twice sends nothing twice.
- Verification mails and test letters still unsent after
  VERIFICATION_SEND_DEADLINE get their outcome (stalled), whether or not
  anyone is looking at the page.
- Retention: a confirmed share with nothing more to send loses its CPRs.
"""

import logging
from datetime import timedelta

from flask import current_app
from rq.job import Job
from sqlalchemy import select

from extensions import db, get_queue, redis_key, refresh_statistics
from jobs.sending import enqueue_rounds, recover_round
from models import DigitalPostIntegration
from models.contacts import expire_contacts
from models.integration import Sending, mark_stalled
from models.sharing.lifecycle import expire_drafts, forget_finished_cprs
from models.sharing.rounds import unfinished_rounds
from models.test_letters import expire_stalled_test_letters

log = logging.getLogger(__name__)


def lock_key() -> str:
    return redis_key("housekeeping")


DEAD = {"failed", "stopped", "canceled"}


def requeue_orphaned_rounds() -> int:
    queue = get_queue()
    rounds = unfinished_rounds()
    if not rounds:
        return 0
    with queue.connection.pipeline(transaction=False) as pipe:
        for r in rounds:
            pipe.hget(Job.key_for(queue.job_id(r.rq_job_id or r.job_id)), "status")
        statuses = [s.decode() if s else None for s in pipe.execute()]
    lost = [r for r, status in zip(rounds, statuses) if status is None]
    dead = [r.id for r, status in zip(rounds, statuses) if status in DEAD]
    if lost:
        enqueue_rounds(lost)
        log.warning("requeued %d rounds that had no job in Redis: %s", len(lost), [r.id for r in lost])
    for round_id in dead:
        log.warning("round %s: its job died; %s", round_id, recover_round(round_id))
    return len(lost) + len(dead)


def expire_stalled_verifications() -> int:
    deadline = timedelta(seconds=current_app.config["VERIFICATION_SEND_DEADLINE"])
    waiting = db.session.scalars(
        select(DigitalPostIntegration).where(
            DigitalPostIntegration.attempt_id.is_not(None), DigitalPostIntegration.sending_status == Sending.SENDING
        )
    ).all()
    expired = sum(1 for integration in waiting if mark_stalled(integration, deadline))
    expired += expire_stalled_test_letters(deadline)
    db.session.commit()
    return expired


def apply_retention() -> int:
    """CPRs of shares with nothing more to send (a round's own cleanup may
    have died with its worker)."""
    forgotten = forget_finished_cprs()
    db.session.commit()
    return forgotten


def expire_unfinished_drafts() -> int:
    """Drafts older than their organization's draft_days, with their CPRs."""
    deleted = expire_drafts()
    db.session.commit()
    return deleted


def expire_old_contacts() -> int:
    """The contact cap's entries older than their organization's period."""
    deleted = expire_contacts()
    db.session.commit()
    return deleted


def refresh_database_statistics() -> bool:
    """The planner's statistics, as members, recipients and answers come and go."""
    return refresh_statistics()


def run_housekeeping() -> None:
    """Once per interval across all workers (a Redis lock), never raising:
    the worker must go on with its jobs whatever happens here."""
    interval = current_app.config["WORKER_MAINTENANCE_INTERVAL"]
    if not get_queue().connection.set(lock_key(), "1", nx=True, ex=max(interval - 1, 1)):
        return
    for duty in (
        requeue_orphaned_rounds,
        expire_stalled_verifications,
        apply_retention,
        expire_unfinished_drafts,
        expire_old_contacts,
        refresh_database_statistics,
    ):
        try:
            duty()
        except Exception:
            db.session.rollback()
            log.exception("housekeeping: %s failed", duty.__name__)
    db.session.remove()
