"""``manage.py sendtestemail`` (Django's) goes out through the configured mailer.

In the suite Django swaps every ``MAILERS`` alias for its in-memory backend.
From a shell, the environment the README lists (``EMAIL_HOST``,
``EMAIL_PORT`` …) is what an operator sets: the command then talks SMTP to
that server (here a minimal SMTP server run by the test) and exits non-zero
with the reason when nothing answers.
"""

from __future__ import annotations

import os
import socketserver
import subprocess
import sys
import threading

from django.core import mail
from django.core.management import call_command

from tests.support.live import REPO_ROOT, free_port


def test_call_command_sends_through_the_default_mailer(settings):
    assert set(settings.MAILERS) == {"default"}
    call_command("sendtestemail", "operator@example.com")
    (message,) = mail.outbox
    assert message.to == ["operator@example.com"]
    assert message.subject.startswith("Test email from")
    assert message.from_email == settings.DEFAULT_FROM_EMAIL


def address(line: bytes) -> str:
    return line.decode().split("<", 1)[1].split(">", 1)[0]


class SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for Django's backend: EHLO, MAIL, RCPT, DATA, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        envelope = {"rcpt": [], "data": b""}
        self.reply("220 test.smtp ready")
        while line := self.rfile.readline():
            verb = line.decode().strip().split(" ", 1)[0].upper()
            if verb in {"EHLO", "HELO"}:
                self.reply("250 test.smtp")
            elif verb == "MAIL":
                envelope["from"] = address(line)
                self.reply("250 OK")
            elif verb == "RCPT":
                envelope["rcpt"].append(address(line))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                while (data := self.rfile.readline()) not in {b".\r\n", b""}:
                    envelope["data"] += data
                self.server.received.append(envelope)
                envelope = {"rcpt": [], "data": b""}
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def smtp_env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"EMAIL_BACKEND", "DJANGO_SETTINGS_MODULE"}}
    env.update({"SECURECHAT_ENV": "development", "EMAIL_BACKEND":
                "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(port), "EMAIL_TIMEOUT": "5",
                "DEFAULT_FROM_EMAIL": "SecureChat <chat@example.test>"})
    return env


def test_from_a_shell_it_speaks_smtp_to_the_configured_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = manage("sendtestemail", "operator@example.com",
                      env=smtp_env(server.server_address[1]))
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    (envelope,) = server.received
    assert envelope["from"] == "chat@example.test"
    assert envelope["rcpt"] == ["operator@example.com"]
    assert b"If you're reading this, it was successful." in envelope["data"]


def test_from_a_shell_an_unreachable_server_is_a_failure():
    done = manage("sendtestemail", "operator@example.com", env=smtp_env(free_port()))
    assert done.returncode != 0
    assert "ConnectionRefusedError" in done.stderr
