"""Logs never contain secrets, codes, keys, plaintext, file names or tokens (DESIGN.md §7).

A uvicorn process runs with ``--log-level debug`` (its access log and error log,
the websockets library's frame log under it) and ``LOG_LEVEL=DEBUG`` for every
other logger, writing everything to one file. The test process captures every
logger at DEBUG too. Over HTTP and the websocket the test then signs two users
up, follows the emailed verification link, enrols TOTP, logs in with a TOTP
code and with a backup code, resets a password through the emailed link with
the recovery code, exchanges messages, uploads a file with tuspy under a
distinctive name and downloads it, and crawls every admin page after the OTP
admin login; in-process it runs the maintenance commands. Neither the server
log nor the captured records contain any password, code, recovery code, TOTP
secret, secret key, message text, file name, emailed token, session id or key
cookie — raw, base64 or hex. Positive controls: a harmless marker path is in
the server log, and a record the purge logs is captured.
"""

from __future__ import annotations

import asyncio
import email
import io
import json
import logging
import re
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pyotp
import pytest
from django.core.management import call_command
from tusclient import client as tus_client

from accounts.models import User
from messaging.models import Conversation, Message
from tests.accounts import enrol_totp, fresh_rate_limits  # noqa: F401
from tests.ops.admin_crawl import admin_login, crawl
from tests.support.accounts import make_user
from tests.support.clients import ApiClient, recv_json, ws_connect
from tests.support.live import LiveServer
from tests.support.probes import leaks

pytestmark = [pytest.mark.usefixtures("fresh_rate_limits")]

MARKER = "harmless-log-marker-5c7e1"
LINK = re.compile(r"https?://\S+")
SECRET_KEY_PREFIX = "AGE-SECRET-KEY-"


# --- capturing every logger in the test process ---------------------------------------

# The test's own HTTP and websocket clients log what they send (cookies included), as a
# browser's developer tools would show it: that is the user's side, not the server's.
CLIENT_SIDE = ("httpx", "httpcore", "hpack", "urllib3", "requests", "tusclient",
               "websockets.client")


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        if record.name.split(".")[0] in CLIENT_SIDE or record.name in CLIENT_SIDE:
            return
        self.lines.append(f"{record.name} {record.levelname} {self.format(record)}")


