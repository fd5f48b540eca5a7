"""No private key is ever at rest: not in the database file or its WAL, not in the
session rows, not in anything that passes through Redis, during a version 2 signup and
login driven over HTTP against a live server (the keys are made in the test process, as
a client makes them; the server gets the wrapped identity and public keys only).

The user's secrets are the client's identity file. The probe looks for the age
identity strings (``AGE-SECRET-KEY-…``, any case, classic and post-quantum) and for every
secret seed in every form of tests/support/probes.py (raw, hex, base64 at all three
alignments, percent- and JSON-escaped). Positive control:
the same probe finds the public recipient string and the Ed25519 public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection

import agecrypt
from accounts.models import User
from agecrypt.primitives import bech32_decode
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.accounts import b64url, signup_body
from tests.support.clients import ApiClient
from tests.support.probes import Probe, RedisMonitor, read_database_file

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def identity_secrets(identity_file) -> dict[str, str | bytes]:
    """Every private key of the identity file, by name: the ``AGE-SECRET-KEY`` lines, the
    seeds, a hybrid key's X25519 secret and the Ed25519 seed (tests/support/probes.py
    searches each in every form)."""
    secrets: dict[str, str | bytes] = {
        "ed25519 seed": identity_file.signing_key.private_bytes_raw()}
    for number, age_identity in identity_file.generations:
        text = str(age_identity)
        seed = bech32_decode(text)[1]
        secrets[f"gen {number} AGE-SECRET-KEY line"] = text
        secrets[f"gen {number} seed"] = seed
        if isinstance(age_identity, agecrypt.HybridIdentity):
            secrets[f"gen {number} x25519 secret"] = hashlib.shake_256(seed).digest(96)[64:]
    return secrets


def test_no_private_key_at_rest_in_database_sessions_or_redis(start_server, redis_url):
    if connection.vendor != "sqlite":
        pytest.skip("reads the bytes of the file-backed SQLite test database")
    server = start_server("uvicorn")
    monitor = RedisMonitor(settings.REDIS_URL)
    email = "rest@example.com"
    try:
        with ApiClient(server.url) as client:
            body, identity_file, _code, auth_key = signup_body(email)
            r = client.post("/api/v1/auth/signup", body)
            assert r.status_code == 201, r.text
            client.fetch_csrf()  # login rotates the CSRF token
            assert client.post("/api/v1/auth/logout").status_code == 200
            client.fetch_csrf()
            r = client.post("/api/v1/auth/login", {"email": email, "auth_key": b64url(auth_key)})
            assert r.status_code == 200, r.text
            assert client.get("/api/v1/me").status_code == 200
            assert client.get("/api/v1/me/wrapped-identity").status_code == 200
            # Keep this login: its session row stays in the session table.
            redis_haystacks = monitor.haystacks()
    finally:
        monitor.stop()

    user = User.objects.get(email=email)
    assert bytes(user.wrapped_identity.password_blob) == base64.b64decode(
        body["wrapped_identity"])  # stored as the client sent it
    secrets = identity_secrets(identity_file)
    assert len(secrets) >= 3

    db_path = Path(connection.settings_dict["NAME"])
    wal = Path(str(db_path) + "-wal")
    sessions = [SessionStore().decode(s.session_data) for s in Session.objects.all()]
    haystacks = [("database", read_database_file(db_path)),
                 ("database -wal", read_database_file(wal) if wal.exists() else b""),
                 ("sessions", json.dumps(sessions).encode()), *redis_haystacks]
    assert Probe(secrets).search(haystacks) == []
    assert Probe({"prefix": "age-secret-key-"}).search(haystacks) == []

    # Positive controls: the probe finds public values where they are stored, and each
    # haystack really saw the flow.
    public = {"recipient": str(identity_file.recipient()),
              "signing public key": identity_file.signing_public_key()}
    assert {f.secret for f in Probe(public).search(haystacks[:2])} == set(public)
    assert any(s.get("_securechat_custody") == "client" for s in sessions)
    assert b"rl:" in redis_haystacks[1][1] and len(redis_haystacks[1][1]) > 100
    # ... and it does find each secret when one is present (the identity file itself).
    found = {f.secret for f in Probe(secrets).search([("file", identity_file.serialize())])}
    assert {"ed25519 seed", "gen 1 AGE-SECRET-KEY line"} <= found
