"""Fixtures shared by the whole suite.

Real components throughout (DESIGN.md §9): the Redis named by REDIS_URL
(``make test`` starts one when none answers), PostgreSQL when DATABASE_URL is
set, and real server processes from ``tests/support/live.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import flush
from tests.support.bundle import ensure_built
from tests.support.live import LiveServer

BROWSER_DIR = Path(__file__).resolve().parent / "browser"


def pytest_configure(config):
    config._securechat_db_tests = 0
    # This process closes its connections after each use, as before persistent ones: a
    # connection kept by an executor thread would outlive the test database (PostgreSQL
    # refuses to drop it). Live servers (tests/support/live.py) keep the setting's reuse.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The flush after each transactional test puts post_migrate's rows back from a record
    # instead of re-running it (tests/support/flush.py).
    flush.install()
    # Pages name their scripts from the bundle manifest: test the current sources.
    ensure_built()


def pytest_collection_modifyitems(session, config, items):
    """Chromium tests run last, in their usual order: one Chromium serves them all
    (tests/browser/conftest.py, session scope), and Playwright's sync API keeps an
    asyncio loop on the main thread while it lives, which the async tests cannot share."""
    items.sort(key=lambda item: BROWSER_DIR in Path(str(item.path)).parents)


def pytest_runtest_setup(item):
    if item.get_closest_marker("django_db") or {"db", "transactional_db"} & set(
        getattr(item, "fixturenames", ())
    ):
        item.config._securechat_db_tests += 1


def pytest_sessionfinish(session, exitstatus):
    """On the PostgreSQL leg, a run that touched no database proves nothing."""
    if os.environ.get("EXPECT_DB_VENDOR") == "postgresql" and exitstatus == 0:
        if session.config._securechat_db_tests == 0 and session.testscollected:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            print("\nPostgreSQL leg ran no database test")


@pytest.fixture(scope="session")
def redis_url():
    """The test Redis; fails loudly when it does not answer."""
    import redis
    from django.conf import settings

    client = redis.from_url(settings.REDIS_URL, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis does not answer on {settings.REDIS_URL} ({exc}); "
                    "`make test` starts one")
    finally:
        client.close()
    return settings.REDIS_URL


@pytest.fixture
def start_server(transactional_db, redis_url, tmp_path):
    """Factory: ``start_server("uvicorn"|"daphne", **env) -> LiveServer``, stopped after the test.

    Needs committed data (``transactional_db``): the server is another process.
    """
    servers: list[LiveServer] = []

    def start(kind: str = "uvicorn", **extra_env: str) -> LiveServer:
        server = LiveServer(kind=kind, workdir=tmp_path / f"server-{len(servers)}",
                            extra_env=extra_env)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def live_server_proc(start_server):
    """A uvicorn process serving the test database."""
    return start_server("uvicorn")
