"""Second factor: codes are single-use under concurrency, throttled, and enrolment works.

Concurrency: every pair releases two requests together (``threading.Barrier``) on two
separate half-logged-in sessions of the same user, over separate HTTP connections to a
real server process; on SQLite and on PostgreSQL (``-m dbsensitive``).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts import stages
from accounts.models import BackupCodeDevice
from accounts.otp import CodeThrottled
from accounts.throttle import RateLimited
from tests.accounts import (  # noqa: F401
    clear_rate_limits,
    enrol_totp,
    fresh_code,
    fresh_rate_limits,
    post_json,
)
from tests.support.accounts import http_login, login_client, make_user
from tests.support.clients import ApiClient

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

PAIRS = 20


def test_one_totp_code_used_twice_succeeds_once():
    u = make_user()
    device, _ = enrol_totp(u.user)
    a, b = login_client(u, stage="otp"), login_client(u, stage="otp")
    code = fresh_code(device)
    assert post_json(a, "/api/v1/auth/otp", {"code": code}).status_code == 200
    r = post_json(b, "/api/v1/auth/otp", {"code": code})
    assert r.status_code == 400 and r.json()["error"] == "invalid_code"
    assert b.session[stages.SESSION_STAGE] == stages.STAGE_OTP
    # Positive control: the next code works for b (once django-otp's 1 s delay is over,
    # simulated by resetting the throttle).
    device.refresh_from_db()
    device.throttle_reset()
    assert post_json(b, "/api/v1/auth/otp", {"code": fresh_code(device)}).status_code == 200


def test_one_backup_code_used_twice_succeeds_once():
    u = make_user()
    _, codes = enrol_totp(u.user)
    assert len(codes) == 10 and len(set(codes)) == 10
    a, b = login_client(u, stage="otp"), login_client(u, stage="otp")
    assert post_json(a, "/api/v1/auth/otp", {"code": codes[0]}).status_code == 200
    r = post_json(b, "/api/v1/auth/otp", {"code": codes[0].upper().replace("-", " ")})
    assert r.status_code == 400
    BackupCodeDevice.objects.get(user=u.user).throttle_reset()
    assert post_json(b, "/api/v1/auth/otp", {"code": codes[1]}).status_code == 200
    assert BackupCodeDevice.objects.get(user=u.user).remaining() == 8


def race_pairs(server, code_for) -> list[list[int]]:
    """PAIRS times: a new user, two half-logged-in sessions, one code posted by both at once."""
    outcomes = []
    for _ in range(PAIRS):
        clear_rate_limits()
        u = make_user()
        device, codes = enrol_totp(u.user)
        clients = [ApiClient(server.url), ApiClient(server.url)]
        try:
            for c in clients:
                r = c.post("/api/v1/auth/login", u.login_body())
                assert r.status_code == 200 and r.json()["otp_required"], r.text
                c.fetch_csrf()
            code = code_for(device, codes)
            barrier = threading.Barrier(2)
            statuses: list[int] = []

            def contend(client, barrier=barrier, statuses=statuses, code=code):
                barrier.wait()
                statuses.append(client.post("/api/v1/auth/otp", {"code": code}).status_code)

            threads = [threading.Thread(target=contend, args=(c,)) for c in clients]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            outcomes.append(sorted(statuses))
        finally:
            for c in clients:
                c.close()
    return outcomes


@pytest.mark.dbsensitive
def test_parallel_pairs_with_one_totp_code_succeed_exactly_once(start_server):
    server = start_server("uvicorn")
    outcomes = race_pairs(server, lambda device, codes: fresh_code(device))
    assert outcomes == [[200, 400]] * PAIRS, outcomes


@pytest.mark.slow  # 20 enrolments hash 10 codes with Argon2id each: ~38 s on PostgreSQL here
@pytest.mark.dbsensitive
def test_parallel_pairs_with_one_backup_code_succeed_exactly_once(start_server):
    server = start_server("uvicorn")
    outcomes = race_pairs(server, lambda device, codes: codes[3])
    assert outcomes == [[200, 400]] * PAIRS, outcomes


def test_twenty_wrong_codes_throttle_even_the_right_code():
    """20 wrong codes: the right code is refused (429) until the throttle delay passes."""
    u = make_user()
    device, _ = enrol_totp(u.user)
    client = login_client(u, stage="otp")
    statuses = [post_json(client, "/api/v1/auth/otp", {"code": "000000"}).status_code
                for _ in range(20)]
    assert statuses[0] == 400 and set(statuses[1:]) <= {400, 429} and 429 in statuses
    right = fresh_code(device)
    r = post_json(client, "/api/v1/auth/otp", {"code": right})
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1
    assert client.session[stages.SESSION_STAGE] == stages.STAGE_OTP
    device.refresh_from_db()
    assert device.throttling_failure_count >= 1

    # The delay passes (django-otp's and the per-account window): the right code works.
    device.throttling_failure_timestamp = timezone.now() - timedelta(days=30)
    device.save()
    clear_rate_limits()
    assert post_json(client, "/api/v1/auth/otp", {"code": right}).status_code == 200


def test_a_mistyped_code_then_the_right_one_logs_in_at_once():
    """One typo costs no wait: the right code typed straight after it completes the login."""
    u = make_user()
    device, _ = enrol_totp(u.user)
    client = login_client(u, stage="otp")
    wrong = post_json(client, "/api/v1/auth/otp", {"code": "000000"})
    typed_at = time.monotonic()
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_code"
    right = post_json(client, "/api/v1/auth/otp", {"code": fresh_code(device)})
    assert right.status_code == 200, right.content
    assert time.monotonic() - typed_at < 1.0
    assert client.session[stages.SESSION_STAGE] == stages.STAGE_DONE


@pytest.mark.parametrize("kind", ["totp", "backup"])
def test_failures_past_the_free_ones_are_throttled_with_the_wait_in_words(kind):
    """After SECURECHAT_OTP_FREE_FAILURES wrong codes the next one locks: "1 second", then 2…"""
    u = make_user()
    device, codes = enrol_totp(u.user)
    client = login_client(u, stage="otp")
    wrong = "000000" if kind == "totp" else "aaaaa-aaaaa"
    right = fresh_code(device) if kind == "totp" else codes[0]
    free = settings.SECURECHAT_OTP_FREE_FAILURES
    assert free >= 1
    answers = [post_json(client, "/api/v1/auth/otp", {"code": wrong}) for _ in range(free + 1)]
    assert [a.status_code for a in answers] == [400] * (free + 1)
    r = post_json(client, "/api/v1/auth/otp", {"code": right})
    assert r.status_code == 429, r.content
    assert r.json() == {"error": "too_many_attempts", "field": "code",
                        "detail": "Too many wrong codes. Try again in 1 second."}
    assert r["Retry-After"] == "1"
    assert client.session[stages.SESSION_STAGE] == stages.STAGE_OTP


def test_waits_are_worded_for_people():
    assert str(CodeThrottled(1)) == "Too many wrong codes. Try again in 1 second."
    assert str(CodeThrottled(5)) == "Too many wrong codes. Try again in 5 seconds."
    assert str(RateLimited(1)) == "Too many attempts. Try again in 1 second."
    assert str(RateLimited(300)) == "Too many attempts. Try again in 300 seconds."


def test_code_step_needs_the_password_step():
    anonymous = Client()
    assert post_json(anonymous, "/api/v1/auth/otp", {"code": "123456"}).status_code == 401
    u = make_user()  # no device: the password step completes the login
    client = Client()
    http_login(client, u.email, u.password)
    r = post_json(client, "/api/v1/auth/otp", {"code": "123456"})
    assert r.status_code == 409 and r.json()["error"] == "wrong_step"
