"""Key derivation is expensive, so it is rationed.

- A wrong password never reaches scrypt (the identity unwrap): the spy counts calls of
  ``cryptography``'s ``Scrypt.derive`` at the library boundary, with the right password
  as positive control (exactly one call).
- 50 parallel signups: concurrent derivations (Argon2 and scrypt, counted at their
  library boundaries) never exceed ``SECURECHAT_KDF_CONCURRENCY``, memory stays bounded,
  the excess gets 429, and nothing half-made is left behind.
- A full slot answers the login with 429 and ``Retry-After``.
"""

from __future__ import annotations

import threading
import time

import psutil
import pytest
from cryptography.hazmat.primitives.kdf import scrypt as scrypt_module
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings

from accounts.models import KeyGeneration, User, WrappedIdentity
from accounts.throttle import kdf_limiter, kdf_slot
from tests.accounts import fresh_rate_limits, post_json  # noqa: F401
from tests.support.accounts import PASSWORD, http_login, make_user

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

ARGON2_MIB = 100  # Django's Argon2 default memory_cost (102400 KiB) per derivation


class ConcurrencySpy:
    """Counts calls and the peak number running at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = 0
        self.active = 0
        self.peak = 0

    def wrap(self, function):
        def spied(*args, **kwargs):
            with self.lock:
                self.calls += 1
                self.active += 1
                self.peak = max(self.peak, self.active)
            try:
                return function(*args, **kwargs)
            finally:
                with self.lock:
                    self.active -= 1
        return spied


@pytest.fixture
def scrypt_spy(monkeypatch):
    """Replaces ``Scrypt`` in its module by a delegating class whose ``derive`` is counted."""
    spy = ConcurrencySpy()
    real = scrypt_module.Scrypt

    class SpiedScrypt:
        def __init__(self, *args, **kwargs):
            self._inner = real(*args, **kwargs)
            self.derive = spy.wrap(self._inner.derive)

    monkeypatch.setattr(scrypt_module, "Scrypt", SpiedScrypt)
    return spy


@pytest.fixture
def argon2_spy(monkeypatch):
    """Counts argon2-cffi's low-level hash and verify (what Django's hasher calls)."""
    import argon2._password_hasher
    import argon2.low_level

    spy = ConcurrencySpy()
    monkeypatch.setattr(argon2.low_level, "hash_secret", spy.wrap(argon2.low_level.hash_secret))
    monkeypatch.setattr(argon2._password_hasher, "verify_secret",
                        spy.wrap(argon2._password_hasher.verify_secret))
    return spy


def test_wrong_password_never_runs_scrypt(scrypt_spy):
    u = make_user()  # signup wraps the identity under the password: one scrypt run
    assert scrypt_spy.calls == 1
    scrypt_spy.calls = 0
    client = Client()
    r = http_login(client, u.email, "wrong " * 3)
    assert r.status_code == 401
    assert scrypt_spy.calls == 0
    r = http_login(client, u.email, u.password)
    assert r.status_code == 200
    assert scrypt_spy.calls == 1  # positive control: the unwrap of the identity


def test_unknown_address_costs_argon2_and_no_scrypt(scrypt_spy, argon2_spy):
    r = http_login(Client(), "nobody@example.com", PASSWORD)
    assert r.status_code == 401
    assert scrypt_spy.calls == 0 and argon2_spy.calls == 1


@override_settings(SECURECHAT_KDF_CONCURRENCY=1, SECURECHAT_KDF_WAIT_SECONDS=0.2)
def test_a_full_kdf_slot_answers_429_with_retry_after(scrypt_spy):
    u = make_user()
    scrypt_spy.calls = 0
    with kdf_slot():  # the only slot is taken
        r = http_login(Client(), u.email, u.password)
    assert r.status_code == 429 and r.json()["error"] == "busy"
    assert int(r["Retry-After"]) >= 1
    assert scrypt_spy.calls == 0
    # positive control: with the slot free the same login works
    r = http_login(Client(), u.email, u.password)
    assert r.status_code == 200


class PeakRss:
    """Samples this process's RSS in a thread; ``peak`` in bytes."""

    def __init__(self):
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


SIGNUPS = 50
LIMIT = 2


@override_settings(
    SECURECHAT_KDF_CONCURRENCY=LIMIT,
    SECURECHAT_KDF_WAIT_SECONDS=0.3,
    SECURECHAT_RATE_LIMITS={**settings.SECURECHAT_RATE_LIMITS,
                            "signup_address": (1000, 3600)},
)
def test_fifty_parallel_signups_stay_under_the_kdf_limit(argon2_spy, scrypt_spy):
    barrier = threading.Barrier(SIGNUPS)
    results: dict[str, int] = {}

    def sign_up(i):
        email = f"flood{i}@example.com"
        try:
            client = Client()
            barrier.wait()
            r = post_json(client, "/api/v1/auth/signup", {"email": email,
                                                          "password": PASSWORD})
            results[email] = r.status_code
        finally:
            connection.close()

    base = psutil.Process().memory_info().rss
    with PeakRss() as rss:
        threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(SIGNUPS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    growth_mib = (rss.peak - base) / 2**20

    statuses = sorted(results.values())
    assert len(statuses) == SIGNUPS
    assert set(statuses) <= {201, 429}, statuses
    assert 201 in statuses and 429 in statuses, statuses
    # Derivations running at once, seen at the library boundaries, never above the limit,
    # and the limit was actually reached (the threads did run together).
    assert argon2_spy.peak <= LIMIT and scrypt_spy.peak <= LIMIT
    assert argon2_spy.peak == LIMIT, "the flood never ran two derivations at once"
    assert kdf_limiter().peak <= LIMIT
    # Memory: at most LIMIT Argon2 buffers at once (plus slack for 50 request threads);
    # without the limit, 50 parallel Argon2 runs would need about 5 GiB.
    assert growth_mib < LIMIT * ARGON2_MIB + 150, f"RSS grew by {growth_mib:.0f} MiB"
    print(f"\n50 signups: {statuses.count(201)} x 201, {statuses.count(429)} x 429, "
          f"peak RSS growth {growth_mib:.0f} MiB")
    # Every account that was created is complete; every refused one does not exist.
    for email, status in results.items():
        user = User.objects.filter(email=email).first()
        if status == 201:
            assert WrappedIdentity.objects.filter(user=user).exists()
            assert KeyGeneration.objects.current().filter(user=user).count() == 1
        else:
            assert user is None
