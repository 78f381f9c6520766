"""Fixtures: the app on a fresh, migrated database, a real Redis, and helpers.

- Database: PostgreSQL when TEST_DATABASE_URL is set (a throwaway database is
  created on that server for the session), otherwise a SQLite file. The schema
  comes from the Alembic migrations, once per session; every test starts with
  empty tables.
- Redis: REDIS_URL when set, otherwise the embedded server. The tests flush
  the Redis database they are given, so never point them at one that matters.
"""

import os
import re
import tempfile
import uuid
from pathlib import Path

import pytest

_instance = Path(tempfile.mkdtemp(prefix="postbud-test-"))
os.environ["POSTBUD_INSTANCE_DIR"] = str(_instance)
os.environ.setdefault("SECRET_KEY", "test-secret-key")

import contextvars  # noqa: E402

import sqlalchemy as sa  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from app import create_app  # noqa: E402
from extensions import db, embedded_redis_url, get_redis, stop_embedded_redis  # noqa: E402
from models import Membership, Organization, Role, User  # noqa: E402

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def database_url():
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{_instance / 'test.sqlite'}"
        return
    from config import _normalize_db_url

    url = _normalize_db_url(url)
    server = sa.engine.make_url(url)
    name = f"postbud_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url():
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    url = embedded_redis_url(_instance)
    yield url
    stop_embedded_redis(_instance)  # the server this session started must not outlive it


# --- the sandbox gateway -------------------------------------------------------

SANDBOX_KEY = "test-key-1"  # bound to CVR 13585628 and 12345674
OTHER_KEY = "test-key-2"  # bound to CVR 29190003 only
SENDER_CVR = "13585628"
UNBOUND_CVR = "12345682"  # a valid CVR no key is bound to
CITIZEN_CPR = "0101901234"
EXEMPT_CPR = "0202801234"
UNKNOWN_CPR = "0303701234"
SANDBOX_FAULTS = {
    "SANDBOX_FAIL_RATE": 0.0,
    "SANDBOX_LATENCY_MS": 0,
    "SANDBOX_RATE_LIMIT": 0,
    "SANDBOX_DELIVERY_DELAY_MS": 0,
}


class LiveSandbox:
    def __init__(self, app, url):
        self.app = app
        self.url = url

    def configure(self, **faults):
        self.app.config.update(faults)

    def reset(self):
        """Faults off and every mailbox empty, so each test starts clean."""
        from sandbox.models import DeliveredMessage
        from sandbox.models import db as sandbox_db

        self.app.config.update(SANDBOX_FAULTS)
        self.app.extensions["sandbox_rate_limiter"].__init__()

        def empty_mailboxes():
            with self.app.app_context():
                sandbox_db.session.execute(sandbox_db.delete(DeliveredMessage))
                sandbox_db.session.commit()

        contextvars.Context().run(empty_mailboxes)  # apart from the test's own app context

    def mailbox(self, cpr):
        import httpx

        return httpx.get(f"{self.url}/sandbox/api/mailbox/{cpr}").json()


