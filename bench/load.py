"""Load: the console under concurrent admins and members while the workers
send 10,000 messages, against the same measurements with nothing else running.

    pip install -e ".[bench]"      # Locust
    .venv/bin/python bench/load.py postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/load.py postgresql://... --users 30 --seconds 30 --messages 10000

Real processes, as in production: the web under gunicorn (2 processes, 4
threads each), two `flask worker` processes (ROUND_WORKERS=2), the sandbox
gateway under gunicorn; a throwaway PostgreSQL database (dropped after) and
Redis at REDIS_URL (default redis://127.0.0.1:6379/0, queue postbud-load).
Locust, headless, drives admins filtering the member table (20,000 members)
and members polling their share's status (bench/locustfile.py).

Three phases: (A) the users alone, (B) the workers sending alone, (C) both.
Prints requests/s, median and 99th percentile per request kind and errors
for A and C, messages/s for B and C, and C against A or B. Exits 1 when a
request failed or the table fragment's p99 under sending is over 100 ms.
"""

import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POSTBUD_INSTANCE_DIR", tempfile.mkdtemp(prefix="postbud-load-"))

import sqlalchemy as sa
from flask_migrate import upgrade

from app import create_app
from bench.member_access import database
from bench.sharing import csv_bytes

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password"
KEY, CVR = "bench-key-1234", "13585628"
MEMBERS = 20_000
P99_LIMIT_MS = 100


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(db, messages: int) -> dict:
    from cli import _bulk_members
    from crypto import encrypt
    from models import DigitalPostIntegration, Membership, Organization, Role, Survey, User
    from models.access import grant_access, selection_of
    from models.base import utcnow
    from models.integration import State
    from models.sharing import RoundKind
    from models.sharing.lifecycle import confirm_share, start_share
    from models.sharing.recipients import accept_import, import_file
    from models.sharing.schedule import PlannedRound
    from models.survey import QuestionKind, SurveyState, add_question

    org = Organization(name="Load Kommune")
    admin = User(email="load-admin@example.dk", name="Load Admin")
    member = User(email="load-member@example.dk", name="Load Member")
    for user in (admin, member):
        user.set_password(PASSWORD)
    db.session.add_all([org, admin, member])
    db.session.flush()
    Membership.create(org, admin, role=Role.ADMIN, department="Nord")
    membership = Membership.create(org, member, role=Role.MEMBER, department="Syd")
    for offset in range(0, MEMBERS, 10_000):
        _bulk_members(org, min(10_000, MEMBERS - offset), start=offset)
    db.session.execute(
        sa.update(Membership)
        .where(Membership.org_id == org.id)
        .values(department=sa.case((Membership.id % 2 == 0, "Nord"), else_="Syd"))
    )
    integration = DigitalPostIntegration.for_org(org.id)
    integration.state, integration.sender_cvr = State.ACTIVE, CVR
    integration.api_key_encrypted, integration.api_key_last4 = encrypt(KEY), KEY[-4:]
    integration.activated_by_id, integration.activated_at = admin.id, utcnow()
    survey = Survey(org_id=org.id, owner_id=member.id, title="Load", state=SurveyState.OPEN)
    db.session.add(survey)
    add_question(survey, QuestionKind.SINGLE_CHOICE, "Q", ["a", "b"])
    db.session.flush()
    grant_access(org.id, admin.id, selection_of(membership.id))
    rounds = []
    for start in (0, messages):  # one share for phase B, one for phase C
        share = start_share(survey, membership)
        share.subject, share.body = "Invitation", "Kære [FORNAVN], svar gerne."
        db.session.flush()
        accept_import(share, import_file(share, io.BytesIO(csv_bytes(messages, start=start)), "load.csv"))
        db.session.commit()
        # Not due yet: a worker's housekeeping would send it at once. Each
        # phase makes its round due when it starts.
        later = utcnow() + timedelta(days=1)
        _, planned = confirm_share(share, [PlannedRound(RoundKind.INVITATION, later)], may_share=True)
        db.session.commit()
        rounds.append(planned[0])
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return {
        "org": org.id,
        "survey": survey.id,
        "rounds": [r.id for r in rounds],
        "shares": [r.share_id for r in rounds],
        "admin": admin.email,
        "member": member.email,
    }


