"""Sending that scales: messages per second for 1, 2 and 4 workers, beside a
raw client with as many connections, against a gateway that answers after a
fixed latency, as one across a network does.

    .venv/bin/python bench/sending_scale.py postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/sending_scale.py URL --messages 4000 --latency 50 --concurrency 8 --rate-limit 100

Real processes: the sandbox gateway under gunicorn (SANDBOX_LATENCY_MS), and
1, 2 and 4 `flask worker` processes (ROUND_WORKERS the same, SEND_CONCURRENCY
letters in flight per job); a throwaway PostgreSQL database (dropped after)
and Redis at REDIS_URL (default redis://127.0.0.1:6379/0). Each worker count
sends a round of its own of --messages recipients.

The baseline, in the same run: a raw DigitalPostClient sending the same
number of messages to the same sandbox from N threads, for N = 1, 2 and 4
times SEND_CONCURRENCY. Then a sandbox with SANDBOX_RATE_LIMIT and four
workers with the same DIGITAL_POST_RATE_LIMIT: messages per second and the
429s the sandbox answered.

Goals (exit 1 when one is missed): one worker at least 70% of the raw
client at the same concurrency; four workers at least 3.2x one worker;
under the rate limit at least 85% of it at the sandbox (the pace runs at
95%), no second over it, and 429s under 1% of the messages.

The default --concurrency is 2: on a machine of two cores, eight letters
in flight per worker make the CPU, not the gateway's latency, the ceiling
for the raw client and the workers alike (the raw client at 32 connections
is not much faster than at 8), and workers cannot scale past it. Run
--concurrency 8 for the product's default.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POSTBUD_INSTANCE_DIR", tempfile.mkdtemp(prefix="postbud-scale-"))

import sqlalchemy as sa
from flask_migrate import upgrade

from app import create_app
from bench.load import free_port, send_and_time, wait_http
from bench.member_access import database
from bench.sharing import CVR, KEY, cprs, csv_bytes, new_share, raw_letter, setup

ROOT = Path(__file__).resolve().parent.parent


def seed(app, db, messages: int, shares: int) -> list[int]:
    """The benchmark organization (bench/sharing.py) and `shares` shares of
    `messages` recipients each, confirmed for tomorrow; their rounds' ids."""
    from models.base import utcnow
    from models.sharing import RoundKind
    from models.sharing.lifecycle import confirm_share
    from models.sharing.schedule import PlannedRound

    _org, _user, membership, survey = setup(app, db)
    rounds = []
    for k in range(shares):
        share = new_share(db, survey, membership, csv_bytes(messages, start=k * messages))
        tomorrow = [PlannedRound(RoundKind.INVITATION, utcnow() + timedelta(days=1))]
        _, planned = confirm_share(share, tomorrow, may_share=True)
        db.session.commit()
        rounds.append(planned[0].id)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return rounds