@pytest.fixture(scope="session")
def sandbox_server():
    """The real sandbox app over HTTP on a free port, in a thread, for the session."""
    import threading

    from werkzeug.serving import make_server

    from sandbox.app import create_app as create_sandbox

    sandbox_app = create_sandbox(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{_instance / 'sandbox-test.sqlite'}",
        SANDBOX_API_KEYS=f"{SANDBOX_KEY}:{SENDER_CVR},12345674;{OTHER_KEY}:29190003",
        SANDBOX_EXEMPT_CPRS={EXEMPT_CPR},
        SANDBOX_UNKNOWN_CPRS={UNKNOWN_CPR},
        **SANDBOX_FAULTS,
    )
    server = make_server("127.0.0.1", 0, sandbox_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveSandbox(sandbox_app, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()


@pytest.fixture
def sandbox(sandbox_server):
    sandbox_server.reset()
    yield sandbox_server
    sandbox_server.reset()


@pytest.fixture(scope="session")
def migrated(database_url, redis_url):
    app = create_app(SQLALCHEMY_DATABASE_URI=database_url, REDIS_URL=redis_url)
    with app.app_context():
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
        db.engine.dispose()
    return database_url


def app_config(database_url, redis_url, **extra):
    return {
        **dict(
            TESTING=True,
            SQLALCHEMY_DATABASE_URI=database_url,
            REDIS_URL=redis_url,
            SESSION_COOKIE_SECURE=False,
            REMEMBER_COOKIE_SECURE=False,
            RQ_QUEUE="postbud-test",
            VERIFICATION_RETRY_INTERVALS=[0, 0],
            DELIVERY_CHECK_DELAYS=[0],  # one look at once, in the same burst of the worker
            # scrypt costs ~0.3 s a hash; the tests hash for every user they make.
            PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
        ),
        **extra,
    }


class IsolatedClient(FlaskClient):
    """Runs each request in an empty context, as a real server would.

    The tests keep an app context pushed for their own database work; without
    this, requests would reuse it and share `g` (and its CSRF token) with each
    other and with the test.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def app(migrated, redis_url, sandbox, request):
    params = {"DIGITAL_POST_API_URL": sandbox.url, **getattr(request, "param", {})}
    app = create_app(**app_config(migrated, redis_url, **params))
    app.test_client_class = IsolatedClient
    with app.app_context():
        get_redis(app).flushdb()
        yield app
        db.session.remove()
        empty_all_tables()
        get_redis(app).flushdb()
        db.engine.dispose()


def empty_all_tables():
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def redis_down(app):
    """The app's Redis is unreachable (nothing listens on port 1)."""
    working = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    app.extensions.pop("redis", None)
    yield
    app.config["REDIS_URL"] = working
    app.extensions.pop("redis", None)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def run_jobs(app):
    """Run a real rq worker in burst mode until the queue is empty.

    SimpleWorker by default (in this process, fast); pass the product's
    forking AppWorker to run jobs exactly as `flask worker` does.
    """
    from rq import SimpleWorker

    from jobs.worker import run_worker

    def run(worker_class=SimpleWorker):
        contextvars.Context().run(run_worker, app, True, worker_class)

    return run


# --- data -----------------------------------------------------------------


@pytest.fixture
def make_org(app):
    def make(name="Testkommune"):
        org = Organization(name=name)
        db.session.add(org)
        db.session.commit()
        return org

    return make


@pytest.fixture
def make_user(app):
    counter = iter(range(1, 10_000))

    def make(org=None, role=Role.MEMBER, name=None, email=None, department="", language="da"):
        n = next(counter)
        user = User(email=email or f"user{n}@example.dk", name=name or f"Bruger {n}", language=language)
        user.set_password(PASSWORD)
        db.session.add(user)
        if org is not None:
            Membership.create(org, user, role=role, department=department)
        db.session.commit()
        return user

    return make


@pytest.fixture
def org(make_org):
    return make_org()


@pytest.fixture
def admin(org, make_user):
    return make_user(org, role=Role.ADMIN, name="Anne Admin", email="admin@example.dk")


@pytest.fixture
def member(org, make_user):
    return make_user(org, role=Role.MEMBER, name="Mads Medlem", email="member@example.dk")


# --- HTTP helpers -----------------------------------------------------------

CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


class Session:
    """A logged-in test client that posts the way the pages do: with the CSRF
    token from the last page, and HTMX headers when asked."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def get(self, url, htmx=False, **kw):
        response = self.client.get(url, headers=self._headers(htmx), **kw)
        match = CSRF_RE.search(response.get_data(as_text=True))
        if match:
            self.token = match.group(1)
        return response

    def post(self, url, data=None, htmx=False, csrf=True, **kw):
        headers = self._headers(htmx)
        if csrf:
            if self.token is None:
                self.get("/login")
            headers["X-CSRFToken"] = self.token
        return self.client.post(url, data=data or {}, headers=headers, **kw)

    def _headers(self, htmx):
        return {"HX-Request": "true"} if htmx else {}

    def login(self, user_or_email, password=PASSWORD):
        email = getattr(user_or_email, "email", user_or_email)
        self.get("/login")
        response = self.post("/login", {"email": email, "password": password})
        self.get("/", follow_redirects=True)  # the new session's CSRF token
        return response


@pytest.fixture
def browser_session(client):
    return Session(client)


@pytest.fixture
def as_admin(client, admin):
    s = Session(client)
    s.login(admin)
    return s


@pytest.fixture
def as_member(client, member):
    s = Session(client)
    s.login(member)
    return s


# --- live server and headless Chromium --------------------------------------


@pytest.fixture
def live_server(app):
    """The app served over real HTTP on a free port, in a thread."""
    import threading

    from werkzeug.serving import make_server

    server_app = create_app(
        **{k: app.config[k] for k in app_config(app.config["SQLALCHEMY_DATABASE_URI"], app.config["REDIS_URL"])}
    )
    for key in ("RQ_QUEUE", "DIGITAL_POST_API_URL", "PUBLIC_BASE_URL"):
        server_app.config[key] = app.config[key]
    app.extensions["live_app"] = server_app  # for a test that breaks what the server uses
    server = make_server("127.0.0.1", 0, server_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    with server_app.app_context():
        db.engine.dispose()


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server, request):
    context = chromium.new_context(base_url=live_server, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # 4xx answers to bad input are expected; anything else logged as an error is not.
    page.on(
        "console",
        lambda msg: msg.type == "error" and not re.search(r"status of 4\d\d", msg.text) and errors.append(msg.text),
    )
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True, caret="initial")
    context.close()
    # A CSP violation or a script error is a bug even when the flow worked.
    assert not errors, errors


def browser_login(page, user, password=PASSWORD):
    page.goto("/login")
    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Adgangskode").fill(password)
    page.get_by_role("button", name="Log ind").click()


# --- member access -----------------------------------------------------------


@pytest.fixture
def active_integration(org, admin):
    """The organization connected to the sandbox, as the wizard leaves it."""
    from crypto import encrypt
    from models import DigitalPostIntegration
    from models.base import utcnow
    from models.integration import State

    integration = DigitalPostIntegration.for_org(org.id)
    integration.state = State.ACTIVE
    integration.api_key_encrypted = encrypt(SANDBOX_KEY)
    integration.api_key_last4 = SANDBOX_KEY[-4:]
    integration.sender_cvr = SENDER_CVR
    integration.activated_by_id = admin.id
    integration.activated_at = utcnow()
    db.session.commit()
    return integration


@pytest.fixture
def make_members(app):
    """Many members at once, without passwords (they never log in)."""

    def make(org, names, department="Sundhed", role=Role.MEMBER, prefix="m"):
        members = []
        for i, name in enumerate(names):
            user = User(email=f"{prefix}{i}.{uuid.uuid4().hex[:6]}@example.dk", name=name, language="da")
            db.session.add(user)
            members.append(Membership.create(org, user, role=role, department=department))
        db.session.commit()
        return members

    return make


@pytest.fixture
def make_scheduled_send(app):
    """A scheduled invitation of `membership`, with a real rq job waiting in
    the scheduler (the sharing feature makes these; revoke and deactivate
    must cancel them)."""
    from datetime import timedelta

    from extensions import get_queue
    from models import ScheduledSend, SendState, Share, Survey
    from models.base import utcnow

    def make(org, membership, state=SendState.SCHEDULED, with_job=True, hours=1):
        survey = Survey(org_id=org.id, owner_id=membership.user_id, title="Trivsel")
        db.session.add(survey)
        db.session.flush()
        share = Share(org_id=org.id, survey_id=survey.id, membership_id=membership.id)
        db.session.add(share)
        db.session.flush()
        job = get_queue().enqueue_in(timedelta(hours=hours), print, "placeholder send") if with_job else None
        send = ScheduledSend(
            org_id=org.id,
            share_id=share.id,
            membership_id=membership.id,
            state=state,
            send_at=utcnow() + timedelta(hours=hours),
            rq_job_id=job.id if job else None,
        )
        db.session.add(send)
        db.session.commit()
        return send, job

    return make


def scheduled_job_ids() -> set[str]:
    from rq import Queue

    from extensions import get_queue

    queue = get_queue()
    return set(Queue(queue.name, connection=queue.connection).scheduled_job_registry.get_job_ids())
