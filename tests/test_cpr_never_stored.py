"""The admin's CPR from the wizard is never stored: not in the database, not
in Redis (job arguments, results, failures included), not in the logs."""

import logging
import re
import zlib
from pathlib import Path

import sqlalchemy as sa

from conftest import CITIZEN_CPR, EXEMPT_CPR, SANDBOX_KEY, SENDER_CVR
from extensions import db, get_redis

FORMS = lambda cpr: {cpr, f"{cpr[:6]}-{cpr[6:]}", f"{cpr[:6]} {cpr[6:]}"}  # noqa: E731


def database_text() -> str:
    """Every value of every table, as text (works on SQLite and PostgreSQL)."""
    parts = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                parts.append(" ".join(str(v) for v in row))
    url = db.engine.url
    if url.get_backend_name() == "sqlite":  # and the raw file, free pages and journal included
        for suffix in ("", "-wal", "-journal"):
            path = Path(url.database + suffix)
            if path.exists():
                parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def redis_text() -> str:
    """Every key and value in Redis; rq's zlib-compressed job data unpacked."""
    redis = get_redis()
    parts = []
    for key in redis.scan_iter(count=1000):
        parts.append(key.decode("latin-1"))
        kind = redis.type(key).decode()
        values = {
            "string": lambda: [redis.get(key)],
            "hash": lambda: [v for kv in redis.hgetall(key).items() for v in kv],
            "list": lambda: redis.lrange(key, 0, -1),
            "set": lambda: list(redis.smembers(key)),
            "zset": lambda: [m for m, _ in redis.zrange(key, 0, -1, withscores=True)],
            "stream": lambda: [str(e).encode() for e in redis.xrange(key)],
        }.get(kind, lambda: [])()
        for value in values:
            parts.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
            try:
                parts.append(zlib.decompress(value).decode("latin-1"))
            except (zlib.error, TypeError):
                pass
    return "\n".join(parts)


def assert_absent(cpr, text, where):
    for form in FORMS(cpr):
        assert form not in text, f"CPR found in {where}"
    assert not re.search(cpr[:6] + r"\D?" + cpr[6:], text), f"CPR found in {where}"


def wizard_flow(as_admin, org, sandbox, run_jobs, cpr):
    url = f"/orgs/{org.id}/settings/digital-post"
    as_admin.post(f"{url}/setup/validate?field=cpr", {"cpr": f"{cpr[:6]}-{cpr[6:]}"}, htmx=True)
    response = as_admin.post(
        f"{url}/setup", {"api_key": SANDBOX_KEY, "sender_cvr": SENDER_CVR, "cpr": f"{cpr[:6]}-{cpr[6:]}"}, htmx=True
    )
    assert_absent(cpr, response.get_data(as_text=True), "the page after step 1")
    run_jobs()
    return as_admin.get(f"{url}/setup/status", htmx=True), url


def test_cpr_is_nowhere_after_a_successful_verification(as_admin, org, sandbox, run_jobs, caplog):
    caplog.set_level(logging.DEBUG)
    status, url = wizard_flow(as_admin, org, sandbox, run_jobs, CITIZEN_CPR)
    mail = sandbox.mailbox(CITIZEN_CPR)
    code = re.search(r":\s*(\d{6})\b", mail[0]["text"]).group(1)  # it did arrive
    as_admin.post(
        f"{url}/setup/confirm",
        {
            "code": code,
            "attempt_id": re.search(
                r'name="attempt_id" type="hidden" value="([^"]+)"',
                as_admin.get(f"{url}/setup/verify").get_data(as_text=True),
            ).group(1),
        },
        htmx=True,
    )
    assert_absent(CITIZEN_CPR, status.get_data(as_text=True), "the status fragment")
    assert_absent(CITIZEN_CPR, database_text(), "the database")
    assert_absent(CITIZEN_CPR, redis_text(), "Redis")
    product_logs = "\n".join(r.getMessage() + str(r.exc_text or "") for r in caplog.records if r.name != "werkzeug")
    assert_absent(CITIZEN_CPR, product_logs, "the logs")
    assert "verification mail" in product_logs, sorted({r.name for r in caplog.records})


def test_cpr_is_nowhere_after_a_refused_verification(as_admin, org, sandbox, run_jobs, caplog):
    caplog.set_level(logging.DEBUG)
    status, _ = wizard_flow(as_admin, org, sandbox, run_jobs, EXEMPT_CPR)
    assert "fritaget" in status.get_data(as_text=True)
    assert_absent(EXEMPT_CPR, status.get_data(as_text=True), "the step 1 shown after the failure")
    assert_absent(EXEMPT_CPR, database_text(), "the database")
    assert_absent(EXEMPT_CPR, redis_text(), "Redis")
    assert_absent(EXEMPT_CPR, "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug"), "the logs")


def test_cpr_is_nowhere_after_a_job_that_failed_for_good(as_admin, org, sandbox, run_jobs, caplog):
    sandbox.configure(SANDBOX_FAIL_RATE=1.0)
    status, _ = wizard_flow(as_admin, org, sandbox, run_jobs, CITIZEN_CPR)
    assert "svarer ikke" in status.get_data(as_text=True)
    assert_absent(CITIZEN_CPR, database_text(), "the database")
    assert_absent(CITIZEN_CPR, redis_text(), "Redis")


def test_the_search_would_find_a_cpr_if_one_were_there(app, org):
    """Guard against a search that cannot fail."""
    from models import record_audit

    record_audit(org.id, None, "probe", target=f"{CITIZEN_CPR[:6]}-{CITIZEN_CPR[6:]}")
    db.session.commit()
    get_redis().set("probe", zlib.compress(CITIZEN_CPR.encode()))
    for text in (database_text(), redis_text()):
        try:
            assert_absent(CITIZEN_CPR, text, "probe")
        except AssertionError:
            continue
        raise AssertionError("the search missed a planted CPR")
