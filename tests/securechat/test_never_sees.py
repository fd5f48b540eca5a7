"""The server never sees X (DESIGN.md §9; issues 12, 13 and 14, "What it must show" 1).

A uvicorn server runs with the recorder (``LiveServer(record=True)``:
tests/support/recorder.py wraps the whole ASGI application, outside Django,
the tus app and the websocket routing), at ``LOG_LEVEL=DEBUG`` and
``--log-level debug``, with its own Redis under ``MONITOR``. Against it, the
version 2 flows that exist before the cutover run the way users run them:

- Alice runs every account flow with the ``securechat`` CLI (another process,
  Django blocked): signup, password change, key rotation, a password change
  with rotation, login on a second machine with her password and a TOTP code,
  a reset with the emailed link and her recovery code (new code), a reset
  without it (held, then cancelled with her current key), and an export of
  her identity (re-wrapped under her password, on her machine);
- Bob signs up with the Python client library (``client.account``), and
  Alice logs in with it too (password, then a TOTP code), to drive the v2 API;
- Alice creates a group under a secret name and adds Bob (signed membership
  operations, epoch envelopes), sends a text over HTTP; Bob sends one over the
  websocket (``send2``); each receives the other's (push and ``sync2``) and
  opens it; Bob reads the timeline;
- Alice uploads an age file (one-time identity, two tus PATCHes, no
  metadata) and sends a file message naming it (its name and identity sealed
  in the box); Bob downloads the ciphertext and decrypts it.

Then tests/support/probes.py searches the recorder file (paths, queries,
headers, reassembled bodies, websocket frames both ways), the database (SQLite
file and ``-wal``, or ``pg_dump`` on PostgreSQL), Redis ``MONITOR``,
MEDIA_ROOT, the mail it sent, the server's DEBUG log and every file the server
holds open (at the end, and sampled every 20 ms during the flows), in
every form (raw, hex, base64/base64url at three alignments padded and not,
percent-encoded, JSON-escaped), for: all of Alice's five passwords and Bob's,
``master``, ``wrap_key`` and its passphrase, ``auth_key`` (allowed only in the
bodies of the signup, login and reset-confirm requests that carry it by
design), the unwrapped identities of every key generation (the
``AGE-SECRET-KEY`` lines, the raw X25519 / ML-KEM / Ed25519 seeds), the
recovery codes (the first, the one the reset gave, the held reset's) and
their recovery identities, the message texts and the group name,
the file's one-time identity, its name and a 32-byte slice of its plaintext.
No response sets a ``securechat_key`` cookie and no session row holds a
sealed identity.

Positive controls (``test_the_probe_finds_each_form_in_each_place``) plant
each form, once, in each place — a request body, a websocket frame, a
database row, Redis, a media file, the server's log — and the probe must find
each, naming place and form; secrets planted nowhere are found nowhere (the
negative control); a planted response that sets ``securechat_key`` (v1's key
cookie) and a planted session row holding a sealed identity are caught by the two
checks above (v1 itself is gone after the cutover).

The browser flows run in tests/browser/test_never_sees_browser.py (signup, reload
under the device key, a text and a file to a CLI user; and, marked slow, TOTP enrolment
and login, password change with rotation, rotation, export, reset with and without the
recovery code and the held reset's cancel). More browser flows plug in
the same way: start the server with
``LiveServer(record=True)`` and a :class:`Recording` around it (own Redis,
``MONITOR``), drive Chromium through tests/browser/conftest.py's fixtures
against ``server.url``, collect the secrets the page holds (read the
password the test typed, derive ``master``/``auth_key``/``wrap_key`` with
``client.derivation`` from the prelogin answer, open the identity from the
wrapped blob, read the recovery code from the page, and — the one
browser-only secret of §9 — the device-key-encrypted identity blob read back
from IndexedDB/localStorage through ``page.evaluate``), then call
``recording.findings(secrets, allowed=AUTH_KEY_ALLOWED)`` exactly as below.
The recorder sees the browser's requests, its tus PATCH bodies and its
websocket frames like the CLI's, since it sits in the server.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone
from tusclient import client as tus_client

import agecrypt
from accounts.models import User
from agecrypt.primitives import bech32_decode
from client import account, epochs, fileclaim, messagebox, recovery
from client.http import Session as ClientSession
from client.identity import IdentityFile
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.client.test_cli_account_changes import reset_link
from tests.support.clients import recv_json, ws_connect
from tests.support.live import LiveServer, RedisServer
from tests.support.probes import (
    OpenFileSampler,
    Probe,
    ProbeFinding,
    RedisMonitor,
    database_haystacks,
    forms,
    log_haystacks,
    open_file_haystacks,
    planted,
    record_haystacks,
    tree_haystacks,
    without,
)
from tests.support.recorder import _jsonable, conversations, read_record
from tests.support.v2chat import Epoch, Group, V2User, b64, signed_json

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits"), pytest.mark.dbsensitive]

KEY_TYPE = settings.SECURECHAT_KEY_TYPE
FLOOR = cli_support.TEST_FLOOR
# auth_key is the login credential: it travels in exactly these request bodies.
AUTH_KEY_PLACES = ("recorder: POST /api/v1/auth/signup request body",
                   "recorder: POST /api/v1/auth/login request body")
# Alice's last password was set by the reset with her recovery code, which carries its
# auth_key the way a signup does.
ALICE_AUTH_KEY_PLACES = (*AUTH_KEY_PLACES,
                         "recorder: POST /api/v1/auth/v2/reset/confirm request body")


# --- the recording server ----------------------------------------------------------------


@dataclass
class Recording:
    """A recorded uvicorn at DEBUG with its own Redis under MONITOR."""

    server: LiveServer
    redis: RedisServer
    monitor: RedisMonitor
    sampler: OpenFileSampler

    def haystacks(self) -> list[tuple[str, bytes]]:
        """Every place, read now (the server must still run, for its open files)."""
        return [*record_haystacks(self.server.record_path), *database_haystacks(),
                *self.monitor.haystacks(), *tree_haystacks(self.server.media_root),
                *tree_haystacks(self.server.mail_dir, "mail"),
                *log_haystacks(self.server.log_path), *open_file_haystacks(self.server.pid),
                *self.sampler.haystacks()]

    def findings(self, secrets: dict[str, str | bytes],
                 allowed: dict[str, tuple[str, ...]] | None = None) -> list[ProbeFinding]:
        return without(Probe(secrets).search(self.haystacks()), allowed or {})


@pytest.fixture
def recording(transactional_db, redis_url, tmp_path):
    with RedisServer() as redis_server:
        monitor = RedisMonitor(redis_server.url)  # before the server: every command it sends
        server = LiveServer("uvicorn", tmp_path / "server", record=True,
                            extra_env={"LOG_LEVEL": "DEBUG", "REDIS_URL": redis_server.url},
                            extra_args=["--log-level", "debug"])
        try:
            server.start()
            database = str(connection.settings_dict["NAME"])
            sampler = OpenFileSampler(server.pid, skip=[
                database, server.log_path, server.media_root, server.record_path])
            yield Recording(server, redis_server, monitor, sampler)
        finally:
            server.stop()
            monitor.stop()


# v1's session key of the sealed identity (accounts/unlock.py, deleted at the cutover).
SESSION_IDENTITY = "_securechat_identity"


def planted_key_cookie(tmp_path: Path) -> Path:
    """A record (the recorder's format) of a login whose response sets ``securechat_key``,
    and of a logout that clears it: the positive control of :func:`key_cookies`."""
    path = tmp_path / "planted-record.jsonl"
    events = []
    for n, (route, cookie) in enumerate([("/api/v1/auth/login", b"securechat_key=c2VjcmV0"),
                                         ("/api/v1/auth/logout", b'securechat_key=""')]):
        conn = f"planted.{n}"
        events += [{"conn": conn, "event": "scope", "type": "http", "method": "POST",
                    "path": route, "headers": []},
                   {"conn": conn, "event": "send", "message": {
                       "type": "http.response.start", "status": 200,
                       "headers": [[b"set-cookie", cookie + b"; Path=/; HttpOnly"]]}}]
    path.write_text("".join(json.dumps(_jsonable(e)) + "\n" for e in events))
    return path


def key_cookies(record_path: Path) -> list[str]:
    """Connections whose response sets a ``securechat_key`` cookie to a value (a logout
    that clears one, ``securechat_key="";``, sets nothing)."""
    return [conv.label for conv in conversations(read_record(record_path))
            for name, value in conv.response_headers
            if name.lower() == b"set-cookie" and value.startswith(b"securechat_key=")
            and not value.startswith((b'securechat_key="";', b"securechat_key=;"))]


def sealed_identity_sessions() -> list[str]:
    return [s.session_key for s in Session.objects.all()
            if SESSION_IDENTITY in SessionStore().decode(s.session_data)]


# --- the secrets a user holds ----------------------------------------------------------


def identity_secrets(who: str, identity: IdentityFile) -> dict[str, str | bytes]:
    out: dict[str, str | bytes] = {
        f"{who} Ed25519 seed": identity.signing_key.private_bytes_raw(),
        f"{who} identity file": identity.serialize()[-120:],
    }
    for number, age_identity in identity.generations:
        text = str(age_identity)
        seed = bech32_decode(text)[1]
        out[f"{who} gen {number} AGE-SECRET-KEY line"] = text
        out[f"{who} gen {number} seed"] = seed
        if isinstance(age_identity, agecrypt.HybridIdentity):
            expanded = hashlib.shake_256(seed).digest(96)
            out[f"{who} gen {number} ML-KEM seed"] = expanded[:64]
            out[f"{who} gen {number} X25519 secret"] = expanded[64:]
    return out


def key_secrets(who: str, password: str, keys) -> dict[str, str | bytes]:
    return {f"{who} password": password, f"{who} master": keys.master,
            f"{who} auth_key": keys.auth_key, f"{who} wrap_key": keys.wrap_key,
            f"{who} wrap passphrase": keys.passphrase}


def recovery_secrets(who: str, code: str) -> dict[str, str | bytes]:
    rec = recovery.recovery_identity(code, KEY_TYPE)
    return {f"{who} recovery code": code, f"{who} recovery code, bare": recovery.parse_code(code),
            f"{who} recovery identity": str(rec),
            f"{who} recovery seed": recovery.recovery_seed(code, KEY_TYPE)}


# --- a v2 client on the live server ------------------------------------------------------


class SessionHttp:
    """What tests/support/v2chat.py needs of an HTTP client, against the live server with
    the cookies of a ``client.http.Session`` (CSRF token and Origin as docs/api.md says)."""

    def __init__(self, server: LiveServer, cookies: httpx.Cookies) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, cookies=cookies, timeout=30)
        self.csrf = self.http.get("/api/v1/csrf").json()["csrf_token"]

    def headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.csrf, "Origin": self.server.origin}

    def post(self, path: str, data: str, content_type: str) -> httpx.Response:
        return self.http.post(path, content=data.encode(),
                              headers={**self.headers(), "Content-Type": content_type})

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies.jar)


class NamedGroup(Group):
    """A v2chat Group whose epochs carry ``name``, and whose boxes carry any plaintext."""

    name: str = ""

    def make_epoch(self, by, members, number=None, chain_head=None) -> Epoch:
        number = number if number is not None else (self.epoch.number + 1 if self.epoch else 1)
        prev = self.epoch.envelope_hash if self.epoch else bytes(32)
        envelope, statement, signature, secret = epochs.build_epoch(
            by.signing_key, by.keys, conversation_id=self.conversation_id, epoch=number,
            prev_envelope_hash=prev, chain_head=chain_head or self.head,
            members=[m.keys for m in members], name=self.name)
        return Epoch(number, envelope, statement, signature, secret)

    def sealed(self, sender: V2User, plaintext: bytes, kind: str, client_message_id: bytes):
        """``(send body, context)`` of a message with this plaintext JSON."""
        counter = self.counters[sender.id] = self.counters.get(sender.id, 0) + 1
        context = messagebox.MessageContext(
            self.conversation_id, self.epoch.number, self.epoch.envelope_hash, sender.id,
            sender.keys.generation, sender.device_id, counter)
        box = messagebox.seal(self.epoch.secret, context, plaintext)
        statement = messagebox.build_statement(context, box,
                                               client_message_id=client_message_id, kind=kind)
        data, signature = messagebox.sign_statement(sender.signing_key, statement)
        return {"box": b64(box), "statement": b64(data), "signature": b64(signature)}, context


def opened(group: NamedGroup, context, box_b64: str) -> dict:
    """The plaintext of a delivered box, opened the way the recipient's client opens it."""
    return messagebox.parse_plaintext(
        messagebox.open_box(group.epoch.secret, context, base64.b64decode(box_b64)))


def ok(response: httpx.Response, status: int = 201) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else {}


def tag() -> str:
    return os.urandom(6).hex()


def run_cli(home: Path, server: LiveServer, *args: str, stdin: str):
    result = cli_support.run_cli(home, "--server", server.url, "--password-stdin", *args,
                                 stdin=stdin)
    assert result.returncode == 0, result
    return result


def verified(email: str) -> User:
    User.objects.filter(email=email).update(email_verified_at=timezone.now())
    return User.objects.get(email=email)


# --- the flows ---------------------------------------------------------------------------


def clear_server_rate_limits(server: LiveServer) -> None:
    """tests.accounts.clear_rate_limits on the recording's own Redis."""
    import redis

    from tests.accounts import rate_limit_pattern

    store = redis.from_url(server.extra_env["REDIS_URL"])
    try:
        keys = list(store.scan_iter(rate_limit_pattern(), count=1000))
        if keys:
            store.delete(*keys)
    finally:
        store.close()


def printed_code(output: str, heading: str) -> str:
    """The recovery code the CLI printed on the line after ``heading``."""
    lines = output.splitlines()
    return lines[next(i for i, line in enumerate(lines) if heading in line) + 1].strip()


def alice_with_the_cli(server: LiveServer, tmp_path: Path, secrets: dict) -> V2User:
    """Every account flow of the CLI: signup, password change, key rotation (alone and with
    a password change), login with a TOTP code on a second machine, reset with the
    recovery code (new code), a reset without it (held, then cancelled), export; then a
    client-library login (with a TOTP code) that this test drives the v2 API with."""
    email = f"alice-{tag()}@example.org"
    passwords = [f"Alice's pässwörd / + % {n} {tag()}" for n in range(5)]
    secrets.update({f"alice password {n}": p for n, p in enumerate(passwords)})
    home, laptop = tmp_path / "alice", tmp_path / "alice-laptop"
    signup = run_cli(home, server, "signup", "--email", email, "--key-type", KEY_TYPE,
                     stdin=passwords[0] + "\n")
    secrets.update(recovery_secrets("alice", signup.stdout.splitlines()[1].strip()))
    run_cli(home, server, "change-password", stdin=f"{passwords[0]}\n{passwords[1]}\n")
    run_cli(home, server, "rotate-keys", stdin=passwords[1] + "\n")
    run_cli(home, server, "change-password", "--rotate-keys",
            stdin=f"{passwords[1]}\n{passwords[2]}\n")
    device, _ = enrol_totp(verified(email))
    run_cli(laptop, server, "login", "--email", email,
            stdin=f"{passwords[2]}\n{fresh_code(device)}\n")
    reset = run_cli(tmp_path / "alice-reset", server, "reset", "--email", email,
                    stdin=f"{reset_link(server, tmp_path / 'mailer', email)}\n"
                          f"{secrets['alice recovery code']}\n{passwords[3]}\n"
                          f"{fresh_code(device)}\n")
    secrets.update(recovery_secrets("alice new", printed_code(reset.stdout, "NEW recovery")))
    run_cli(laptop, server, "login", "--email", email,
            stdin=f"{passwords[3]}\n{fresh_code(device)}\n")
    time.sleep(1.1)  # a link asked for in the same second is the same (spent) token
    clear_server_rate_limits(server)  # the reset endpoints share a small budget
    held = run_cli(tmp_path / "alice-held", server, "reset", "--email", email,
                   stdin=f"{reset_link(server, tmp_path / 'mailer', email)}\nhold\n"
                         f"{passwords[4]}\n{fresh_code(device)}\n")
    secrets.update(recovery_secrets("alice held", printed_code(held.stdout, "NEW recovery")))
    clear_server_rate_limits(server)
    assert "signed by key generation" in run_cli(
        laptop, server, "cancel-reset", stdin=passwords[3] + "\n").stdout
    export = tmp_path / "alice-export.age"
    run_cli(laptop, server, "export-identity", "--output", str(export),
            stdin=passwords[3] + "\n")
    exported = IdentityFile.parse(agecrypt.decrypt(
        export.read_bytes(), [agecrypt.ScryptIdentity(passwords[3], max_work_factor=20)]))

    config = tmp_path / "alice-library"
    config.mkdir()
    session = ClientSession(server.url, config)
    unlocked = account.login(session, email, passwords[3], account.KnownAccounts(config),
                             lambda: fresh_code(device), min_work_factor=FLOOR)
    assert exported.serialize() == unlocked.identity.serialize()
    assert unlocked.identity.current_generation == 3
    secrets.update(key_secrets("alice", passwords[3], unlocked.keys))
    secrets.update(identity_secrets("alice", unlocked.identity))
    return V2User(email, SessionHttp(server, session._http.cookies), unlocked.identity,
                  User.objects.get(email=email).pk)


def bob_with_the_library(server: LiveServer, tmp_path: Path, secrets: dict) -> V2User:
    email, password = f"bob-{tag()}@example.org", f"bob's other password \"{tag()}\""
    config = tmp_path / "bob-library"
    config.mkdir()
    session = ClientSession(server.url, config)
    known = account.KnownAccounts(config)
    result = account.signup(session, email, password, KEY_TYPE, known, min_work_factor=FLOOR)
    _, keys = account.derive(session, email, password, known, min_work_factor=FLOOR)
    secrets.update(key_secrets("bob", password, keys))
    secrets.update(identity_secrets("bob", result.identity))
    secrets.update(recovery_secrets("bob", result.recovery_code))
    return V2User(email, SessionHttp(server, session._http.cookies), result.identity,
                  verified(email).pk)


async def until(ws, wanted) -> dict:
    while True:
        frame = await recv_json(ws)
        if wanted(frame):
            return frame


def messages_between(server: LiveServer, alice: V2User, bob: V2User, secrets: dict):
    """A named group; a text over HTTP (Bob reads the timeline), one over the websocket
    (Alice gets the push). Returns the group and Bob's websocket send body."""
    group = NamedGroup(alice, [alice])
    group.name = secrets["group name"] = f"Secret garden club {tag()}"
    ok(group.create())
    ok(group.append(alice, "add", bob, with_epoch=True))
    secrets["alice's text"] = f"Meet me at the old mill at {tag()}"
    secrets["bob's text"] = f"I will bring the map — {tag()}"
    body_a, context_a = group.sealed(alice, messagebox.encode_text(secrets["alice's text"]),
                                     "text", os.urandom(16))
    ok(alice.http.post(group.url("messages"), json.dumps(body_a), "application/json"))
    body_b, context_b = group.sealed(bob, messagebox.encode_text(secrets["bob's text"]),
                                     "text", os.urandom(16))

    async def over_the_socket() -> dict:
        async with (ws_connect(server.ws_url, server.origin, alice.http.cookie_header()) as a,
                    ws_connect(server.ws_url, server.origin, bob.http.cookie_header()) as b):
            for ws in (a, b):  # live pushes start with the first sync2
                await ws.send(json.dumps({"type": "sync2", "req_id": "sync", "positions": {}}))
                await until(ws, lambda f: f["type"] == "synced2")
            await b.send(json.dumps({"type": "send2", "req_id": "s1",
                                     "conversation": group.hex, **body_b}))
            ack = await until(b, lambda f: f.get("req_id") == "s1")
            assert ack["type"] == "ack2", ack
            return await until(a, lambda f: f["type"] == "message2"
                               and f["item"]["type"] == "message")

    pushed = async_to_sync(over_the_socket)()
    assert opened(group, context_b, pushed["item"]["box"])["text"] == secrets["bob's text"]
    items = ok(bob.http.get(group.url("timeline")), 200)["items"]
    box_a = next(i["box"] for i in items if i["type"] == "message" and i["box"] == body_a["box"])
    assert opened(group, context_a, box_a)["text"] == secrets["alice's text"]
    assert ok(bob.http.get(group.url("epochs")), 200)
    return group, body_b


def file_between(server: LiveServer, group: NamedGroup, alice: V2User, bob: V2User,
                 secrets: dict) -> bytes:
    """Alice uploads an age file with tuspy (two PATCHes, no metadata) and sends the file
    message; Bob downloads the ciphertext and opens it with the identity from the box.
    Returns the ciphertext."""
    from tests.filestore.v2_support import age_file

    plaintext = os.urandom(150_000)
    data, one_time = age_file(plaintext, KEY_TYPE)
    secrets["file name"] = f"tax return {tag()}.pdf"
    secrets["file one-time identity"] = str(one_time)
    secrets["file one-time seed"] = bech32_decode(str(one_time))[1]
    secrets["file plaintext slice"] = plaintext[70_001:70_033]
    headers = {"Cookie": alice.http.cookie_header(), **alice.http.headers()}
    uploader = tus_client.TusClient(server.url + "/api/v1/uploads/", headers=headers).uploader(
        file_stream=io.BytesIO(data), retries=0, chunk_size=len(data) // 2 + 1)
    uploader.upload()
    upload_id = uploader.url.rstrip("/").rsplit("/", 1)[-1]
    doc = {"v": 2, "type": "file", "name": secrets["file name"], "mime": "application/pdf",
           "identity": secrets["file one-time identity"], "length": len(data)}
    client_message_id = os.urandom(16)
    body, context = group.sealed(alice, json.dumps(doc).encode(), "file", client_message_id)
    claim = fileclaim.FileClaim(group.conversation_id, client_message_id,
                                fileclaim.upload_id_bytes(upload_id), alice.id,
                                alice.keys.generation)
    body["file_claim"] = signed_json(fileclaim.sign_file_claim(alice.signing_key, claim))
    ok(alice.http.post(group.url("messages"), json.dumps(body), "application/json"))

    items = ok(bob.http.get(group.url("timeline")), 200)["items"]
    box = next(i["box"] for i in items if i["type"] == "message" and i["box"] == body["box"])
    received = opened(group, context, box)
    assert received["name"] == secrets["file name"]
    downloaded = bob.http.get(f"/api/v1/files/{upload_id}")
    assert downloaded.status_code == 200 and downloaded.content == data
    identity = agecrypt.parse_identities(received["identity"])
    assert agecrypt.decrypt(downloaded.content, identity) == plaintext
    return data


# --- the tests ---------------------------------------------------------------------------


def test_the_v2_flows_leave_no_secret_anywhere_the_server_reaches(recording, tmp_path):
    server, secrets = recording.server, {}
    alice = alice_with_the_cli(server, tmp_path, secrets)
    bob = bob_with_the_library(server, tmp_path, secrets)
    group, ws_body = messages_between(server, alice, bob, secrets)
    ciphertext = file_between(server, group, alice, bob, secrets)
    assert len(secrets) >= 50

    haystacks = recording.haystacks()
    allowed = {"alice auth_key": ALICE_AUTH_KEY_PLACES, "bob auth_key": AUTH_KEY_PLACES}
    findings = without(Probe(secrets).search(haystacks), allowed)
    assert findings == [], "\n".join(map(str, findings))
    assert key_cookies(server.record_path) == []
    assert sealed_identity_sessions() == []

    # The places really held this flow: the probe finds what the server is meant to see
    # there (positive controls in the same haystacks).
    public = {"auth_key": secrets["alice auth_key"],
              "ws box": base64.b64decode(ws_body["box"]),
              "ciphertext slice": ciphertext[70_001:70_033],
              "envelope": group.epoch.envelope[-64:],
              "alice recipient": alice.identity.recipient()}
    places: dict[str, list[str]] = {}
    for finding in Probe(public).search(haystacks):
        places.setdefault(finding.secret, []).append(finding.place)

    def seen(label: str, prefix: str) -> bool:
        return any(p.startswith(prefix) for p in places.get(label, []))

    assert places["auth_key"] and all(p.startswith(ALICE_AUTH_KEY_PLACES)
                                      for p in places["auth_key"])
    assert seen("auth_key", "recorder: POST /api/v1/auth/login request body")
    assert seen("ws box", "recorder: websocket /ws/ ws frame in")
    assert seen("ws box", "recorder: websocket /ws/ ws frame out")
    assert seen("ws box", "database")
    assert seen("ciphertext slice", "recorder: PATCH /api/v1/uploads/")
    assert seen("ciphertext slice", "media file")
    assert seen("ciphertext slice", "recorder: GET /api/v1/files/")
    assert seen("envelope", "database") and seen("alice recipient", "database")
    assert seen("envelope", "recorder: GET /api/v1/v2/conversations/")
    if connection.vendor == "sqlite":  # the server holds the database file open
        assert any(p.startswith("open file") for ps in places.values() for p in ps)
    assert seen("ws box", "redis MONITOR (decoded arguments)")  # the push, after commit
    assert b" DEBUG " in server.log_path.read_bytes()
    assert any(p.startswith("mail file") for p, _ in haystacks)  # e.g. the new-login mail
    assert Session.objects.exists()


TEXT_SAMPLE = "a pässword / with + spaces & \"quotes\" "
PLACES = {  # where a plant goes -> the place prefix the probe must name
    "request body": "recorder: POST /api/v1/auth/prelogin request body",
    "websocket frame": "recorder: websocket /ws/ ws frame in",
    "database row": "database",
    "redis": "redis MONITOR (decoded arguments)",
    "media file": "media file",
    "server log": "server log",
}


def fresh(kind: str) -> str | bytes:
    return TEXT_SAMPLE + tag() if kind == "text" else os.urandom(32)


def plant_everything(recording: Recording, tmp_path: Path, plants: dict) -> None:
    """Put each plant (label -> (secret, form, place)) where it says, the way bytes get
    there: requests and frames through the server, a row, a Redis key, a file, a log line."""
    import redis

    server = recording.server
    in_place = {place: [(label, planted(secret, form)) for label, (secret, form, p)
                        in plants.items() if p == place] for place in PLACES}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        # Refused (no CSRF token, and bad JSON), after Django's handler read the whole body.
        for _, blob in in_place["request body"]:
            response = http.post("/api/v1/auth/prelogin", content=b'{"email": "' + blob,
                                 headers={"Content-Type": "application/json",
                                          "Origin": server.origin})
            assert response.status_code in (400, 403), response.text

    holder = bob_with_the_library(server, tmp_path, {})

    async def frames():
        async with ws_connect(server.ws_url, server.origin, holder.http.cookie_header()) as ws:
            await ws.send(b"\n".join(blob for _, blob in in_place["websocket frame"]))
            await asyncio.sleep(0.5)  # the server reads it (and may close: binary)

    async_to_sync(frames)()
    blob_type = "BLOB" if connection.vendor == "sqlite" else "bytea"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE never_sees_plant (label TEXT, data {blob_type})")
        for label, blob in in_place["database row"]:
            cursor.execute("INSERT INTO never_sees_plant VALUES (%s, %s)", [label, blob])
    store = redis.from_url(recording.redis.url)
    for label, blob in in_place["redis"]:
        store.set(f"plant:{label}", blob)
    store.close()
    media = server.media_root / "planted"
    media.mkdir()
    for n, (_, blob) in enumerate(in_place["media file"]):
        (media / f"{n}.bin").write_bytes(blob)
    with open(server.log_path, "ab") as log:  # the server's own log file, appended to
        for _, blob in in_place["server log"]:
            log.write(b"INFO planted " + blob + b"\n")


def test_the_probe_finds_each_form_in_each_place(recording, tmp_path):
    """Positive control: one fresh secret per (kind, form, place), planted once; the probe
    names each in its place and form. Negative control: secrets planted nowhere are found
    nowhere. And a v1 login is caught by the cookie and session checks."""
    server = recording.server
    plants = {}
    for kind in ("text", "binary"):
        for form in forms(fresh(kind)):
            for place in PLACES:
                plants[f"{kind} | {form} | {place}"] = (fresh(kind), form, place)
    try:
        plant_everything(recording, tmp_path, plants)
        marker = f"access-log-marker-{tag()}"
        assert httpx.get(f"{server.url}/{marker}").status_code == 404
        haystacks = recording.haystacks()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS never_sees_plant")

    findings = Probe({label: secret for label, (secret, _, _) in plants.items()}).search(
        haystacks)
    missed = [label for label, (_, form, place) in plants.items()
              if not any(f.secret == label and f.place.startswith(PLACES[place])
                         and form in f.forms for f in findings)]
    assert missed == [], f"{len(missed)} of {len(plants)} plants not found: {missed[:20]}"
    # The server holds its log open: plants there are found among its open files too
    # (its database connection may be closed between requests).
    open_hits = {f.secret.rsplit(" | ", 1)[1] for f in findings if f.place.startswith("open")}
    assert "server log" in open_hits
    # Lines the server itself wrote (its access log, Django's "Not Found") are searched too.
    assert Probe({"marker": marker}).search(log_haystacks(server.log_path))

    unplanted = {f"unplanted {kind} {n}": fresh(kind) for kind in ("text", "binary")
                 for n in range(5)}
    assert Probe(unplanted).search(haystacks) == []

    assert key_cookies(server.record_path) == []  # nothing real set one
    assert key_cookies(planted_key_cookie(tmp_path)) == ["POST /api/v1/auth/login"]
    session = SessionStore()
    session[SESSION_IDENTITY] = "a sealed box"
    session.create()
    assert sealed_identity_sessions() == [session.session_key]
