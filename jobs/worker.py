"""The rq worker: one process executes every background job of Postbud."""

import os
import socket

from rq import Worker
from rq.callbacks import execute_failure_callback
from rq.exceptions import AbandonedJobError

import logs
from extensions import db, get_queue, get_redis, installation
from jobs.housekeeping import run_housekeeping


class AppWorker(Worker):
    """A forking rq worker whose jobs run inside the Flask application context.

    The parent pushes the app context once; each forked work horse inherits it
    and starts with a fresh connection pool, since a database connection must
    never be shared across a fork.
    """

    def main_work_horse(self, job, queue):
        db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)

    @property
    def dequeue_timeout(self) -> int:
        # rq waits on an empty queue for worker_ttl - 15 s (405 s) and runs
        # its maintenance, and so housekeeping, only between jobs: an idle
        # worker wakes once per interval instead.
        return max(1, min(super().dequeue_timeout, self.maintenance_interval))

    def maintain_heartbeats(self, job, execution):
        # Every job_monitoring_interval while a job runs: the housekeeping (and
        # a scheduler whose process died) must not wait for a long round.
        super().maintain_heartbeats(job, execution)
        if self.should_run_maintenance_tasks:
            try:
                self.run_maintenance_tasks()
            except Exception:
                self.log.exception("maintenance during job %s failed", job.id)

    def clean_registries(self):
        super().clean_registries()  # rq's own maintenance, every maintenance_interval
        run_housekeeping()

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):
        # rq fails or retries a job whose work horse was killed (OOM, SIGKILL)
        # without calling its failure callback; the callback is where a job
        # records its outcome, so call it as for a job abandoned by its worker.
        try:
            execute_failure_callback(job, self.death_penalty_class, AbandonedJobError, AbandonedJobError(), None)
        except Exception:
            self.log.exception("failure callback of job %s raised", job.id)


def run_worker(app, burst=False, worker_class=AppWorker):
    with app.app_context():
        queue = get_queue(app)
        w = worker_class(
            [queue],
            connection=get_redis(app),
            # Unique in the Redis that several installations and hosts may share.
            name=f"{installation(app)}-{socket.gethostname()}-{os.getpid()}",
            maintenance_interval=app.config["WORKER_MAINTENANCE_INTERVAL"],
            job_monitoring_interval=min(30, app.config["WORKER_MAINTENANCE_INTERVAL"]),
        )
        w.work(burst=burst, with_scheduler=True, logging_level="INFO", log_format=logs.FORMAT)
