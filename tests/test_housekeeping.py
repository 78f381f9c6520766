"""The worker's housekeeping, run as the worker runs it between jobs: it
gives a forgotten verification mail its outcome, deletes the CPRs of shares
with nothing more to send, and gives a round whose job died a new one."""

from datetime import timedelta

from rq.job import Job

from extensions import get_queue, get_redis
from jobs.housekeeping import lock_key, run_housekeeping
from models import RecipientCpr, ScheduledSend, Share, db
from models.base import utcnow
from tests.test_integration_wizard import step1
from tests.test_sharing import CPRS, compose, confirm, share_of, survey, with_access  # noqa: F401
from tests.test_verification_hardening import attempt


def housekeeping(app):
    get_redis(app).delete(lock_key())  # the next interval
    with app.app_context():
        run_housekeeping()
    db.session.expire_all()


def test_a_verification_mail_nobody_waits_for_gets_its_outcome(app, as_admin, org):
    step1(as_admin, org)  # no worker runs, and the admin closes the page
    current = attempt(org)
    current.pending_started_at = utcnow() - timedelta(seconds=app.config["VERIFICATION_SEND_DEADLINE"] + 1)
    db.session.commit()
    housekeeping(app)
    assert attempt(org).sending_error == "stalled"


def test_cprs_of_a_share_with_nothing_left_to_send_are_deleted(app, as_member, survey, with_access):
    draft, schedule = compose(as_member, survey, "\n".join(CPRS))
    confirm(as_member, draft, schedule)
    share = share_of(draft)
    # The round ended, but its worker died before its own cleanup.
    for r in share.rounds:
        r.state, r.finished_at = "cancelled", utcnow()
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(RecipientCpr)) == 3
    housekeeping(app)
    assert db.session.scalar(db.select(db.func.count()).select_from(RecipientCpr)) == 0
    assert db.session.get(Share, share.id).cprs_deleted_at is not None


def test_a_round_whose_job_failed_gets_a_new_job_until_too_many_crashes(app, as_member, survey, with_access):
    draft, schedule = compose(as_member, survey, "\n".join(CPRS))
    confirm(as_member, draft, schedule)
    rnd = share_of(draft).rounds[0]
    for crash in range(1, app.config["ROUND_MAX_CRASHES"] + 2):
        job = Job.fetch(get_queue(app).job_id(rnd.rq_job_id), connection=get_redis(app))
        job.set_status("failed")  # as rq leaves a job that raised or whose worker died
        housekeeping(app)
        rnd = db.session.get(ScheduledSend, rnd.id)
        if crash <= app.config["ROUND_MAX_CRASHES"]:
            assert rnd.state == "scheduled" and rnd.crashes == crash
            assert (
                rnd.rq_job_id.endswith(f"-c{crash}") and get_queue(app).job_id(rnd.rq_job_id) in get_queue(app).job_ids
            )
    assert rnd.state == "failed" and rnd.error == "internal_error"


def test_sqlite_keeps_planner_statistics_after_a_bulk_load_and_each_interval(app):
    """Without statistics SQLite planned a member search as a walk of the
    whole member table (bench/member_search.py --without-statistics): the
    demo's bulk load and every housekeeping interval gather them."""
    import pytest

    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's autovacuum keeps its own statistics")

    def analyzed() -> set[str]:
        with db.engine.connect() as conn:
            if not conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
                return set()
            return {row[0] for row in conn.exec_driver_sql("SELECT DISTINCT tbl FROM sqlite_stat1")}

    assert app.test_cli_runner().invoke(args=["seed-demo", "--members", "60"]).exit_code == 0
    assert {"membership", "user"} <= analyzed()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM sqlite_stat1")
    assert analyzed() == set()
    housekeeping(app)
    assert {"membership", "user"} <= analyzed()
