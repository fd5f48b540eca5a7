"""The server derives no key: signup and login cost it one HMAC, never scrypt or Argon2.

Version 1 rationed the server's key derivations (a wrong password never reached
scrypt; parallel signups queued for a KDF slot). Version 2 moves every
derivation to the client, so the guarantee becomes stronger: the spies count
calls of ``cryptography``'s ``Scrypt.derive`` and argon2-cffi's hash and verify at
the library boundary while the server handles signups and logins (right and
wrong keys, parallel requests) and see none. The client's own derivation, in the
same test process, runs before the spies arm (positive control: armed around a
library call they count it).
"""

from __future__ import annotations

import threading

import pytest
from cryptography.hazmat.primitives.kdf import scrypt as scrypt_module
from django.db import connection
from django.test import Client

from accounts.models import User
from tests.accounts import fresh_rate_limits, post_json  # noqa: F401
from tests.support.accounts import PASSWORD, b64url, make_user, signup_body

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


class ConcurrencySpy:
    """Counts calls and the peak number running at once."""

    def __init__(self):
        self.armed = False
        self.lock = threading.Lock()
        self.calls = 0
        self.active = 0
        self.peak = 0

    def wrap(self, function):
        def spied(*args, **kwargs):
            if not self.armed:
                return function(*args, **kwargs)
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


def test_the_spies_see_a_derivation_positive_control(scrypt_spy, argon2_spy):
    """Armed, the spies count what version 1's server ran: an age scrypt stanza (the
    identity unwrap) and Django's Argon2 hasher."""
    from django.contrib.auth.hashers import make_password

    import agecrypt

    scrypt_spy.armed = argon2_spy.armed = True
    agecrypt.encrypt(b"x", [agecrypt.ScryptRecipient(PASSWORD, work_factor=10)])
    make_password(PASSWORD)
    assert scrypt_spy.calls == 1 and argon2_spy.calls == 1


def test_signup_and_login_run_no_key_derivation_on_the_server(scrypt_spy, argon2_spy):
    u = make_user()
    body = signup_body("new@example.com")[0]
    right = {"email": u.email, "auth_key": b64url(u.auth_key)}
    wrong = {"email": u.email, "auth_key": b64url(bytes(32))}
    nobody = {"email": "nobody@example.com", "auth_key": b64url(bytes(32))}
    scrypt_spy.armed = argon2_spy.armed = True
    assert post_json(Client(), "/api/v1/auth/signup", body).status_code == 201
    assert post_json(Client(), "/api/v1/auth/login", wrong).status_code == 401
    assert post_json(Client(), "/api/v1/auth/login", nobody).status_code == 401
    assert post_json(Client(), "/api/v1/auth/login", right).status_code == 200
    assert post_json(Client(), "/api/v1/auth/prelogin", {"email": u.email}).status_code == 200
    assert scrypt_spy.calls == 0 and argon2_spy.calls == 0


def test_fifty_parallel_signups_run_no_derivation_and_all_succeed(scrypt_spy, argon2_spy):
    """What version 1 queued behind a KDF slot (429 for the excess) now costs the server
    an HMAC each: all fifty are made, and nothing ran scrypt or Argon2."""
    bodies = [signup_body(f"parallel{i}@example.com")[0] for i in range(50)]
    scrypt_spy.armed = argon2_spy.armed = True
    statuses = []

    def run(body):
        try:
            statuses.append(post_json(Client(REMOTE_ADDR=f"10.0.0.{len(statuses) % 250}"),
                                      "/api/v1/auth/signup", body).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert scrypt_spy.calls == 0 and argon2_spy.calls == 0
    assert sorted(set(statuses)) <= [201, 429]
    assert User.objects.filter(email__startswith="parallel").count() == statuses.count(201)
    assert statuses.count(201) >= 1