def wait_http(url, seconds=30):
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def sent(db, round_id) -> int:
    from models import Delivery

    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Delivery).where(Delivery.round_id == round_id, Delivery.state == "sent")
    )


def make_due(db, round_id) -> None:
    from jobs.sending import enqueue_rounds
    from models import ScheduledSend
    from models.base import utcnow

    rnd = db.session.get(ScheduledSend, round_id)
    rnd.send_at = utcnow()
    db.session.commit()
    enqueue_rounds([rnd])


def send_and_time(app, db, round_id, messages, timeout=900) -> tuple[float, float]:
    """Make a round due; (seconds until every message is sent, messages/s)."""
    from models import ScheduledSend

    with app.app_context():
        make_due(db, round_id)
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            db.session.expire_all()
            if db.session.get(ScheduledSend, round_id).state != "running" and sent(db, round_id) >= messages:
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - start
        return elapsed, sent(db, round_id) / elapsed


def locust(host, env, users, seconds, prefix) -> dict:
    subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
            "--host", host, "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--csv", prefix,
            "--only-summary", "--loglevel", "WARNING",
        ],
        env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with open(f"{prefix}_stats.csv") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url", help="a PostgreSQL server URL; a throwaway database is made there")
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    import importlib.util

    if importlib.util.find_spec("locust") is None:
        sys.exit('Locust is missing: pip install -e ".[bench]"')

    db_url, drop = database(args.url)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    settings = dict(
        SQLALCHEMY_DATABASE_URI=db_url, REDIS_URL=redis_url, INSTALLATION="postbud-load", SESSION_COOKIE_SECURE=False
    )
    app = create_app(**settings)
    from extensions import db

    procs = []
    try:
        with app.app_context():
            upgrade()
            ids = seed(db, args.messages)
        web_port, sandbox_port = free_port(), free_port()
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "POSTBUD_INSTALLATION": "postbud-load",
            "SECRET_KEY": app.config["SECRET_KEY"],
            "ENCRYPTION_KEYS": app.config["ENCRYPTION_KEYS"],
            "SESSION_COOKIE_SECURE": "0",
            "DIGITAL_POST_API_URL": f"http://127.0.0.1:{sandbox_port}",
            "SANDBOX_DATABASE_URL": db_url,
            "SANDBOX_API_KEYS": f"{KEY}:{CVR}",
            "ROUND_WORKERS": "2",
            "LOAD_ORG_ID": str(ids["org"]),
            "LOAD_SURVEY_ID": str(ids["survey"]),
            "LOAD_SHARE_ID": str(ids["shares"][1]),
            "LOAD_ADMIN_EMAIL": ids["admin"],
            "LOAD_MEMBER_EMAIL": ids["member"],
            "LOAD_PASSWORD": PASSWORD,
        }
        logs = Path(os.environ["POSTBUD_INSTANCE_DIR"])
        commands = [
            ["gunicorn", "--bind", f"127.0.0.1:{sandbox_port}", "--workers", "1", "--threads", "16",
             "sandbox.app:create_app()"],
            ["gunicorn", "--bind", f"127.0.0.1:{web_port}", "--workers", "2", "--threads", "4",
             "--keep-alive", "5", "app:create_app()"],
            [sys.executable, "-m", "flask", "--app", "app", "worker"],
            [sys.executable, "-m", "flask", "--app", "app", "worker"],
        ]  # fmt: skip
        for i, command in enumerate(commands):
            command[0] = str(ROOT / ".venv" / "bin" / "gunicorn") if command[0] == "gunicorn" else command[0]
            log = open(logs / f"process-{i}.log", "w")
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        wait_http(f"http://127.0.0.1:{web_port}/healthz")
        wait_http(f"http://127.0.0.1:{sandbox_port}/v1/messages/x")
        host = f"http://127.0.0.1:{web_port}"

        print(
            f"{args.users} users ({args.users // 3} admins, the rest members), {args.seconds} s a phase; "
            f"{args.messages:,} messages a round; PostgreSQL, Redis, 2 web processes, 2 workers"
        )
        locust(host, env, args.users, 5, str(logs / "warm-up"))  # connections, caches, plans
        quiet = locust(host, env, args.users, args.seconds, str(logs / "quiet"))
        alone_s, alone_rate = send_and_time(app, db, ids["rounds"][0], args.messages)

        # Phase C: the users run while the second round is sent.
        busy_seconds = max(args.seconds, int(alone_s * 1.5) + 5)
        import threading

        finished = {}

        def watch():  # when the round's last message is sent, while Locust runs
            with app.app_context():
                while time.perf_counter() - start < busy_seconds:
                    db.session.expire_all()
                    finished["sent"] = sent(db, ids["rounds"][1])
                    if finished["sent"] >= args.messages:
                        break
                    time.sleep(0.25)
                finished["seconds"] = time.perf_counter() - start

        with app.app_context():
            make_due(db, ids["rounds"][1])
        start = time.perf_counter()
        watcher = threading.Thread(target=watch)
        watcher.start()
        busy = locust(host, env, args.users, busy_seconds, str(logs / "busy"))
        watcher.join()
        done = finished["sent"]
        busy_rate = done / finished["seconds"]

        print(f"\n{'request':<24} {'phase':<16} {'req/s':>7} {'median':>8} {'p99':>8} {'errors':>7}")
        failed = False
        for name in ("member table fragment", "share status poll"):
            for phase, stats in (("users alone", quiet), ("while sending", busy)):
                row = stats.get(name)
                if row is None:
                    continue
                print(
                    f"{name:<24} {phase:<16} {float(row['Requests/s']):7.1f} {float(row['50%']):6.0f} ms"
                    f" {float(row['99%']):6.0f} ms {int(row['Failure Count']):7d}"
                )
            a, c = quiet.get(name), busy.get(name)
            if a and c and float(a["99%"]):
                print(
                    f"{'':<24} {'C / A':<16} {'':>7} {float(c['50%']) / max(float(a['50%']), 1):7.1f}x"
                    f" {float(c['99%']) / float(a['99%']):7.1f}x"
                )
        errors = sum(int(r["Failure Count"]) for s in (quiet, busy) for n, r in s.items() if n != "Aggregated")
        print(
            f"\nmessages/s: alone {alone_rate:,.0f} ({alone_s:.0f} s for {args.messages:,}); "
            f"while serving users {busy_rate:,.0f} ({done:,} sent), {busy_rate / alone_rate:.0%} of alone"
        )
        table_p99 = float(busy.get("member table fragment", {}).get("99%", 0) or 0)
        if errors:
            print(f"MISSED: {errors} requests failed:")
            for phase in ("quiet", "busy"):
                with open(logs / f"{phase}_failures.csv") as f:
                    for row in csv.DictReader(f):
                        print(f"  {phase}: {row['Name']}: {row['Error']} x{row['Occurrences']}")
            failed = True
        if table_p99 > P99_LIMIT_MS:
            print(f"MISSED: the table fragment's p99 while sending is {table_p99:.0f} ms (goal {P99_LIMIT_MS} ms)")
            failed = True
        if not failed:
            print(f"no errors; table fragment p99 while sending {table_p99:.0f} ms (goal {P99_LIMIT_MS} ms)")
        return 1 if failed else 0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        with app.app_context():
            db.engine.dispose()
        drop()


if __name__ == "__main__":
    sys.exit(main())
