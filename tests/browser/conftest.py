"""Playwright harness for the browser tests (DESIGN.md §9).

Debian's Chromium (``/usr/bin/chromium``) is launched once per test run through
Playwright's sync API (the tests are plain ``def`` functions: the sync API
cannot run inside pytest-asyncio's loop). Each user gets their own browser
context (own cookies and storage) on a live uvicorn server from
``tests/support/live.py``. When a test fails, every open page is saved as a
screenshot into the test's tmp directory, named in the failure report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.accounts import clear_rate_limits
from tests.support.bundle import build

CHROMIUM = os.environ.get("SECURECHAT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-quic"]
# Generous ceilings for a loaded 2-core machine; Playwright's waits poll, so a
# passing run takes as long as the behaviour needs, not these.
DEFAULT_TIMEOUT_MS = 20_000
EXPECT_TIMEOUT_MS = 10_000


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory):
    """The fake camera of the session's Chromium (tests/support/qrimages.py): a file at a
    fixed path that a test fills with what the camera should see before it starts one."""
    from tests.support.qrimages import FakeCamera

    return FakeCamera(tmp_path_factory.mktemp("fake-camera") / "camera.y4m")


@pytest.fixture(scope="session")
def browser(fake_camera):
    """One Chromium for the whole run (the browser tests run last: tests/conftest.py), its
    camera the session's ``fake_camera`` (the permission prompt answered yes)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)

    # Playwright's sync API keeps an asyncio loop on this thread, so Django's
    # async-safety guard would refuse the test database set-up and teardown
    # that run between Playwright calls; they are sync code on the main thread.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                                args=CHROMIUM_ARGS + fake_camera.chromium_args)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass(frozen=True)
class BundleBuild:
    """The test build of the bundles: its directory and manifest."""

    dir: Path
    manifest: dict

    def url(self, entry: str) -> str:
        """Where a server started with ``SECURECHAT_TEST_BUNDLE_DIR=dir`` serves ``entry``."""
        return f"/static/test-bundle/{self.manifest['entries'][entry]['file']}"


@pytest.fixture(scope="session")
def test_bundle(tmp_path_factory) -> BundleBuild:
    """The test build (tools/bundle.mjs --test: work-factor floor 10), built once per run for
    every module whose server serves it (``SECURECHAT_TEST_BUNDLE_DIR``)."""
    directory = tmp_path_factory.mktemp("test-bundle")
    return BundleBuild(directory, build(directory, test_variant=True))


@pytest.fixture
def fresh_database(transactional_db, redis_url, shared_servers):
    """For a test on the module's shared live server (``shared_servers.start`` in a
    module-scoped ``server`` fixture): committed rows the server sees, flushed after the
    test with the server's files (as ``start_shared_server`` does), and clean rate limits
    before and after."""
    clear_rate_limits()
    yield
    clear_rate_limits()
    shared_servers.clear_files()


@pytest.fixture(autouse=True)
def browser_rate_limits(redis_url):
    """Every browser test starts with clean rate limits: the modules sign many users up
    from 127.0.0.1 through live servers sharing one Redis, and the per-address limits
    (prelogin, signup) would otherwise carry one module's count into the next. No browser
    test is about a rate limit (tests/accounts and tests/messaging test those)."""
    clear_rate_limits()


@pytest.fixture
def new_page(browser, request, tmp_path):
    """Factory ``new_page(server, viewport=None) -> Page``, each in its own browser context.

    Pages log console errors and failed requests into ``page.errors`` so tests
    can assert the app ran cleanly (a CSP violation is such an error).
    """
    contexts = []

    def make(server, viewport=None, **options):
        context = browser.new_context(
            base_url=server.url, viewport=viewport or {"width": 1280, "height": 800},
            accept_downloads=True, **options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.bad_responses = []
        page.on("console", lambda m: m.type == "error" and not m.text.startswith(
            "Failed to load resource") and page.errors.append(m.text))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("response", lambda r: r.status >= 400 and page.bad_responses.append(
            f"{r.status} {r.request.method} {r.url}"))
        return page

    yield make
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for i, context in enumerate(contexts):
            for j, page in enumerate(context.pages):
                path = tmp_path / f"failure-{i}-{j}.png"
                try:
                    page.screenshot(path=str(path), full_page=True)
                    print(f"screenshot of {page.url}: {path}")
                except Exception as exc:  # noqa: BLE001 - the page may be gone
                    print(f"no screenshot of context {i}: {exc}")
                print(f"console errors of context {i}: {getattr(page, 'errors', [])}")
                print(f"HTTP errors of context {i}: {getattr(page, 'bad_responses', [])}")
    for context in contexts:
        context.close()
