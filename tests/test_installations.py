"""Two installations of Postbud on one Redis, as the README allows: each has its
own database and POSTBUD_INSTALLATION, and neither sends, cancels, locks out
or reads the other's jobs, selections or rate limits, although their rows have
the same ids (both have a round 1)."""

import contextlib
import contextvars
import re

import pytest
from flask import current_app
from rq import SimpleWorker
from rq.job import Job, JobStatus

from app import create_app
from conftest import CITIZEN_CPR
from crypto import encrypt
from extensions import db, get_queue, get_redis, redis_key
from jobs.housekeeping import lock_key, run_housekeeping
from jobs.worker import run_worker
from models import Membership, Organization, Role, SendState, Survey, User
from models.access import grant_access, selection_of
from models.sharing.lifecycle import cancel_share
from models.survey import QuestionKind, SurveyState, add_question
from tests.fixtures.data import PASSWORD, Session, connected
from tests.fixtures.sandbox import SANDBOX_KEY
from tests.fixtures.services import IsolatedClient, app_config, migrate, throwaway_database
from tests.test_sharing import compose, confirm, share_of
from views.ratelimit import AttemptLimit
from views.selection import Selection

OTHER_CPR = "0202901234"


def dispose(installation) -> None:
    with installation.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def installation(app, redis_url, sandbox_server):
    """Installations on the same Redis database as `app`, each on a fresh
    database of its own, so that their rows have the same ids."""
    with contextlib.ExitStack() as stack:

        def make(name):
            url = stack.enter_context(throwaway_database(name))
            migrate(url, redis_url)
            made = create_app(**app_config(url, redis_url, INSTALLATION=name, DIGITAL_POST_API_URL=sandbox_server.url))
            made.test_client_class = IsolatedClient
            stack.callback(dispose, made)
            return made

        yield make


def member_with_access() -> tuple[Session, User, Membership]:
    """An organization connected to the sandbox with a member who may share,
    logged in, in the current installation."""
    org = Organization(name="Testkommune")
    admin = User(email="admin@example.dk", name="Anne Admin")
    member = User(email="member@example.dk", name="Mads Medlem")
    for user in (admin, member):
        user.set_password(PASSWORD)
    db.session.add_all([org, admin, member])
    db.session.flush()
    Membership.create(org, admin, role=Role.ADMIN)
    membership = Membership.create(org, member, role=Role.MEMBER)
    db.session.commit()
    connected(org, admin, api_key_encrypted=encrypt(SANDBOX_KEY), api_key_last4=SANDBOX_KEY[-4:])
    grant_access(org.id, admin.id, selection_of(membership.id))
    db.session.commit()
    session = Session(current_app.test_client())
    session.login(member)
    return session, member, membership


def send_with_a_reminder(cpr: str) -> str:
    """A share of one recipient: its invitation due now, a reminder in 3 days."""
    as_member, member, membership = member_with_access()
    survey = Survey(org_id=membership.org_id, owner_id=member.id, title="Trivsel", state=SurveyState.OPEN)
    db.session.add(survey)
    add_question(survey, QuestionKind.FREE_TEXT, "Hvordan går det?", [])
    db.session.commit()
    draft, schedule = compose(as_member, survey, f"Anna;Hansen;{cpr}", reminders=[3])
    confirm(as_member, draft, schedule)
    return draft


def work(installation) -> None:
    contextvars.Context().run(run_worker, installation, True, SimpleWorker)


def test_two_installations_on_one_redis_each_send_their_own_round(installation, sandbox):
    first, second = installation("first"), installation("second")
    with first.app_context():
        draft_a = send_with_a_reminder(CITIZEN_CPR)
        rounds_a = [r.id for r in share_of(draft_a).rounds]
    with second.app_context():
        draft_b = send_with_a_reminder(OTHER_CPR)
        rounds_b = [r.id for r in share_of(draft_b).rounds]
    assert rounds_a == rounds_b  # the same ids, in two databases

    # Each worker sends its own installation's invitation, once.
    work(first)
    assert (len(sandbox.mailbox(CITIZEN_CPR)), len(sandbox.mailbox(OTHER_CPR))) == (1, 0)

    # The first cancels its share: its reminder's job goes, the second's stays.
    with first.app_context():
        cancel_share(share_of(draft_a))
        db.session.commit()
    with second.app_context():
        queue_b = get_queue()
        job = Job.fetch(queue_b.job_id(f"round-{rounds_b[1]}"), connection=queue_b.connection)
        assert job.get_status() == JobStatus.SCHEDULED
        assert queue_b.scheduled_job_registry.get_job_ids() == [job.id]

    work(second)
    assert (len(sandbox.mailbox(CITIZEN_CPR)), len(sandbox.mailbox(OTHER_CPR))) == (1, 1)
    with first.app_context():
        assert [r.state for r in share_of(draft_a).rounds] == [SendState.DONE, SendState.CANCELLED]
    with second.app_context():
        assert [r.state for r in share_of(draft_b).rounds] == [SendState.DONE, SendState.SCHEDULED]

    # Housekeeping runs once per interval in each installation, not once for both.
    with first.app_context():
        get_redis().delete(lock_key())
        run_housekeeping()
    with second.app_context():
        assert not get_redis().exists(lock_key())
        run_housekeeping()
        assert get_redis().exists(lock_key())

    # The same admin id ticking the same member id, and the same address
    # trying a login: each installation counts and keeps its own.
    limit = AttemptLimit("login-address", limit=1, window=60)
    with first.app_context():
        Selection(1, 1, "add").mark([2], True)
        assert limit.take("127.0.0.1") == 0
        assert redis_key("x") == "first:x"
    with second.app_context():
        assert Selection(1, 1, "add").is_empty
        assert limit.take("127.0.0.1") == 0

    # Every key either installation wrote says whose it is.
    with first.app_context():
        keys = [k.decode() for k in get_redis().keys("*")]
    ours = ("first", "second")
    for key in keys:
        if key.startswith("rq:"):
            named = re.search(r"^rq:(?:job|results|queue|wip|finished|failed|deferred|scheduled|canceled):([^:]+)", key)
            assert named is None or named.group(1).startswith(ours), key
        else:
            assert key.startswith(tuple(f"{o}:" for o in ours)), key
    assert any(k.startswith("second:") for k in keys) and any(k.startswith("first:") for k in keys)


@pytest.mark.parametrize(
    "name, starts",
    [("postbud", True), ("kommune-2", True), ("Kommune", False), ("a:b", False), ("-x", False), ("", False)],
)
def test_the_app_refuses_to_start_with_a_name_that_cannot_prefix_keys(name, starts, redis_url):
    def start():
        return create_app(INSTALLATION=name, REDIS_URL=redis_url)

    if starts:
        assert start().config["INSTALLATION"] == name
    else:
        with pytest.raises(RuntimeError, match="POSTBUD_INSTALLATION"):
            start()
