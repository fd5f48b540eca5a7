"""Settings for the test suite: the production settings module, fed test values.

Live server processes started by the tests use this module too, so what the
test process and the server believe always agree.
"""

import os

# Cheap key derivation: the production default (2^16) would make every
# signup and login in the suite cost 170 ms.
os.environ.setdefault("SECURECHAT_SCRYPT_WORK_FACTOR", "10")
# Version 2 clients in tests use the test-only floor of 10 (production refuses below 16).
os.environ.setdefault("SECURECHAT_CLIENT_WORK_FACTOR", "10")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("SECURECHAT_CHANNEL_PREFIX", f"securechat-test-{os.getpid()}")

from securechat.settings import *  # noqa: E402,F403
