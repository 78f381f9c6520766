"""Exactly once, with real processes: `flask worker` as the Procfile starts
it, the sandbox gateway over HTTP, and the database and Redis the suite
runs on. Every recipient gets one message and none is missing, whether
Redis loses its jobs, a worker is killed in the middle of a round, two
workers share a round, or the gateway falters."""

import io
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from rq.registry import StartedJobRegistry
from sqlalchemy import func, select

from extensions import get_queue, get_redis
from jobs.sending import enqueue_rounds
from models import Delivery, ScheduledSend, Survey, db
from models.access import grant_access, selection_of
from models.base import utcnow
from models.sharing import RoundKind
from models.sharing.lifecycle import confirm_share, start_share
from models.sharing.recipients import accept_import, import_file
from models.sharing.schedule import PlannedRound
from models.survey import QuestionKind, SurveyState, add_question
from tests.test_verification_hardening import _worker_env, child_pids

pytestmark = pytest.mark.usefixtures("active_integration")
ROOT = Path(__file__).resolve().parents[1]


def cprs(n: int):
    """n distinct valid CPR numbers."""
    for i in range(n):
        day, rest = i % 28 + 1, i // 28
        month, serial = rest % 12 + 1, rest // 12
        yield f"{day:02d}{month:02d}{50 + serial // 10000:02d}{serial % 10000:04d}"


@pytest.fixture
def make_round(org, admin, member):
    """A confirmed share of n recipients whose invitation goes at `send_at`."""
    membership = member.membership_in(org.id)
    grant_access(org.id, admin.id, selection_of(membership.id))
    survey = Survey(org_id=org.id, owner_id=member.id, title="Trivsel", state=SurveyState.OPEN)
    db.session.add(survey)
    add_question(survey, QuestionKind.SINGLE_CHOICE, "Hvordan går det?", ["Godt", "Skidt"])
    db.session.commit()

    def make(n, send_at=None, enqueue=True):
        share = start_share(survey, membership)
        share.subject, share.body = "Invitation", "Kære [FORNAVN], svar gerne."
        db.session.flush()
        csv = "fornavn;cpr\n" + "".join(f"Navn{i};{cpr}\n" for i, cpr in enumerate(cprs(n)))
        accept_import(share, import_file(share, io.BytesIO(csv.encode()), "liste.csv"))
        db.session.commit()
        _, rounds = confirm_share(share, [PlannedRound(RoundKind.INVITATION, send_at or utcnow())], may_share=True)
        db.session.commit()
        if enqueue:
            enqueue_rounds(rounds)
        return rounds[0]

    return make


class Workers:
    """Real `flask worker` processes, each with its work horse, killed at the end."""

    def __init__(self, app, sandbox, tmp_path, **settings):
        self.env = {
            **_worker_env(app, sandbox),
            "SEND_RETRY_DELAYS": "0.1,0.2,0.5,1",
            **{k: str(v) for k, v in settings.items()},
        }
        self.tmp_path = tmp_path
        self.procs = []

    def start(self, count=1):
        for _ in range(count):
            log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "w")
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "flask", "--app", "app", "worker"],
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def kill(self):
        """SIGKILL every worker and work horse at once: nothing gets to clean up."""
        for proc in self.procs:
            for pid in [*child_pids(proc.pid), proc.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()
        self.procs = []

    def logs(self):
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.tmp_path.glob("worker-*.log")))


@pytest.fixture
def workers(app, sandbox, tmp_path):
    started = []

    def make(**settings):
        w = Workers(app, sandbox, tmp_path, **settings)
        started.append(w)
        return w

    yield make
    for w in started:
        w.kill()


def round_state(round_id):
    db.session.expire_all()
    return db.session.get(ScheduledSend, round_id)


def wait_for(predicate, seconds, what, logs=lambda: ""):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {seconds} s\n{logs()}")


def assert_exactly_once(sandbox, n):
    counts = sandbox.message_counts()
    expected = set(cprs(n))
    assert set(counts) == expected, f"{len(expected - set(counts))} recipients have no message"
    twice = {c: k for c, k in counts.items() if k != 1}
    assert not twice, f"{len(twice)} recipients have more than one message"
    sent = db.session.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == "sent"))
    assert sent == n


def test_two_workers_share_one_round_and_never_take_the_same_recipient(make_round, workers, sandbox):
    sandbox.configure(SANDBOX_LATENCY_MS=5)
    rnd = make_round(600)
    w = workers(ROUND_WORKERS=2)
    w.start(2)
    wait_for(lambda: round_state(rnd.id).state == "done", 120, "the round", w.logs)
    assert_exactly_once(sandbox, 600)
    by_worker = dict(
        db.session.execute(
            select(Delivery.claimed_by, func.count()).where(Delivery.round_id == rnd.id).group_by(Delivery.claimed_by)
        ).all()
    )
    assert len(by_worker) == 2 and min(by_worker.values()) >= 50, by_worker  # both did a fair part


