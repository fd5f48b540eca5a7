"""Helpers for the account tests: real actions, real devices, real codes.

``fresh_rate_limits`` (import it into a test module and use it) deletes this
test run's rate-limit counters from Redis before a test, so the per-address
limits of one test do not spill into the next; it never touches other keys.
"""

from __future__ import annotations

import json
import time

import pytest
from django_otp.oath import hotp

from accounts import actions


def rate_limit_pattern() -> str:
    from django.conf import settings

    return f"{settings.CHANNEL_LAYER_PREFIX}:*:rl:*"


def clear_rate_limits() -> None:
    import redis
    from django.conf import settings

    client = redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(rate_limit_pattern(), count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def fresh_rate_limits(redis_url):
    clear_rate_limits()
    yield
    clear_rate_limits()


def code_at(device, t: int) -> str:
    """The TOTP code of ``device`` for time step ``t``."""
    return str(hotp(device.bin_key, t, device.digits)).zfill(device.digits)


def current_t(device) -> int:
    return int((time.time() - device.t0) // device.step)


def fresh_code(device) -> str:
    """A code the device accepts now and has not seen: the step after its last used one."""
    device.refresh_from_db()
    return code_at(device, max(current_t(device), device.last_t + 1))


def enrol_totp(user):
    """Set up an authenticator the way the setup page does; returns (device, backup codes)."""
    pending = actions.do_start_totp(user)
    device, codes = actions.do_confirm_totp(user, pending.pk, code_at(pending,
                                                                      current_t(pending)))
    return device, codes


def wait_for_mail() -> None:
    """Mail sent after the response (the password-reset link) has been handed over."""
    from accounts.emails import wait_for_background

    wait_for_background()


def post_json(client, url: str, data=None, **extra):
    """Django test client: a JSON POST like a non-browser API client."""
    return client.post(url, data=json.dumps(data if data is not None else {}),
                       content_type="application/json", **extra)

