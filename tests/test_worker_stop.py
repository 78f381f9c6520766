"""A worker stops at once when it is told to or its burst ends.

rq listens for stop commands on a Redis channel in a thread of its own and
ends it on the way out. If that thread has already read the end of its
subscription, it sits in a wait for a new one for as long as rq lets it
(a minute); a redis-py whose `stop()` waits for the thread then holds
every stopping worker, and every burst worker of the tests, for that long.
"""

import threading

from extensions import get_queue, get_redis
from jobs.worker import AppWorker
from tests.test_exactly_once import wait_for


def test_a_worker_whose_listener_has_seen_its_unsubscription_stops_at_once(app):
    worker = AppWorker([get_queue(app)], connection=get_redis(app), name="stop-test")
    worker.subscribe()
    wait_for(lambda: worker.pubsub.subscribed, 30, "the subscription")
    worker.pubsub.unsubscribe()
    wait_for(lambda: not worker.pubsub.subscribed, 30, "the unsubscription")  # read; it waits anew

    stopped = threading.Event()
    threading.Thread(target=lambda: (worker.unsubscribe(), stopped.set()), daemon=True).start()
    # Well inside the minute the listener would otherwise wait.
    assert stopped.wait(timeout=20), "the worker's stop waited for its listener's minute"
