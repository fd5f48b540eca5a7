"""What the server gets from the ``securechat`` CLI: never a password, key or identity.

Every byte between the CLI and a live server passes through a recording TCP
proxy (plain HTTP on loopback, so the record is what the server process read
and wrote). After signup, login, whoami, fingerprint and export, the record
(both directions), the SQLite database and its WAL, the server's log and
MEDIA_ROOT are searched for each secret in raw, hex, standard and URL-safe
base64 (padded and unpadded, at all three byte alignments), percent-encoded and
JSON-escaped forms (DESIGN.md §9): the password; ``master``, ``wrap_key`` and the
passphrase made from it; the unwrapped identity (its ``AGE-SECRET-KEY`` line and
the Ed25519 seed); the recovery code and the recovery identity. ``auth_key`` is
allowed in the bodies of the signup and login requests only. A positive control
plants each form and the probe finds it.

This is the CLI's part of the §9 probe, not the full recorder (an ASGI wrapper
inside the server process, Redis MONITOR and open files are not looked at here).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import urllib.parse
from pathlib import Path

import pyrage
import pytest
from django.db import connection

from accounts.models import ClientAuth
from client import derivation
from client.identity import IdentityFile
from client.recovery import recovery_identity
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.support.live import free_port
from tests.support.probes import read_database_file
from tests.support.tcpproxy import PausableProxy

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

EMAIL = "probe@example.org"
PASSWORD = "Tr0ub4dor & the probe's password"


class RecordingProxy(PausableProxy):
    """A TCP proxy that keeps every byte it forwards, per direction."""

    def __init__(self, target_port: int, port: int):
        super().__init__(target_port)
        self.port = port
        self.record: list[bytes] = []

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        chunks = []
        try:
            while data := source.recv(65536):
                chunks.append(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self.record.append(b"".join(chunks))
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


KEY_COOKIE_SET = re.compile(rb'(?i)set-cookie: securechat_key=(?!"";)')


def test_positive_control_the_key_cookie_probe():
    assert KEY_COOKIE_SET.search(b"HTTP/1.1 200 OK\r\nSet-Cookie: securechat_key=abc; Path=/")
    assert not KEY_COOKIE_SET.search(b'set-cookie: securechat_key=""; Max-Age=0; Path=/')


def forms(secret: bytes) -> set[bytes]:
    """Every spelling of ``secret`` the probe looks for (long enough to be unambiguous)."""
    out = {secret, secret.hex().encode(), secret.hex().upper().encode()}
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * shift + secret + b"\0\0")
            out.add(text[4:-8])  # the characters that depend on the secret alone
    for text in list(out):
        if text.isascii():
            out.add(urllib.parse.quote(text.decode(), safe="").encode())
            out.add(json.dumps(text.decode())[1:-1].encode())
    if secret.isascii():
        out.add(urllib.parse.quote_plus(secret.decode()).encode())
    return {f for f in out if len(f) >= 16}


def found(haystack: bytes, secret: bytes) -> bool:
    return any(form in haystack for form in forms(secret))


def database_bytes() -> bytes:
    name = Path(connection.settings_dict["NAME"])
    return b"".join(read_database_file(p) for p in (name, Path(f"{name}-wal")) if p.exists())


def media_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


_MESSAGE_START = re.compile(rb"(?=(?:GET|POST|PUT|PATCH|DELETE|HEAD) /\S* HTTP/1\.1\r\n)")


def messages(record: list[bytes]) -> list[bytes]:
    """Each connection direction split into requests (keep-alive carries several)."""
    return [m for chunk in record for m in _MESSAGE_START.split(chunk) if m]


def split_by_path(record: list[bytes], paths: tuple[bytes, ...]) -> tuple[bytes, bytes]:
    """(the requests POSTed to ``paths``, everything else on the wire)."""
    chosen, rest = [], []
    for message in messages(record):
        wanted = any(message.startswith(b"POST " + p + b" ") for p in paths)
        (chosen if wanted else rest).append(message)
    return b"\n".join(chosen), b"\n".join(rest)


@pytest.fixture
def proxied(start_server):
    port = free_port()
    server = start_server("uvicorn", SECURECHAT_ORIGINS=f"http://127.0.0.1:{port}")
    with RecordingProxy(server.port, port) as proxy:
        yield server, proxy


def run(tmp_path, proxy, *args, stdin=PASSWORD + "\n"):
    result = cli_support.run_cli(tmp_path / "home", "--server", f"http://127.0.0.1:{proxy.port}",
                                 "--password-stdin", *args, stdin=stdin)
    assert result.returncode == 0, result
    return result


def secrets_of_the_session(tmp_path, proxy) -> tuple[dict[str, bytes], bytes]:
    """Signup, login, whoami, fingerprint, export through the proxy; the secrets they used."""
    from django.conf import settings

    signup = run(tmp_path, proxy, "signup", "--email", EMAIL,
                 "--key-type", settings.SECURECHAT_KEY_TYPE)
    code = signup.stdout.splitlines()[1].strip()
    run(tmp_path, proxy, "login", "--email", EMAIL)
    run(tmp_path, proxy, "whoami", stdin="")
    run(tmp_path, proxy, "fingerprint")
    run(tmp_path, proxy, "export-identity", "--output", str(tmp_path / "export.age"))
    text = pyrage.passphrase.decrypt((tmp_path / "export.age").read_bytes(), PASSWORD)
    identity = IdentityFile.parse(text)
    row = ClientAuth.objects.get(user__email=EMAIL)
    keys = derivation.derive_keys(EMAIL, bytes(row.account_salt), PASSWORD, row.work_factor,
                                  min_work_factor=10)
    secret_lines = [line.encode() for line in text.decode().splitlines()
                    if line.startswith("AGE-SECRET-KEY")]
    return {
        "password": PASSWORD.encode(), "master": keys.master, "wrap_key": keys.wrap_key,
        "passphrase": keys.passphrase.encode(),
        "signing seed": identity.signing_key.private_bytes_raw(),
        **{f"identity line {i}": line for i, line in enumerate(secret_lines)},
        "recovery code": code.encode(), "recovery code (plain)": code.replace("-", "").encode(),
        "recovery identity": str(recovery_identity(code, settings.SECURECHAT_KEY_TYPE)).encode(),
    }, keys.auth_key


def test_the_server_never_sees_a_secret_of_the_cli(proxied, tmp_path):
    server, proxy = proxied
    secrets, auth_key = secrets_of_the_session(tmp_path, proxy)
    wire = b"\n".join(proxy.record)
    assert b"POST /api/v1/auth/login" in wire and b"/api/v1/me/wrapped-identity" in wire
    places = {"wire": wire, "database": database_bytes(), "server log": server.log().encode(),
              "media": media_bytes(server.media_root)}
    # The places are really read (a probe of empty bytes would find nothing, vacuously).
    assert EMAIL.encode() in places["database"] and len(places["server log"]) > 1000
    assert wire.count(b"\"wrapped_identity\"") >= 3  # sent at signup, fetched twice
    # No response sets a v1 key cookie (logout deleting one, `securechat_key=""`, is fine).
    assert not KEY_COOKIE_SET.search(wire)
    leaks = [(name, place) for name, secret in secrets.items()
             for place, haystack in places.items() if found(haystack, secret)]
    assert leaks == []
    # auth_key: only inside the signup and login requests, never stored or logged.
    allowed, elsewhere = split_by_path(proxy.record, (b"/api/v1/auth/signup",
                                                      b"/api/v1/auth/login"))
    assert found(allowed, auth_key)  # the control: the probe does see it where it is sent
    assert not any(found(h, auth_key) for h in (elsewhere, places["database"],
                                                 places["server log"], places["media"]))


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_positive_control_the_probe_finds_every_form(shift):
    secret = bytes(range(7, 39))
    b64 = base64.b64encode(b"x" * shift + secret).decode()
    planted = [secret, secret.hex().encode(), b64.encode(),
               base64.urlsafe_b64encode(b"y" * shift + secret).rstrip(b"="),
               urllib.parse.quote(b64, safe="").encode(), json.dumps(b64).encode()]
    for form in planted:
        assert found(b"noise " + form + b" noise", secret), form
    assert found(b'{"p": "' + PASSWORD.encode() + b'"}', PASSWORD.encode())
    assert found(urllib.parse.quote_plus(PASSWORD).encode(), PASSWORD.encode())
    assert not found(b"unrelated bytes " * 10, secret)
