"""Logs (issue 9, item 13): one line per event with a request id, and no
CPR number in any line, whichever logger it comes through."""

import io
import logging

import pytest

import logs

CPRS = ["0101901234", "010190-1234", "311299 4321"]


@pytest.fixture
def output(app):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.OneLineFormatter(logs.FORMAT))
    logging.getLogger().addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize("logger", ["", "werkzeug", "rq.worker", "jobs.sending", "sqlalchemy.engine"])
def test_a_cpr_is_masked_in_every_logger(output, logger):
    log = logging.getLogger(logger)
    log.setLevel(logging.INFO)
    for cpr in CPRS:
        log.warning("recipient %s refused", cpr)
        log.warning(f"formatted beforehand: {cpr}")
        log.warning("as a dict: %(cpr)s", {"cpr": cpr})
    text = output.getvalue()
    assert text.count("[CPR]") == 3 * len(CPRS)
    for cpr in CPRS:
        assert cpr not in text


def test_a_cpr_in_an_exception_is_masked_and_the_traceback_is_one_line(output):
    try:
        raise ValueError("no mailbox for 0101901234")
    except ValueError:
        logging.getLogger("rq.worker").exception("job failed")
    lines = output.getvalue().splitlines()
    assert len(lines) == 1
    assert "0101901234" not in lines[0] and "no mailbox for [CPR]" in lines[0] and "Traceback" in lines[0]


def test_numbers_that_are_not_cprs_are_kept(output):
    logging.getLogger("rq.worker").warning("forked at 1764216000.25, job 12345678901, CVR 13585628")
    assert "1764216000.25" in output.getvalue() and "12345678901" in output.getvalue()


def test_every_request_logs_one_line_with_its_id(client, output):
    response = client.get("/login", headers={"X-Request-ID": "lb-7f3a9"})
    assert response.headers["X-Request-ID"] == "lb-7f3a9"
    line = [entry for entry in output.getvalue().splitlines() if "postbud.request" in entry]
    assert line and "[lb-7f3a9]" in line[0] and "GET /login 200" in line[0]
    other = client.get("/login", headers={"X-Request-ID": "bad id; <script>"})
    assert other.headers["X-Request-ID"] != "bad id; <script>" and len(other.headers["X-Request-ID"]) == 16


def test_a_cpr_in_a_url_is_masked_in_the_request_line(client, output):
    client.get("/r/0101901234")
    assert "0101901234" not in output.getvalue()


def test_a_jobs_lines_carry_its_id_and_the_workers_own_lines_do_not(app, output, run_jobs):
    from extensions import get_queue

    get_queue().enqueue(logging.getLogger("jobs.test").warning, "inside the job", job_id="job-7")
    run_jobs()  # in this process, so its lines reach this test's handler
    logging.getLogger("rq.worker").warning("after the job")
    lines = output.getvalue().splitlines()
    assert any(f"[{get_queue().job_id('job-7')}]" in line and "inside the job" in line for line in lines)
    assert any("[-]" in line and "after the job" in line for line in lines)
