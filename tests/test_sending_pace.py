"""Sending side by side, at a pace: one job keeps several letters in flight
at a slow gateway, workers that share a gateway's limit stay under it
together, and an answer that stops the round stops the letters not begun."""

import contextvars

import pytest
from sqlalchemy import func, select

from models import Delivery, db
from tests.test_exactly_once import (  # noqa: F401 (fixtures)
    assert_exactly_once,
    make_round,
    round_state,
    wait_for,
    workers,
)

pytestmark = pytest.mark.usefixtures("active_integration")
LATENCY_MS = 300


def arrivals(sandbox) -> list[float]:
    """When the gateway took each message it accepted, in seconds from the first."""
    from sandbox.models import DeliveredMessage
    from sandbox.models import db as sandbox_db

    def read():
        with sandbox.app.app_context():
            times = sandbox_db.session.scalars(
                sandbox_db.select(DeliveredMessage.received_at).order_by(DeliveredMessage.received_at)
            ).all()
            sandbox_db.session.remove()
            return [(t - times[0]).total_seconds() for t in times]

    return contextvars.Context().run(read)


def most_within(times: list[float], window: float) -> int:
    """The most arrivals in any span shorter than `window` seconds."""
    most, first = 0, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def extra_tries(round_id) -> int:
    """Tries beyond the first, over the round's letters."""
    return db.session.scalar(select(func.sum(Delivery.attempts - 1)).where(Delivery.round_id == round_id))


@pytest.mark.parametrize(
    ("app", "in_flight"),
    [({"SEND_CONCURRENCY": 1}, 1), ({"SEND_CONCURRENCY": 8}, 8)],
    indirect=["app"],
    ids=["one at a time", "eight in flight"],
)
def test_a_job_keeps_its_letters_in_flight_side_by_side_at_a_slow_gateway(
    app, make_round, sandbox, run_jobs, in_flight
):
    """Each answer takes 300 ms: one letter at a time, no two arrive within
    that time; with eight in flight, several do, and all arrive once."""
    sandbox.configure(SANDBOX_LATENCY_MS=LATENCY_MS)
    rnd = make_round(24)
    run_jobs()
    assert round_state(rnd.id).state == "done"
    assert_exactly_once(sandbox, 24)
    together = most_within(arrivals(sandbox), LATENCY_MS / 1000 * 0.8)
    if in_flight == 1:
        assert together == 1
    else:
        assert together >= 4, f"at most {together} letters arrived within one answer's time"


def test_workers_that_share_the_gateways_limit_stay_under_it_together(make_round, workers, sandbox):
    """The gateway takes 10 sends a second and answers 429 above it. Two
    workers with four letters in flight each, told the limit, share one
    pace: every letter arrives once, and at most a tenth of the letters were
    refused and tried again (a loaded machine bunches a few arrivals; the
    same round told no limit needs about a quarter of them tried again).
    How many a second the gateway took is its own limiter's doing, which
    refuses the rest: the refusals are what tell the workers' pace."""
    sandbox.configure(SANDBOX_RATE_LIMIT=10)
    rnd = make_round(40)
    w = workers(ROUND_WORKERS=2, SEND_CONCURRENCY=4, DIGITAL_POST_RATE_LIMIT=10)
    w.start(2)
    wait_for(lambda: round_state(rnd.id).state == "done", 120, "the round", w.logs)
    assert_exactly_once(sandbox, 40)
    assert extra_tries(rnd.id) <= 40 // 10


def test_without_the_limit_the_same_workers_are_refused_and_still_deliver_once(make_round, workers, sandbox):
    """The same round with no limit told: the gateway refuses (429); every
    sender waits out its Retry-After, and each letter arrives once."""
    sandbox.configure(SANDBOX_RATE_LIMIT=10)
    rnd = make_round(40)
    w = workers(ROUND_WORKERS=2, SEND_CONCURRENCY=4, SEND_RETRY_DELAYS="0.1,0.2,0.5,1")
    w.start(2)
    wait_for(lambda: round_state(rnd.id).state == "done", 120, "the round", w.logs)
    assert extra_tries(rnd.id) >= 1, "the gateway never refused"
    assert all(k == 1 for k in sandbox.message_counts().values())


def test_a_refused_key_stops_the_round_and_leaves_the_letters_not_sent_pending(app, make_round, sandbox, run_jobs):
    """The gateway stops knowing the key while eight letters are in flight:
    the round fails with the key's error, nothing is sent or counted as
    failed for a recipient, and every letter is still waiting."""
    keys = dict(sandbox.app.config["SANDBOX_KEYS"])
    sandbox.configure(SANDBOX_KEYS={})
    try:
        rnd = make_round(120)
        run_jobs()
    finally:
        sandbox.configure(SANDBOX_KEYS=keys)
    done = round_state(rnd.id)
    assert (done.state, done.error) == ("failed", "invalid_api_key")
    assert sandbox.message_counts() == {}
    states = dict(
        db.session.execute(
            select(Delivery.state, func.count()).where(Delivery.round_id == rnd.id).group_by(Delivery.state)
        ).all()
    )
    assert states == {"pending": 120}, states