@contextmanager
def capture_every_logger():
    """Every logger at DEBUG into one handler, non-propagating ones included."""
    handler = Collect()
    handler.setFormatter(logging.Formatter("%(message)s"))
    loggers = [logging.getLogger()] + [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
        if lg is logging.getLogger() or not lg.propagate:
            lg.addHandler(handler)
    try:
        yield handler
    finally:
        for lg, level, disabled in saved:
            lg.setLevel(level)
            lg.disabled = disabled
            if handler in lg.handlers:
                lg.removeHandler(handler)


# --- mail ------------------------------------------------------------------------------

def links_in_mail(server, to: str, contains: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(Path(server.mail_dir).glob("*.log"), key=lambda p: p.stat().st_mtime,
                           reverse=True):
            for raw in reversed(path.read_text(errors="replace").split("\n" + "-" * 79 + "\n")):
                message = email.message_from_string(raw.lstrip("\n"))
                if to.lower() not in message.get("To", "").lower():
                    continue
                part = next((p for p in message.walk()
                             if p.get_content_type() == "text/plain"), message)
                body = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
                found = [u for u in LINK.findall(body) if contains in u]
                if found:
                    return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no mail to {to} with {contains!r}")


# --- the flow over HTTP -------------------------------------------------------------------

class Secrets(dict):
    """label -> secret; ``cookies(client)`` adds a client's current cookie values."""

    def cookies(self, who: str, client: httpx.Client) -> None:
        for cookie in client.cookies.jar:
            self[f"{who} cookie {cookie.name} {len(self)}"] = cookie.value


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else {}


def signup(server, address: str, password: str, secrets: Secrets) -> tuple[ApiClient, str]:
    client = ApiClient(server.url, server.origin)
    body = ok(client.post("/api/v1/auth/signup", {"email": address, "password": password}), 201)
    secrets[f"{address} recovery code"] = body["recovery_code"]
    client.fetch_csrf()
    ok(client.post("/api/v1/auth/recovery-code/confirm"))
    link = links_in_mail(server, address, "/verify-email/")
    secrets[f"{address} verification token"] = link.rstrip("/").rsplit("/", 1)[-1]
    page = client.get(urlsplit(link).path)  # the confirm page; a GET verifies nothing
    assert page.status_code == 200, page.status_code
    confirmed = client.post(urlsplit(link).path)  # the button
    assert confirmed.status_code == 200 and "Email address confirmed" in confirmed.text
    secrets.cookies(address, client.http)
    return client, body["recovery_code"]


def enrol(client: ApiClient, password: str, secrets: Secrets, who: str) -> pyotp.TOTP:
    body = ok(client.post("/api/v1/me/totp", {"password": password}), 201)
    secrets[f"{who} totp secret"] = body["secret"]
    totp = pyotp.TOTP(body["secret"])
    code = totp.now()
    secrets[f"{who} code confirm"] = code
    codes = ok(client.post("/api/v1/me/totp/confirm", {"code": code}))["backup_codes"]
    for i, backup in enumerate(codes):
        secrets[f"{who} backup code {i}"] = backup
    client.backup_codes = codes
    return totp


def login(server, address: str, password: str, code: str, secrets: Secrets) -> ApiClient:
    client = ApiClient(server.url, server.origin)
    assert ok(client.post("/api/v1/auth/login", {"email": address,
                                                 "password": password}))["otp_required"]
    client.fetch_csrf()
    ok(client.post("/api/v1/auth/otp", {"code": code}))
    client.fetch_csrf()
    secrets.cookies(address, client.http)
    return client


async def exchange_messages(server, alice: ApiClient, bob: ApiClient, conversation_id: int,
                            texts: list[str]) -> None:
    async with ws_connect(server.ws_url, server.origin, alice.cookie_header()) as a_ws, \
            ws_connect(server.ws_url, server.origin, bob.cookie_header()) as b_ws:
        for ws in (a_ws, b_ws):
            await ws.send(json.dumps({"type": "sync", "since": {}}))
        for i, text in enumerate(texts):
            await a_ws.send(json.dumps({"type": "send", "conversation": conversation_id,
                                        "text": text, "client_id": f"log-{i}", "req_id": i}))
        seen = set()
        deadline = time.monotonic() + 20
        while len(seen) < len(texts) and time.monotonic() < deadline:
            frame = await recv_json(b_ws)
            if frame.get("type") == "message" and frame.get("text") in texts:
                seen.add(frame["text"])
        assert seen == set(texts)


def tus_upload(server, client: ApiClient, conversation_id: int, data: bytes, name: str) -> str:
    headers = {"Cookie": client.cookie_header(), "X-CSRFToken": client.csrf_token,
               "Origin": server.origin}
    uploader = tus_client.TusClient(server.url + "/api/v1/uploads/", headers=headers).uploader(
        file_stream=io.BytesIO(data), chunk_size=64 * 1024,
        metadata={"conversation": str(conversation_id), "filename": name,
                  "filetype": "text/plain"}, retries=0)
    uploader.upload()
    return uploader.url


# --- the test --------------------------------------------------------------------------------

CODE_RE = "(?<![0-9]){}(?![0-9])"


def code_leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Six-digit codes are looked up as whole numbers (a longer number may contain one)."""
    return [label for label, code in secrets.items()
            if re.search(CODE_RE.format(re.escape(code)), text)]


@pytest.mark.dbsensitive
def test_no_secret_reaches_any_log(transactional_db, redis_url, tmp_path, settings):
    server = LiveServer("uvicorn", tmp_path / "server", extra_env={"LOG_LEVEL": "DEBUG"},
                        extra_args=["--log-level", "debug"])
    server.start()
    settings.MEDIA_ROOT = server.media_root
    secrets, codes = Secrets(), {}
    texts = ["the walrus 4417 whispers at midnight", "ciphertext-free pelican 9021 reply"]
    file_name = "confidential-ocelot-budget-3318.txt"
    secrets.update({f"text {i}": t for i, t in enumerate(texts)})
    secrets["file name"] = file_name
    try:
        with capture_every_logger() as captured:
            # People, over HTTP and the websocket, as their browsers would.
            alice_pw, bob_pw = "alice's long passphrase 4711", "bob's long passphrase 0815"
            new_pw = "alice's brand new passphrase 2024"
            secrets.update({"alice password": alice_pw, "bob password": bob_pw,
                            "alice new password": new_pw})
            alice, alice_recovery = signup(server, "alice.logs@example.com", alice_pw, secrets)
            bob, _ = signup(server, "bob.logs@example.com", bob_pw, secrets)
            totp = enrol(alice, alice_pw, secrets, "alice")
            backup_codes = alice.backup_codes
            codes["alice confirm code"] = secrets.pop("alice code confirm")
            ok(alice.post("/api/v1/auth/logout"))
            alice.close()

            code = totp.at(time.time() + 30)
            codes["alice login code"] = code
            alice = login(server, "alice.logs@example.com", alice_pw, code, secrets)
            alice.backup_codes = backup_codes
            second = login(server, "alice.logs@example.com", alice_pw, backup_codes[0], secrets)
            ok(second.post("/api/v1/auth/logout"))
            second.close()

            # The emailed reset link, with the recovery code and a fresh TOTP code.
            anonymous = ApiClient(server.url, server.origin)
            ok(anonymous.post("/api/v1/auth/password-reset", {"email": "alice.logs@example.com"}))
            link = links_in_mail(server, "alice.logs@example.com", "/password-reset/")
            uid, token = link.rstrip("/").split("/")[-2:]
            secrets["reset token"] = token
            anonymous.get(urlsplit(link).path)
            anonymous.fetch_csrf()
            body = ok(anonymous.post("/api/v1/auth/password-reset/confirm", {
                "uid": uid, "token": token, "new_password": new_pw,
                "recovery_code": alice_recovery, "code": backup_codes[1]}))
            secrets["alice rotated recovery code"] = body["recovery_code"]
            anonymous.close()
            alice.close()
            alice = login(server, "alice.logs@example.com", new_pw, backup_codes[2], secrets)

            # Messages, a file, its download.
            conversation_id = ok(alice.post("/api/v1/conversations",
                                            {"email": "bob.logs@example.com"}), 201)["id"]
            asyncio.run(exchange_messages(server, alice, bob, conversation_id, texts))
            data = b"quarterly figures " * 9000
            tus_upload(server, alice, conversation_id, data, file_name)
            message = Message.objects.filter(kind=Message.FILE).latest("sent_at")
            download = bob.get(f"/api/v1/files/{message.pk}")
            assert download.status_code == 200 and download.content == data
            assert bob.get(f"/api/v1/files/{message.pk}/raw").status_code == 200
            secrets.cookies("alice", alice.http)
            secrets.cookies("bob", bob.http)

            # The operator: the admin, every page; the maintenance commands in-process.
            operator = make_user("operator.logs@example.com")
            User.objects.filter(pk=operator.user.pk).update(is_staff=True, is_superuser=True)
            device, operator_backup = enrol_totp(operator.user)
            secrets["operator password"] = operator.password
            secrets["operator recovery code"] = operator.recovery_code
            secrets["operator secret key"] = str(operator.identity_file.current_identity)
            secrets.update({f"operator backup {i}": c for i, c in enumerate(operator_backup)})
            from accounts.actions import do_invite

            # An invitation for the crawl to show (its token must reach no log either).
            secrets["invitation token"] = do_invite("invitee.logs@example.com")
            admin = admin_login(server, operator.email, operator.password, device)
            secrets.cookies("operator", admin)
            crawl(admin, per_model=20)
            admin.close()

            Conversation.objects.filter(pk=conversation_id).update(expiry_seconds=1)
            time.sleep(1.1)
            out = io.StringIO()
            for command in (["purge_expired"], ["purge_expired", "--yes"],
                            ["verify_storage", "--grace", "3600"], ["usage_stats"]):
                call_command(*command, stdout=out, stderr=out)

            httpx.get(f"{server.url}/{MARKER}/")  # the positive control for the server log
            for client in (alice, bob):
                client.close()
    finally:
        server.stop()

    server_log = server.log()
    in_process = "\n".join(captured.lines)
    # Positive controls: the same probes find what is harmless and present.
    assert MARKER in server_log, server_log[-2000:]
    assert "GET /api/v1/files/" in server_log  # the access log is on
    assert any("expired" in line and "messaging.actions" in line
               for line in captured.lines), in_process[-2000:]
    assert leaks(server_log, {"marker": MARKER}) == ["marker"]
    assert code_leaks(f"x {codes['alice login code']} y", codes) != []

    for name, text in (("server log", server_log), ("test process", in_process),
                       ("command output", out.getvalue())):
        assert leaks(text, secrets) == [], name
        assert code_leaks(text, codes) == [], name
        assert SECRET_KEY_PREFIX not in text, name
