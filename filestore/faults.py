"""Test-only fault injection for the upload writer (tests/filestore).

``SECURECHAT_TEST_DISK_FULL_FLAG=<path>``: while that file exists, the writer
fails as on a full disk. It is read only when the settings module is a test
one (``tests.…``) and the settings are not production ones, so a production
process never honours the variable, whatever its environment says.
"""

from __future__ import annotations

import os

from django.conf import settings

DISK_FULL_ENV = "SECURECHAT_TEST_DISK_FULL_FLAG"


def disk_full() -> bool:
    """True while the file named by ``SECURECHAT_TEST_DISK_FULL_FLAG`` exists (tests only):
    the writer then fails as on a full disk, after writing part of its data."""
    if getattr(settings, "PRODUCTION", False):
        return False
    if not str(getattr(settings, "SETTINGS_MODULE", "")).startswith("tests."):
        return False
    flag = os.environ.get(DISK_FULL_ENV, "")
    return bool(flag) and os.path.exists(flag)
