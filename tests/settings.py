"""Settings for the test suite: the production settings module, fed test values.

Live server processes started by the tests use this module too, so what the
test process and the server believe always agree.
"""

import os
from pathlib import Path

# Cheap key derivation: the production default (2^16) would make every
# signup and login in the suite cost 170 ms.
os.environ.setdefault("SECURECHAT_SCRYPT_WORK_FACTOR", "10")

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("SECURECHAT_CHANNEL_PREFIX", f"securechat-test-{os.getpid()}")
# pytest-xdist's workers inherit the controlling process's prefix: each adds its name, so
# that two workers' users (whose ids repeat across their databases) share no channel-layer
# group and no rate-limit counter. The servers a worker starts inherit the suffixed prefix.
_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and not os.environ["SECURECHAT_CHANNEL_PREFIX"].endswith(f"-{_worker}"):
    os.environ["SECURECHAT_CHANNEL_PREFIX"] += f"-{_worker}"

from securechat.settings import *  # noqa: E402,F403

# Version 2 clients in tests derive at the test-only floor of 10. A setting, not an
# environment variable: servers the tests start in production mode (which refuses
# anything below 16) must not inherit it.
SECURECHAT_CLIENT_WORK_FACTOR = 10
# A live server a test starts to raise the work factor (the client's upgrade at login):
# read by these test settings only, never by securechat.settings.
if os.environ.get("SECURECHAT_TEST_CLIENT_WORK_FACTOR"):
    SECURECHAT_CLIENT_WORK_FACTOR = int(os.environ["SECURECHAT_TEST_CLIENT_WORK_FACTOR"])

# Pages served by a live server use the test build of the bundles (work-factor floor 10,
# tools/bundle.mjs --test) when a test names its directory: the served build refuses the
# test work factor, as it must. tests/browser/test_v2_accounts.py builds one per module.
if os.environ.get("SECURECHAT_TEST_BUNDLE_DIR"):
    SECURECHAT_BUNDLE_STATIC_PREFIX = "test-bundle"
    SECURECHAT_BUNDLE_MANIFEST = Path(os.environ["SECURECHAT_TEST_BUNDLE_DIR"]) / "manifest.json"
    STATICFILES_DIRS = [*STATICFILES_DIRS,  # noqa: F405
                        (SECURECHAT_BUNDLE_STATIC_PREFIX, os.environ["SECURECHAT_TEST_BUNDLE_DIR"])]

# A live server with agecrypt's identity parsing and every decrypt entry point disabled
# (tests/securechat/test_no_unwrap.py): patched here, before any app module imports
# agecrypt, and a test-only URLconf with the probe of its positive control.
if os.environ.get("SECURECHAT_TEST_NO_UNWRAP"):
    from tests.support import no_unwrap

    no_unwrap.install(os.environ["SECURECHAT_TEST_NO_UNWRAP"])
    ROOT_URLCONF = "tests.support.no_unwrap_urls"
