"""Health checks for load balancers and monitoring.

`/healthz` answers without work: the process is up (and the benchmarks'
baseline). `/healthz/ready` checks what the web needs, the database and
Redis, and answers 503 when either fails, so a load balancer sends no
traffic there; it also reports whether any worker has a live heartbeat and
whether the Digital Post gateway answers, which a monitor alerts on but a
load balancer should not act on (the web works without them).
"""

import time

import httpx
from flask import Blueprint, current_app, jsonify
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from extensions import db, get_queue

bp = Blueprint("health", __name__)
GATEWAY_TIMEOUT = 2.0  # seconds; a check must not hang a load balancer's probe


@bp.get("/healthz")
def healthz():
    return "ok", 200, {"Content-Type": "text/plain"}


def check_database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        return "ok"
    except SQLAlchemyError as exc:
        db.session.rollback()
        return f"failing: {type(exc).__name__}"


def check_redis() -> str:
    try:
        get_queue().connection.ping()
        return "ok"
    except RedisError as exc:
        return f"failing: {type(exc).__name__}"


def check_workers() -> str:
    """A worker's heartbeat is at most its TTL old while it lives."""
    try:
        queue = get_queue()
        now = time.time()
        alive = [
            w for w in Worker.all(queue=queue) if w.last_heartbeat and now - w.last_heartbeat.timestamp() < w.worker_ttl
        ]
    except RedisError as exc:
        return f"unknown: {type(exc).__name__}"
    return f"ok: {len(alive)}" if alive else "failing: no worker with a live heartbeat"


def check_gateway() -> str:
    """Any HTTP answer means the gateway is reachable; it refuses a request
    without a key (401), which is all this asks."""
    url = current_app.config["DIGITAL_POST_API_URL"].rstrip("/") + "/v1/messages/healthz"
    try:
        status = httpx.get(url, timeout=GATEWAY_TIMEOUT).status_code
    except httpx.HTTPError as exc:
        return f"failing: {type(exc).__name__}"
    return "ok" if status < 500 else f"failing: HTTP {status}"


@bp.get("/healthz/ready")
def ready():
    checks = {
        "database": check_database(),
        "redis": check_redis(),
        "worker": check_workers(),
        "gateway": check_gateway(),
    }
    serving = checks["database"] == "ok" and checks["redis"] == "ok"
    healthy = serving and all(v.startswith("ok") for v in checks.values())
    status = "ok" if healthy else ("degraded" if serving else "failing")
    return jsonify(status=status, checks=checks), 200 if serving else 503