class Sandbox:
    """The sandbox gateway under gunicorn, its access log kept for the 429s."""

    def __init__(self, env: dict, logs: Path, name: str, threads: int, processes: int = 1, **settings):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = logs / f"{name}-access.log"
        command = [
            str(ROOT / ".venv" / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", str(processes),
            "--threads", str(threads), "--access-logfile", str(self.access_log), "sandbox.app:create_app()",
        ]  # fmt: skip
        sandbox_env = {**env, **{k: str(v) for k, v in settings.items()}}
        self.log = open(logs / f"{name}.log", "w")
        self.proc = subprocess.Popen(command, cwd=ROOT, env=sandbox_env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(f"{self.url}/v1/messages/x")

    def answered(self, status: int) -> int:
        with open(self.access_log) as f:
            return sum(f'" {status} ' in line for line in f)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def raw_rate(url: str, messages: int, threads: int) -> float:
    """A raw client: `threads` threads sharing one DigitalPostClient (its
    connection pool), `messages` messages in all; messages per second."""
    from digitalpost import DigitalPostClient

    numbers = list(cprs(messages, start=900_000))
    counter = iter(range(messages))
    lock = threading.Lock()

    with DigitalPostClient(url, KEY) as client:

        def loop():
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                client.send(raw_letter(i, numbers[i]))

        pool = [threading.Thread(target=loop) for _ in range(threads)]
        start = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return messages / (time.perf_counter() - start)


def start_workers(env: dict, logs: Path, count: int, name: str) -> list[subprocess.Popen]:
    procs = []
    for i in range(count):
        log = open(logs / f"{name}-worker-{i}.log", "w")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", "worker"],
                cwd=ROOT,
                env={**env, "ROUND_WORKERS": str(count)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return procs


def wait_registered(app, count: int, seconds: float = 60) -> None:
    """Until `count` rq workers listen on the queue (started, connected, idle)."""
    from rq import Worker

    from extensions import get_queue

    deadline = time.monotonic() + seconds
    with app.app_context():
        queue = get_queue()
        while time.monotonic() < deadline:
            if Worker.count(queue=queue) >= count:
                return
            time.sleep(0.1)
    raise RuntimeError(f"{count} workers did not start")


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def attempts_beyond_one(db, round_id: int) -> int:
    from models import Delivery

    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Delivery.attempts - 1), 0)).where(Delivery.round_id == round_id)
    )


