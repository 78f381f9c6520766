"""The rq worker: one process executes every background job of Postbud."""
import os

from rq import Worker

from extensions import db
from jobs.connection import get_queue, get_redis


class AppWorker(Worker):
    """A forking rq worker whose jobs run inside the Flask application context.

    The parent pushes the app context once; each forked work horse inherits it
    and starts with a fresh connection pool, since a database connection must
    never be shared across a fork.
    """

    def main_work_horse(self, job, queue):
        db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)


def run_worker(app, burst=False, worker_class=AppWorker):
    with app.app_context():
        queue = get_queue(app)
        w = worker_class([queue], connection=get_redis(app), name=f"postbud-{os.getpid()}")
        w.work(burst=burst, with_scheduler=True, logging_level="INFO")
