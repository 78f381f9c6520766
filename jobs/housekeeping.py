"""Housekeeping that the worker runs every WORKER_MAINTENANCE_INTERVAL, once
across all workers: the database is the source of truth, and Redis may lose
what it held (restarted empty, down when a share was confirmed) or a worker
may die with a job.

- Rounds the database says are scheduled or running, whose job Redis no
  longer has, are enqueued again; those whose job failed or was stopped get
  a new job (a crash, counted). Job ids come from the rows and messages
  carry deterministic messageUUIDs, so doing this twice sends nothing twice.
- Delivery looks the database has (check_at) and Redis lost are queued
  again, the same way.
- A due job that rq's scheduler has not moved (no scheduler runs) is queued
  at once, so nothing waits for a scheduler to come back.
- Verification mails and test letters still unsent after
  VERIFICATION_SEND_DEADLINE get their outcome (stalled), whether or not
  anyone is looking at the page.
- Retention: a confirmed share with nothing more to send loses its CPRs.
- SQLite: an organization with many members left out of the member
  search's name order is numbered anew (models.search_order).
"""

import logging
from datetime import timedelta

from flask import current_app
from rq.job import Job
from sqlalchemy import select

from extensions import db, get_queue, redis_key, refresh_statistics
from jobs.delivery_status import schedule_delivery_check, skip_check
from jobs.sending import enqueue_rounds, recover_round
from models import DigitalPostIntegration
from models.base import utcnow
from models.contacts import expire_contacts
from models.integration import Sending, mark_stalled
from models.search_order import fold_where_pending, order_where_many_are_left_out
from models.sharing.lifecycle import expire_drafts, forget_finished_cprs
from models.sharing.rounds import pending_checks, unfinished_rounds
from models.test_letters import expire_stalled_test_letters

log = logging.getLogger(__name__)


def lock_key() -> str:
    return redis_key("housekeeping")


DEAD = {"failed", "stopped", "canceled"}
# A due job still in rq's scheduled registry this long: no scheduler is
# moving it (its process died, or the lock is held by a dead worker's).
STUCK_AFTER = timedelta(seconds=5)


def job_statuses(queue, job_ids: list[str]) -> list[str | None]:
    """rq's status of each job (None: Redis does not have it), in one round trip."""
    with queue.connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(Job.key_for(queue.job_id(job_id)), "status")
        return [s.decode() if s else None for s in pipe.execute()]


def unstick(queue, job_ids: list[str]) -> None:
    """Take due jobs out of the scheduled registry, to be queued at once."""
    registry = queue.scheduled_job_registry
    with queue.connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            registry.remove(queue.job_id(job_id), pipeline=pipe)
        pipe.execute()


def requeue_orphaned_rounds() -> int:
    queue = get_queue()
    rounds = unfinished_rounds()
    if not rounds:
        return 0
    statuses = job_statuses(queue, [r.rq_job_id or r.job_id for r in rounds])
    stuck_before = utcnow() - STUCK_AFTER
    lost = [r for r, status in zip(rounds, statuses) if status is None]
    stuck = [r for r, status in zip(rounds, statuses) if status == "scheduled" and r.send_at < stuck_before]
    dead = [r.id for r, status in zip(rounds, statuses) if status in DEAD]
    if stuck:
        unstick(queue, [r.rq_job_id or r.job_id for r in stuck])
        log.warning("queued %d due rounds that no scheduler moved: %s", len(stuck), [r.id for r in stuck])
    if lost or stuck:
        enqueue_rounds(lost + stuck)
    if lost:
        log.warning("requeued %d rounds that had no job in Redis: %s", len(lost), [r.id for r in lost])
    for round_id in dead:
        log.warning("round %s: its job died; %s", round_id, recover_round(round_id))
    return len(lost) + len(stuck) + len(dead)


def requeue_orphaned_checks() -> int:
    """Delivery looks the database has and Redis lost (or holds past their
    time): queued again; a look whose job died is skipped for the next."""
    queue = get_queue()
    rounds = pending_checks()
    if not rounds:
        return 0
    statuses = job_statuses(queue, [r.check_job_id for r in rounds])
    stuck_before = utcnow() - STUCK_AFTER
    healed = 0
    for rnd, status in zip(rounds, statuses):
        if status is None:
            log.warning("round %s: delivery check %d had no job in Redis", rnd.id, rnd.checks + 1)
        elif status == "scheduled" and rnd.check_at < stuck_before:
            unstick(queue, [rnd.check_job_id])
            log.warning("round %s: delivery check %d was due and not moved", rnd.id, rnd.checks + 1)
        elif status == "finished":  # it ran before its time (or is an old job of that name)
            log.warning("round %s: delivery check %d is still to come", rnd.id, rnd.checks + 1)
        elif status in DEAD:
            log.warning("round %s: delivery check %d ended as %s; on to the next", rnd.id, rnd.checks + 1, status)
            skip_check(rnd)
            healed += 1
            continue
        else:
            continue
        schedule_delivery_check(rnd)
        healed += 1
    return healed


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


def order_member_search() -> int:
    """SQLite: organizations whose newcomers found no key left in the
    search index's name order, numbered anew; PostgreSQL: members pending,
    added to their ranges of that order (models.search_order)."""
    ordered = order_where_many_are_left_out()
    db.session.commit()
    folded = fold_where_pending()
    db.session.commit()
    if folded:
        log.info("added members to the member search's ranges in name order: organizations %s", folded)
    if ordered:
        log.info("numbered the member search anew in name order: organizations %s", ordered)
    return len(ordered)


def run_housekeeping() -> None:
    """Once per interval across all workers (a Redis lock), never raising:
    the worker must go on with its jobs whatever happens here."""
    interval = current_app.config["WORKER_MAINTENANCE_INTERVAL"]
    if not get_queue().connection.set(lock_key(), "1", nx=True, ex=max(interval - 1, 1)):
        return
    for duty in (
        requeue_orphaned_rounds,
        requeue_orphaned_checks,
        expire_stalled_verifications,
        apply_retention,
        expire_unfinished_drafts,
        expire_old_contacts,
        order_member_search,
        refresh_database_statistics,
    ):
        try:
            duty()
        except Exception:
            db.session.rollback()
            log.exception("housekeeping: %s failed", duty.__name__)
    db.session.remove()
