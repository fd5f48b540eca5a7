"""No private key is ever at rest: not in the database file or its WAL, not in the
session rows, not in anything that passes through Redis, during a version 2 signup and
login driven over HTTP against a live server (the keys are made in the test process, as
a client makes them; the server gets the wrapped identity and public keys only).

The user's secrets are the client's identity file. The probe looks for the age
identity strings (``AGE-SECRET-KEY-…``, any case, classic and post-quantum) and for every
secret seed in raw, base64 (all three alignments), hex and Bech32 form. Positive control:
the same probe finds the public recipient string and the Ed25519 public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
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

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


class RedisMonitor:
    """Raw bytes of ``MONITOR`` on its own connection, read in a thread."""

    def __init__(self, url: str):
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port or 6379), timeout=0.2)
        self.sock.sendall(b"MONITOR\r\n")
        self.data = bytearray()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped.is_set():
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            self.data += chunk

    def stop(self) -> bytes:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()
        return bytes(self.data)


def base64_forms(secret: bytes) -> set[bytes]:
    """The secret's base64 text as it appears at any alignment inside a longer stream."""
    forms = set()
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * pad + secret)
            start = (pad * 4 + 2) // 3 + (1 if pad else 0)
            forms.add(text[start:len(text) - 4])
    return forms


def secret_forms(identity_file) -> dict[str, set[bytes]]:
    """Every form of every private key in the identity file, by name."""
    forms: dict[str, set[bytes]] = {}
    seeds = {"ed25519 seed": identity_file.signing_key.private_bytes_raw()}
    for number, age_identity in identity_file.generations:
        text = str(age_identity)
        _, seed = bech32_decode(text)
        seeds[f"gen {number} seed"] = seed
        if isinstance(age_identity, agecrypt.HybridIdentity):
            seeds[f"gen {number} x25519 secret"] = hashlib.shake_256(seed).digest(96)[64:]
        forms[f"gen {number} bech32"] = {text.encode().lower()}
    for name, seed in seeds.items():
        forms[f"{name} raw"] = {seed}
        forms[f"{name} hex"] = {seed.hex().encode()}
        forms[f"{name} base64"] = base64_forms(seed)
    forms["age secret key prefix"] = {b"age-secret-key-"}
    return forms


def probe(haystack: bytes, forms: dict[str, set[bytes]]) -> list[str]:
    lowered = haystack.lower()
    found = []
    for name, needles in forms.items():
        textual = name.endswith(("bech32", "hex", "prefix"))
        if any(n in (lowered if textual else haystack) for n in needles):
            found.append(name)
    return found


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
            redis_bytes = monitor.stop()
    finally:
        if not monitor.stopped.is_set():
            monitor.stop()

    user = User.objects.get(email=email)
    assert bytes(user.wrapped_identity.password_blob) == base64.b64decode(
        body["wrapped_identity"])  # stored as the client sent it
    forms = secret_forms(identity_file)
    assert len(forms) >= 10

    db_path = Path(connection.settings_dict["NAME"])
    db_bytes = db_path.read_bytes()
    wal = Path(str(db_path) + "-wal")
    wal_bytes = wal.read_bytes() if wal.exists() else b""
    sessions = [SessionStore().decode(s.session_data) for s in Session.objects.all()]
    session_bytes = json.dumps(sessions).encode()

    assert probe(db_bytes, forms) == []
    assert probe(wal_bytes, forms) == []
    assert probe(session_bytes, forms) == []
    assert probe(redis_bytes, forms) == []

    # Positive controls: the probe finds public values where they are stored, and each
    # haystack really saw the flow.
    public = {
        "recipient bech32": {str(identity_file.recipient()).encode().lower()},
        "signing public raw": {identity_file.signing_public_key()},
    }
    assert probe(db_bytes + wal_bytes, public) == ["recipient bech32", "signing public raw"]
    assert any(s.get("_securechat_custody") == "client" for s in sessions)
    assert b"rl:" in redis_bytes and len(redis_bytes) > 100
    # ... and it does find a secret when one is present (the identity file itself).
    assert "age secret key prefix" in probe(identity_file.serialize(), forms)
    assert "ed25519 seed base64" in probe(identity_file.serialize(), forms)
    seed = bech32_decode(str(identity_file.current_identity))[1]
    assert "gen 1 seed hex" in probe(b"x" + seed.hex().upper().encode(), forms)
    for pad in range(3):
        assert "gen 1 seed base64" in probe(base64.b64encode(b"y" * pad + seed + b"z"), forms)
