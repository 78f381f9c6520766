"""Shared helpers for the benchmarks: timing, medians, a server in a thread."""

import logging
import os
import statistics
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from werkzeug.serving import make_server


@contextmanager
def migrated_app(url: str | None, **config):
    """A Postbud app (with `config` on top) on a throwaway database (SQLite,
    or one created on the PostgreSQL server at `url`), migrated, inside its
    app context. After it, the database is dropped and the embedded Redis it
    started (no REDIS_URL) is stopped."""
    from flask_migrate import upgrade

    from app import create_app
    from bench.member_access import database
    from extensions import db, embedded_dir, stop_embedded_redis

    database_url, drop = database(url)
    app = create_app(
        SQLALCHEMY_DATABASE_URI=database_url,
        REDIS_URL=os.environ.get("REDIS_URL", ""),
        TESTING=True,
        SESSION_COOKIE_SECURE=False,
        WTF_CSRF_ENABLED=False,
        **config,
    )
    try:
        with app.app_context():
            upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
            yield app
            db.session.remove()
            db.engine.dispose()
    finally:
        with app.app_context():
            if not os.environ.get("REDIS_URL"):
                stop_embedded_redis(embedded_dir(app))
        drop()


def serve(wsgi_app):
    """Serve a WSGI app on a free loopback port in a thread; return (url, stop)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_port}", server.shutdown


def timed(fn, repeat):
    """Run fn `repeat` times; return the list of durations in milliseconds."""
    durations = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        durations.append((time.perf_counter() - start) * 1000)
    return durations


def report(name, durations, baseline=None):
    median = statistics.median(durations)
    p90 = statistics.quantiles(durations, n=10)[-1] if len(durations) >= 10 else max(durations)
    ratio = f"  x{median / baseline:5.1f} baseline" if baseline else ""
    print(f"{name:<46} median {median:8.2f} ms   p90 {p90:8.2f} ms{ratio}")
    return median
