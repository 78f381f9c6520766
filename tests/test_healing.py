"""Healing in one interval, with real worker processes: whatever Redis lost,
and however idle or busy the workers are, every due round and every due
delivery look runs at most one WORKER_MAINTENANCE_INTERVAL (plus its own
sending time) late, because the database knows them all."""

from datetime import timedelta

import pytest
from rq.job import Job
from sqlalchemy import func, select

from extensions import get_queue, get_redis
from jobs.housekeeping import lock_key
from models import Delivery, Recipient, db
from models.base import utcnow
from tests.test_exactly_once import (  # noqa: F401 (fixtures)
    assert_exactly_once,
    make_round,
    round_state,
    wait_for,
    workers,
)

pytestmark = pytest.mark.usefixtures("active_integration")
INTERVAL = 3
SLACK = 3  # the worker's own start of a job, and the clocks of two processes


def idle(app, w):
    """The worker has done its first housekeeping and waits on the queue."""
    wait_for(lambda: get_redis(app).exists(lock_key()), 60, "the first housekeeping", w.logs)


def test_an_idle_worker_heals_a_round_redis_lost_within_one_interval(app, make_round, workers, sandbox):
    """rq's idle worker waited on the queue for 405 s and ran housekeeping
    only between jobs: the lost round went 299 s late."""
    w = workers(WORKER_MAINTENANCE_INTERVAL=INTERVAL)
    w.start(1)
    idle(app, w)
    send_at = utcnow() + timedelta(seconds=2)
    rnd = make_round(200, send_at=send_at)
    get_redis(app).flushdb()  # Redis restarted empty while the worker waited
    wait_for(lambda: round_state(rnd.id).state == "done", 60, "the round", w.logs)
    late = (round_state(rnd.id).started_at - send_at).total_seconds()
    assert late <= INTERVAL + SLACK, f"started {late:.1f} s after its time"
    assert_exactly_once(sandbox, 200)


def test_a_delivery_look_redis_lost_runs_from_the_database(app, make_round, workers, sandbox):
    """The flush also took a done round's next look; it never ran, and its
    letters never became "delivered"."""
    w = workers(WORKER_MAINTENANCE_INTERVAL=INTERVAL, DELIVERY_CHECK_DELAYS="4,60")
    w.start(1)
    rnd = make_round(20)
    wait_for(lambda: round_state(rnd.id).state == "done", 60, "the round", w.logs)
    check_at = round_state(rnd.id).check_at
    assert check_at is not None and round_state(rnd.id).checks == 0
    get_redis(app).flushdb()  # before the look's time: its job is gone
    assert utcnow() < check_at, "the look ran before the flush; the test proves nothing"

    def looked_and_delivered():
        # The look commits the receipts, then its move on: wait for both.
        delivered = db.session.scalar(select(func.count()).where(Delivery.delivered_at.is_not(None)))
        return delivered == 20 and round_state(rnd.id).check_at is None

    wait_for(looked_and_delivered, 60, "the look", w.logs)
    looked = round_state(rnd.id)
    assert looked.check_at is None and looked.checks == 1  # every receipt in: no look left
    late = (utcnow() - check_at).total_seconds()
    assert late <= INTERVAL + SLACK + 1, f"looked {late:.1f} s after its time"
    assert set(db.session.scalars(select(Recipient.state))) == {"delivered"}


def test_a_busy_worker_still_keeps_house(app, make_round, workers, sandbox):
    """The only worker sends a long round; a round whose job Redis lost gets
    its job again within an interval, not after the long one, and goes as
    soon as the worker is free."""
    sandbox.configure(SANDBOX_LATENCY_MS=50)
    # One letter in flight, so the long round lasts while the lost one heals.
    w = workers(WORKER_MAINTENANCE_INTERVAL=INTERVAL, ROUND_WORKERS=1, SEND_CONCURRENCY=1)
    w.start(1)
    long_round = make_round(300)  # 300 × 50 ms: 15 s at least
    wait_for(lambda: round_state(long_round.id).state == "running", 60, "the long round", w.logs)
    lost = make_round(10, send_at=utcnow() + timedelta(seconds=1))
    queue = get_queue(app)
    queue.scheduled_job_registry.remove(queue.job_id(lost.job_id))
    Job.fetch(queue.job_id(lost.job_id), connection=queue.connection).delete()
    lost_at = utcnow()

    def queued_again():
        return queue.connection.exists(Job.key_for(queue.job_id(lost.job_id)))

    wait_for(queued_again, 60, "the lost round's job", w.logs)
    assert round_state(long_round.id).state == "running", "the long round ended first; the test proves nothing"
    took = (utcnow() - lost_at).total_seconds()
    assert took <= 2 * INTERVAL + SLACK, f"queued again after {took:.1f} s"  # the interval, then a look at the job
    wait_for(lambda: round_state(lost.id).state == "done", 120, "the lost round", w.logs)
    assert round_state(lost.id).started_at <= round_state(long_round.id).finished_at + timedelta(seconds=SLACK)
    # The same 10 citizens are in both shares: one letter from each, no more.
    counts = sandbox.message_counts()
    assert sum(counts.values()) == 310 and max(counts.values()) == 2
    assert db.session.scalar(select(func.count()).where(Delivery.state == "sent")) == 310
