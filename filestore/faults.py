"""Test-only fault injection for the upload writer (crash tests, tests/filestore).

``SECURECHAT_TEST_CRASH_AT_CHUNK=<index>:<mode>`` makes the process
``os._exit`` while writing chunk ``<index>`` of an upload, before its offset
is recorded: ``written`` after the whole chunk reached the file, ``torn``
after only half of it did (a power cut in the middle of the write).

It is read only when the settings module is a test one (``tests.…``) and
``SECURECHAT_ENV`` is not production, so a production process never honours
the variable, whatever its environment says.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from django.conf import settings

ENV = "SECURECHAT_TEST_CRASH_AT_CHUNK"
EXIT_CODE = 70


@dataclass(frozen=True)
class CrashPoint:
    index: int
    torn: bool


@cache
def crash_point() -> CrashPoint | None:
    if getattr(settings, "PRODUCTION", False):
        return None
    if not str(getattr(settings, "SETTINGS_MODULE", "")).startswith("tests."):
        return None
    value = os.environ.get(ENV, "")
    if not value:
        return None
    index, _, mode = value.partition(":")
    return CrashPoint(int(index), mode == "torn")


def crash_now() -> None:
    os._exit(EXIT_CODE)


DISK_FULL_ENV = "SECURECHAT_TEST_DISK_FULL_FLAG"


def disk_full() -> bool:
    """True while the file named by ``SECURECHAT_TEST_DISK_FULL_FLAG`` exists (tests only):
    the ciphertext-mode writer then fails as on a full disk, after writing part of its data."""
    if getattr(settings, "PRODUCTION", False):
        return False
    if not str(getattr(settings, "SETTINGS_MODULE", "")).startswith("tests."):
        return False
    flag = os.environ.get(DISK_FULL_ENV, "")
    return bool(flag) and os.path.exists(flag)
