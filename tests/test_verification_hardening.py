"""The verification mail under abuse and failure (issue 9, items 4, 5 and 9):
start and guess limits, a final outcome whatever the job raises, a deadline
for a mail no worker sends, and a worker killed in the middle of the send."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from rq.registry import StartedJobRegistry

from conftest import CITIZEN_CPR, EXEMPT_CPR, Session
from extensions import get_queue, get_redis, redis_key
from models import DigitalPostIntegration, db
from models.base import utcnow
from tests.test_integration_wizard import code_from_mailbox, confirm, step1, url

ROOT = Path(__file__).resolve().parent.parent


def attempt(org) -> DigitalPostIntegration:
    db.session.expire_all()
    return DigitalPostIntegration.find(org.id)


def sealed_keys():
    return list(get_redis().scan_iter(redis_key("verification", "*")))


def test_an_organization_starts_at_most_three_mails_an_hour(as_admin, org, sandbox, run_jobs):
    for _ in range(3):
        assert step1(as_admin, org).status_code == 200
        run_jobs()
    response = step1(as_admin, org)
    assert response.status_code == 429
    assert "bekræftelsespost 3 gange inden for den seneste time" in response.get_data(as_text=True)
    run_jobs()
    assert len(sandbox.mailbox(CITIZEN_CPR)) == 3


def test_one_cpr_gets_at_most_three_mails_an_hour_whichever_organization_asks(
    app, as_admin, org, make_org, make_user, sandbox, run_jobs
):
    for _ in range(2):
        step1(as_admin, org)
    other_org = make_org("Nabokommune")
    other = Session(app.test_client())
    other.login(make_user(other_org, role="admin"))
    assert step1(other, other_org).status_code == 200
    response = step1(other, other_org, cpr="0101901234")
    assert response.status_code == 429
    assert 'id="cpr-error"' in response.get_data(as_text=True)
    assert step1(other, other_org, cpr=EXEMPT_CPR).status_code == 200  # another CPR still may
    keys = [k.decode() for k in get_redis().scan_iter(redis_key("ratelimit", "verification-cpr", "*"))]
    assert keys and not any(CITIZEN_CPR in k for k in keys)  # keyed by its HMAC, never the CPR


def test_wrong_codes_count_across_new_mails(as_admin, org, sandbox, run_jobs):
    for start in range(2):
        step1(as_admin, org)
        run_jobs()
        for _ in range(5):
            confirm(as_admin, org, "000000")
    step1(as_admin, org)
    run_jobs()
    response = confirm(as_admin, org, code_from_mailbox(sandbox)[:6])
    assert response.status_code == 429
    assert "For mange forkerte koder" in response.get_data(as_text=True)
    assert not attempt(org).is_active


def test_any_exception_in_the_job_ends_the_wait_and_removes_the_cpr(as_admin, org, sandbox, run_jobs, monkeypatch):
    import jobs.verification

    def broken(*args):
        raise UnicodeEncodeError("ascii", "ø", 0, 1, "ordinal not in range")

    monkeypatch.setattr(jobs.verification, "verification_message", broken)
    step1(as_admin, org)
    assert sealed_keys()
    run_jobs()
    current = attempt(org)
    assert (current.sending_status, current.sending_error) == ("failed", "error")
    assert sealed_keys() == []
    poll = as_admin.get(url(org, "/setup/status"), htmx=True)
    body = poll.get_data(as_text=True)
    assert poll.status_code == 200 and "hx-trigger" not in body  # the polling stops
    assert "kunne ikke bekræfte, at posten blev sendt" in body
    assert sandbox.mailbox(CITIZEN_CPR) == []


def test_a_mail_no_worker_sends_is_reported_after_the_deadline(as_admin, org, sandbox, run_jobs, app):
    step1(as_admin, org)  # no worker runs
    current = attempt(org)
    current.pending_started_at = utcnow() - timedelta(seconds=app.config["VERIFICATION_SEND_DEADLINE"] + 1)
    db.session.commit()
    body = as_admin.get(url(org, "/setup/status"), htmx=True).get_data(as_text=True)
    assert "hx-trigger" not in body and "kunne ikke bekræfte" in body
    assert attempt(org).sending_error == "stalled"
    run_jobs()  # a worker that comes late does not send what the admin was told failed
    assert sandbox.mailbox(CITIZEN_CPR) == [] and sealed_keys() == []
    page = as_admin.get(url(org, "/setup")).get_data(as_text=True)
    assert 'name="cpr"' in page  # and a new mail can be started


@pytest.mark.parametrize("app", [{"DIGITAL_POST_TIMEOUT": 0.5, "VERIFICATION_RETRY_INTERVALS": []}], indirect=True)
def test_an_answer_after_the_timeout_keeps_the_code_form_open(as_admin, org, sandbox, run_jobs):
    sandbox.configure(SANDBOX_LATENCY_MS=1500)
    step1(as_admin, org)
    run_jobs()
    assert attempt(org).sending_error == "no_answer"
    body = as_admin.get(url(org, "/setup/verify")).get_data(as_text=True)
    assert "kunne ikke bekræfte" in body and 'name="code"' in body
    for _ in range(50):  # the gateway took the mail all the same
        if sandbox.mailbox(CITIZEN_CPR):
            break
        time.sleep(0.1)
    response = confirm(as_admin, org, code_from_mailbox(sandbox))
    assert response.status_code == 200 and attempt(org).is_active


def _worker_env(app, sandbox):
    # Everything the worker must share with the test's app, explicitly.
    return {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "ENCRYPTION_KEYS": app.config["ENCRYPTION_KEYS"],
        "REDIS_URL": app.config["REDIS_URL"],
        "POSTBUD_INSTALLATION": app.config["INSTALLATION"],
        "DIGITAL_POST_API_URL": sandbox.url,
        "PYTHONUNBUFFERED": "1",
    }


def _wait_for(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def child_pids(parent: int) -> list[int]:
    """Processes whose parent is `parent` (an rq work horse is the worker's
    child, in a process group of its own)."""
    pids = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            pids.append(int(stat_file.parent.name))
    return pids


def test_a_worker_killed_in_the_middle_of_the_send_delivers_once(app, as_admin, org, sandbox, run_jobs, tmp_path):
    from jobs.worker import AppWorker

    sandbox.configure(SANDBOX_LATENCY_MS=1500)
    step1(as_admin, org)
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker"],
        cwd=ROOT,
        env=_worker_env(app, sandbox),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    registry = StartedJobRegistry(queue=get_queue(app))
    try:
        # The gateway has the mail; its answer is on the way (1.5 s).
        assert _wait_for(lambda: len(sandbox.mailbox(CITIZEN_CPR)) == 1), (tmp_path / "worker.log").read_text()
    finally:
        for pid in [*child_pids(worker.pid), worker.pid]:  # the work horse and its worker, both gone at once
            os.kill(pid, signal.SIGKILL)
        worker.wait()
    assert attempt(org).sending_status == "sending"  # nobody heard the answer
    # What the next worker's maintenance does once the dead worker's heartbeat
    # has run out (a minute or so): the abandoned job is retried.
    registry.cleanup(timestamp=time.time() + 3600)
    sandbox.configure(SANDBOX_LATENCY_MS=0)
    run_jobs(AppWorker)
    assert attempt(org).sending_status == "sent"
    assert len(sandbox.mailbox(CITIZEN_CPR)) == 1  # the same messageUUID: the gateway kept one
    assert sealed_keys() == []


@pytest.mark.parametrize("app", [{"VERIFICATION_RETRY_INTERVALS": []}], indirect=True)
def test_a_killed_work_horse_without_retries_left_gets_an_outcome(app, as_admin, org, sandbox, run_jobs):
    from jobs.worker import AppWorker

    sandbox.configure(SANDBOX_LATENCY_MS=800)
    step1(as_admin, org)

    def kill_the_horse():
        if _wait_for(lambda: len(sandbox.mailbox(CITIZEN_CPR)) == 1):
            for pid in child_pids(os.getpid()):  # the burst worker runs here; its horse is our child
                os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_the_horse)
    killer.start()
    run_jobs(AppWorker)
    killer.join()
    current = attempt(org)
    assert (current.sending_status, current.sending_error) == ("failed", "interrupted")
    assert sealed_keys() == []
    body = as_admin.get(url(org, "/setup/verify")).get_data(as_text=True)
    assert "kunne ikke bekræfte" in body and 'name="code"' in body