def arrivals_since(db, since) -> tuple[float, int]:
    """Of the messages the sandbox accepted since `since`: the steady rate
    (the first to the last) and the most in any one second."""
    times = db.session.scalars(
        sa.text("SELECT received_at FROM sandbox_message WHERE received_at >= :since ORDER BY received_at"),
        {"since": since},
    ).all()
    seconds = [(t - times[0]).total_seconds() for t in times]
    busiest, first = 0, 0
    for last, moment in enumerate(seconds):
        while moment - seconds[first] >= 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    steady = (len(seconds) - 1) / seconds[-1] if len(seconds) > 1 and seconds[-1] else 0.0
    return steady, busiest


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", help="a PostgreSQL server URL; a throwaway database is made there")
    parser.add_argument("--messages", type=int, default=4000, help="recipients per round")
    parser.add_argument("--latency", type=int, default=50, help="the sandbox's answer latency, ms")
    parser.add_argument("--concurrency", type=int, default=2, help="SEND_CONCURRENCY")
    parser.add_argument("--workers", default="1,2,4", help="the worker counts to measure")
    parser.add_argument("--sandbox-processes", type=int, default=2, help="gunicorn processes of the sandbox")
    parser.add_argument("--rate-limit", type=int, default=100, help="sends per second (0: skip that phase)")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    db_url, drop = database(args.url)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    installation = f"postbud-scale-{uuid.uuid4().hex[:6]}"
    app = create_app(
        SQLALCHEMY_DATABASE_URI=db_url, REDIS_URL=redis_url, INSTALLATION=installation, SESSION_COOKIE_SECURE=False
    )
    from extensions import db

    logs = Path(os.environ["POSTBUD_INSTANCE_DIR"])
    base_env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "POSTBUD_INSTALLATION": installation,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "ENCRYPTION_KEYS": app.config["ENCRYPTION_KEYS"],
        "SANDBOX_DATABASE_URL": db_url,
        "SANDBOX_API_KEYS": f"{KEY}:{CVR}",
        "SEND_CONCURRENCY": str(args.concurrency),
    }
    sandboxes, workers, missed = [], [], []
    try:
        with app.app_context():
            upgrade()
            rounds = seed(app, db, args.messages, len(counts) + (1 if args.rate_limit else 0))
        most = max(counts) * args.concurrency
        gateway = Sandbox(
            base_env, logs, "sandbox", most, processes=args.sandbox_processes, SANDBOX_LATENCY_MS=args.latency
        )
        sandboxes.append(gateway)
        env = {**base_env, "DIGITAL_POST_API_URL": gateway.url}
        print(
            f"sending benchmark: {args.messages:,} messages a round, sandbox latency {args.latency} ms, "
            f"SEND_CONCURRENCY {args.concurrency}; PostgreSQL, Redis, gunicorn sandbox"
        )
        raw_rate(gateway.url, 200, args.concurrency)  # warm up: connections, the sandbox's schema
        raw = {n: raw_rate(gateway.url, args.messages, n * args.concurrency) for n in counts}
        for n in counts:
            print(f"{f'baseline: raw client, {n * args.concurrency} connections':<52} {raw[n]:8.1f} messages/s")
        rates = {}
        for n, round_id in zip(counts, rounds):
            workers = start_workers(env, logs, n, f"w{n}")
            wait_registered(app, n)
            seconds, rates[n] = send_and_time(app, db, round_id, args.messages)
            stop_workers(workers)
            workers = []
            vs_raw = rates[n] / raw[n]
            print(
                f"{f'{n} worker(s), ROUND_WORKERS={n} ({seconds:.1f} s)':<52} {rates[n]:8.1f} messages/s"
                f"   {vs_raw:5.0%} of raw at {n * args.concurrency} connections"
                f"   x{rates[n] / rates[counts[0]]:4.2f} the first"
            )
        if 1 in rates and rates[1] < 0.7 * raw[1]:
            missed.append(f"one worker {rates[1]:.0f}/s is under 70% of the raw client's {raw[1]:.0f}/s")
        if 1 in rates and 4 in rates and rates[4] < 3.2 * rates[1]:
            missed.append(f"four workers are x{rates[4] / rates[1]:.2f} one worker (goal x3.2)")
        if args.rate_limit:
            limited = Sandbox(
                base_env, logs, "limited", most * 2, SANDBOX_LATENCY_MS=args.latency, SANDBOX_RATE_LIMIT=args.rate_limit
            )
            sandboxes.append(limited)
            env = {**base_env, "DIGITAL_POST_API_URL": limited.url, "DIGITAL_POST_RATE_LIMIT": str(args.rate_limit)}
            workers = start_workers(env, logs, 4, "limited")
            wait_registered(app, 4)
            since = datetime.now(timezone.utc).replace(tzinfo=None)
            seconds, rate = send_and_time(app, db, rounds[-1], args.messages)
            stop_workers(workers)
            workers = []
            refused = limited.answered(429)
            with app.app_context():
                retries = attempts_beyond_one(db, rounds[-1])
                steady, busiest = arrivals_since(db, since)
            print(
                f"{f'4 workers, rate limit {args.rate_limit}/s on both sides ({seconds:.1f} s)':<52} {rate:8.1f} messages/s"
                f"   {refused} answered 429, {retries} retries"
            )
            print(
                f"{'  at the sandbox, first to last accepted':<52} {steady:8.1f} messages/s"
                f"   {steady / args.rate_limit:5.0%} of the limit; busiest second {busiest}"
            )
            if steady < 0.85 * args.rate_limit:
                missed.append(f"under the rate limit {steady:.0f}/s is under 85% of {args.rate_limit}/s")
            if busiest > args.rate_limit:
                missed.append(f"{busiest} messages reached the sandbox within one second (limit {args.rate_limit})")
            if refused > 0.01 * args.messages:
                missed.append(f"{refused} sends were refused with 429 (over 1% of {args.messages})")
        for line in missed:
            print(f"MISSED: {line}")
        if not missed:
            print("all goals met")
        return 1 if missed else 0
    finally:
        stop_workers(workers)
        for sandbox in sandboxes:
            sandbox.stop()
        with app.app_context():
            from extensions import get_redis

            redis = get_redis()
            for key in redis.scan_iter(f"{installation}:*"):
                redis.delete(key)
            for key in redis.scan_iter(f"rq:*{installation}*"):
                redis.delete(key)
            db.session.remove()
            db.engine.dispose()
        drop()


if __name__ == "__main__":
    sys.exit(main())
