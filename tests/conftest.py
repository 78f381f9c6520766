"""The test suite's fixtures, by concern, in tests/fixtures/:

- services: the app on a migrated database (SQLite, or PostgreSQL with
  TEST_DATABASE_URL) and a real Redis (embedded, or REDIS_URL), rq jobs;
- sandbox: the real sandbox gateway over HTTP;
- sf1601: its Serviceplatformen port (mutual TLS), an SF1601 integration, receipts;
- data: organizations, users, logged-in sessions, rows;
- browser: a live server and headless Chromium.

Tests import the shared names (PASSWORD, Session, the sandbox's keys and
CPRs) from here.
"""

import pytest

# The fixture modules assert too; they are imported here before pytest loads them as plugins.
pytest.register_assert_rewrite("tests.fixtures")

import tests.fixtures.instance  # noqa: E402, F401  (first: instance/ before config is imported)
from tests.fixtures.browser import ARTIFACTS, browser_login  # noqa: E402
from tests.fixtures.data import PASSWORD, Session, scheduled_job_ids  # noqa: E402
from tests.fixtures.sandbox import (  # noqa: E402
    CITIZEN_CPR,
    EXEMPT_CPR,
    OTHER_KEY,
    SANDBOX_KEY,
    SENDER_CVR,
    UNBOUND_CVR,
    UNKNOWN_CPR,
)
from tests.fixtures.services import app_config  # noqa: E402

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.sandbox",
    "tests.fixtures.sf1601",
    "tests.fixtures.data",
    "tests.fixtures.browser",
]

__all__ = [
    "ARTIFACTS",
    "CITIZEN_CPR",
    "EXEMPT_CPR",
    "OTHER_KEY",
    "PASSWORD",
    "SANDBOX_KEY",
    "SENDER_CVR",
    "Session",
    "UNBOUND_CVR",
    "UNKNOWN_CPR",
    "app_config",
    "browser_login",
    "scheduled_job_ids",
]


def pytest_collection_modifyitems(items):
    """Whatever starts Chromium is in the browser lane (./bin/test browser)."""
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.browser)
