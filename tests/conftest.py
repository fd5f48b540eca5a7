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
DB_TEST = "securechat_db_test"  # the user property of a test that uses the database


def pytest_configure(config):
    config.pluginmanager.register(DatabaseTestCount(), "securechat-database-test-count")
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
        item.user_properties.append((DB_TEST, True))


class DatabaseTestCount:
    """On the PostgreSQL leg, a run that touched no database proves nothing. Counted from
    the tests' reports: under pytest-xdist the controlling process runs no test itself and
    sees the workers' reports only."""

    def __init__(self):
        self.count = 0

    def pytest_runtest_logreport(self, report):
        if report.when == "setup" and (DB_TEST, True) in report.user_properties:
            self.count += 1

    def pytest_sessionfinish(self, session, exitstatus):
        if hasattr(session.config, "workerinput"):
            return  # a worker: the controlling process judges the whole run
        if os.environ.get("EXPECT_DB_VENDOR") == "postgresql" and exitstatus == 0:
            if self.count == 0 and session.testscollected:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
                print("\nPostgreSQL leg ran no database test")


@pytest.fixture(scope="session")
def django_db_modify_db_settings_xdist_suffix(request):
    """Each pytest-xdist worker its own test database, as pytest-django gives, except that a
    SQLite file keeps its extension (test-db-gw0.sqlite3, not test-db.sqlite3_gw0)."""
    from django.conf import settings

    worker = getattr(request.config, "workerinput", {}).get("workerid")
    if not worker:
        return
    for database in settings.DATABASES.values():
        test = database.setdefault("TEST", {})
        name = test.get("NAME")
        if database["ENGINE"] != "django.db.backends.sqlite3":
            test["NAME"] = f"{name or 'test_' + database['NAME']}_{worker}"
        elif name and name != ":memory:":
            test["NAME"] = str(Path(name).with_stem(f"{Path(name).stem}-{worker}"))


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


class SharedServers:
    """The live servers a module's tests share: one per kind and environment."""

    def __init__(self, tmp_path_factory):
        self.tmp_path_factory = tmp_path_factory
        self.servers: dict[tuple, LiveServer] = {}

    def start(self, kind: str = "uvicorn", **extra_env: str) -> LiveServer:
        """The module's running server of this kind and environment, started on first use."""
        key = (kind, tuple(sorted(extra_env.items())))
        server = self.servers.get(key)
        if server is None:
            workdir = self.tmp_path_factory.mktemp(f"shared-{kind}-server")
            server = self.servers[key] = LiveServer(kind=kind, workdir=workdir,
                                                    extra_env=extra_env).start()
        elif server.process.poll() is not None:
            raise RuntimeError(f"the module's shared {kind} server has exited "
                               f"(a test must not stop it):\n{server.log()}")
        return server

    def clear_files(self) -> None:
        for server in self.servers.values():
            server.clear_files()

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


@pytest.fixture(scope="module")
def shared_servers(django_db_setup, redis_url, tmp_path_factory):
    """The module's :class:`SharedServers`, stopped after its last test. Tests use
    ``start_shared_server``; a module-scoped fixture may call ``start`` itself (its tests
    then need ``transactional_db``)."""
    servers = SharedServers(tmp_path_factory)
    yield servers
    servers.stop()


@pytest.fixture
def start_shared_server(shared_servers, transactional_db):
    """Factory: ``start_shared_server("uvicorn"|"daphne", **env) -> LiveServer`` like
    ``start_server``, but one process per kind and environment serves the whole module.

    A server start costs a second or more; tests that only talk to a server share one.
    Each test's rows are flushed after it (``transactional_db``) while the process stays,
    and the server's MEDIA_ROOT and mail outbox are emptied, so the next test finds it as
    a new server. A test on a shared server makes its own users (unique addresses) and
    does not count on the server's memory or log holding its traces only; tests that
    stop, kill or restart the server, read its whole log, or need settings of their own
    use ``start_server`` (a process per test).
    """
    yield shared_servers.start
    shared_servers.clear_files()


@pytest.fixture
def live_server_proc(start_server):
    """A uvicorn process serving the test database."""
    return start_server("uvicorn")