def test_a_worker_killed_in_the_middle_of_a_round_leaves_nothing_out_and_nothing_twice(
    app, make_round, workers, sandbox
):
    n = 5000
    rnd = make_round(n)
    first = workers(ROUND_WORKERS=2, DELIVERY_CLAIM_LEASE=3)
    first.start(2)
    wait_for(lambda: sum(sandbox.message_counts().values()) >= 1000, 120, "a fifth sent", first.logs)
    first.kill()
    sent_before = sum(sandbox.message_counts().values())
    assert sent_before < n, "the round finished before the kill"
    assert round_state(rnd.id).state == "running"
    # What a live worker's maintenance does once the dead ones' heartbeats ran
    # out: their jobs are abandoned, and the round gets a new job.
    StartedJobRegistry(queue=get_queue(app)).cleanup(timestamp=time.time() + 3600)
    assert round_state(rnd.id).crashes == 1
    second = workers(ROUND_WORKERS=2, DELIVERY_CLAIM_LEASE=3)
    second.start(2)
    restarted = time.monotonic()
    wait_for(lambda: round_state(rnd.id).state == "done", 240, "the round", second.logs)
    assert_exactly_once(sandbox, n)
    print(
        f"\ncrash run: killed with {sent_before}/{n} sent; new workers finished in {time.monotonic() - restarted:.1f} s"
    )


def test_after_redis_lost_everything_each_recipient_gets_one_message_one_interval_late(
    app, make_round, workers, sandbox
):
    interval = 3
    send_at = utcnow() + timedelta(seconds=2)
    rnd = make_round(1000, send_at=send_at)
    get_redis(app).flushdb()  # Redis restarted empty: the scheduled job is gone
    w = workers(WORKER_MAINTENANCE_INTERVAL=interval)
    w.start(1)
    wait_for(lambda: round_state(rnd.id).state == "done", 120, "the round", w.logs)
    assert_exactly_once(sandbox, 1000)
    late = (round_state(rnd.id).started_at - send_at).total_seconds()
    assert late <= interval + 2, f"started {late:.1f} s after its time"
    print(f"\nRedis-loss run: 1000 sent once each; started {late:.1f} s after its time (interval {interval} s)")


def retry_as_member(member, org, rnd):
    """The member's "Send again" button on the status page, over HTTP."""
    from flask import current_app

    from conftest import Session

    s = Session(current_app.test_client())
    s.login(member)
    share = rnd.share
    url = f"/orgs/{org.id}/surveys/{share.survey_id}/digital-post/{share.id}"
    page = s.get(url + "/").get_data(as_text=True)
    assert "Send igen til" in page
    response = s.post(url + "/retry", htmx=True)
    assert response.status_code == 200
    return response


def test_a_faltering_gateway_delivers_each_recipient_once_and_the_member_retries_the_failed(
    make_round, workers, sandbox, member, org
):
    """20% 503s, a rate limit with Retry-After, 200 ms added latency: the
    round completes, every message reaches the gateway at most once, those
    that failed after their tries say why; "Send again" sends them, once."""
    n = 600  # 15 s at the rate limit: every kind of trouble comes up many times
    sandbox.configure(SANDBOX_FAIL_RATE=0.2, SANDBOX_RATE_LIMIT=40, SANDBOX_LATENCY_MS=200)
    rnd = make_round(n)
    w = workers(ROUND_WORKERS=10, SEND_RETRY_DELAYS="0.1,0.2,0.3,0.5")
    began = time.monotonic()
    w.start(10)
    wait_for(lambda: round_state(rnd.id).state == "done", 600, "the round", w.logs)
    took = time.monotonic() - began
    counts = sandbox.message_counts()
    assert all(k == 1 for k in counts.values())
    rows = dict(
        db.session.execute(
            select(Delivery.state, func.count()).where(Delivery.round_id == rnd.id).group_by(Delivery.state)
        ).all()
    )
    assert rows.get("sent", 0) + rows.get("failed", 0) == n and rows.get("sent") == len(counts)
    reasons = set(db.session.scalars(select(Delivery.error).where(Delivery.state == "failed")))
    assert reasons <= {"unavailable", "rate_limited"}, reasons
    attempts = db.session.scalar(select(func.max(Delivery.attempts)))
    assert attempts <= 5  # bounded
    print(
        f"\ngateway-trouble run: {took:.0f} s, {rows.get('sent', 0)} sent, {rows.get('failed', 0)} failed "
        f"({sorted(reasons)}), at most {attempts} tries"
    )
    if rows.get("failed"):
        sandbox.configure(SANDBOX_FAIL_RATE=0.0, SANDBOX_RATE_LIMIT=0, SANDBOX_LATENCY_MS=0)
        retry_as_member(member, org, rnd)
        wait_for(lambda: round_state(rnd.id).state == "done", 120, "the retry", w.logs)
    assert_exactly_once(sandbox, n)


@pytest.mark.parametrize("app", [{"DIGITAL_POST_TIMEOUT": 0.2, "SEND_RETRY_DELAYS": [0]}], indirect=True)
def test_an_answer_after_the_timeout_is_a_replay_not_a_second_message(app, make_round, sandbox, run_jobs, member, org):
    """The gateway stores each message and answers too late: the worker
    cannot know, retries with the same messageUUID and, after its tries,
    records a failure; the member's retry, with the gateway fast again,
    gets the replay's 200 and counts each as sent, with one letter each."""
    sandbox.configure(SANDBOX_LATENCY_MS=400)
    rnd = make_round(5)
    run_jobs()
    assert round_state(rnd.id).state == "done"
    assert set(db.session.scalars(select(Delivery.error))) == {"no_answer"}
    assert all(k == 1 for k in sandbox.message_counts().values()) and len(sandbox.message_counts()) == 5
    sandbox.configure(SANDBOX_LATENCY_MS=0)
    retry_as_member(member, org, rnd)
    run_jobs()
    assert_exactly_once(sandbox, 5)
