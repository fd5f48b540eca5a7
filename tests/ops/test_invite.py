"""``manage.py invite``: a single-use signup link for one address, printed or mailed.

The operator gets a link and nothing else: the invitee chooses the password
and receives the recovery code on the signup page. Only the SHA-256 of the
token is stored. The link works once, only for the invited address, only
until it expires; bad input is refused with a clear error and creates
nothing.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import os
import re
import subprocess
import sys
from datetime import timedelta
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import AuditEvent, Invitation, User
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.accounts import http_signup, make_user, signup_body
from tests.support.live import REPO_ROOT, database_env, free_port

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

ORIGIN = "https://chat.example.test"
LINK_RE = re.compile(r"https?://\S+/signup/\?\S+")


def invite(*args: str) -> str:
    out = io.StringIO()
    call_command("invite", *args, stdout=out)
    return out.getvalue()


def the_link(output: str) -> str:
    (link,) = LINK_RE.findall(output)
    return link


def mail_bodies(directory: Path) -> list[str]:
    """The decoded text of every message the file mail backend wrote to ``directory``."""
    bodies = []
    for path in sorted(directory.iterdir()):
        for raw in path.read_text().split("\n" + "-" * 79 + "\n"):
            if raw.strip():
                message = email.message_from_string(raw.lstrip("\n"), policy=email.policy.default)
                bodies.append(message.get_body(("plain",)).get_content())
    return bodies


def hidden_value(html: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)
    return unescape(re.search(r'value="([^"]*)"', tag).group(1))


def sign_up_from_link(client: Client, link: str, email: str | None = None):
    """What the invitee's client does with the link (the shell's /signup/ reads the same
    query): keep the invitation and the filled-in address, make the keys, sign up."""
    query = parse_qs(urlsplit(link).query)
    return http_signup(client, email or query["email"][0], invitation=query["invitation"][0])


@override_settings(SECURECHAT_REGISTRATION="invite", SECURECHAT_ORIGINS=[ORIGIN])
def test_the_printed_link_signs_the_invitee_up_once():
    """The link names the first origin, pre-fills the address and signs up exactly once."""
    output = invite("Invitee@Example.com", "--days", "3")
    link = the_link(output)
    assert link.startswith(f"{ORIGIN}/signup/?")
    query = parse_qs(urlsplit(link).query)
    token = query["invitation"][0]
    assert query["email"] == ["invitee@example.com"]  # normalised, as signup does
    (invitation,) = Invitation.objects.all()
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(Invitation.objects.values().get())  # only the hash is kept
    assert timedelta(days=3) - timedelta(minutes=1) < (
        invitation.expires_at - timezone.now()) <= timedelta(days=3)
    assert AuditEvent.objects.filter(kind="invited").count() == 1

    response = sign_up_from_link(Client(), link)
    assert response.status_code == 201, response.content
    user = User.objects.get(email="invitee@example.com")
    assert user.email_verified  # the link reached the address
    invitation.refresh_from_db()
    assert invitation.used_at is not None

    again = sign_up_from_link(Client(), link)
    assert again.status_code == 403
    assert "already exists" in again.json()["detail"] or "valid invitation" in again.json()[
        "detail"]
    assert User.objects.count() == 1


@override_settings(SECURECHAT_REGISTRATION="invite")
def test_the_link_does_not_work_for_another_address():
    link = the_link(invite("alice@example.com"))
    response = sign_up_from_link(Client(), link, email="mallory@example.com")
    assert response.status_code == 403
    assert "needs a valid invitation for this address" in response.json()["detail"]
    assert User.objects.count() == 0
    assert Invitation.objects.get().used_at is None
    # Positive control: the same link with its own address works.
    assert sign_up_from_link(Client(), link).status_code == 201


@override_settings(SECURECHAT_REGISTRATION="invite")
def test_an_expired_link_is_refused_over_the_api_too(client):
    """Once ``expires_at`` has passed the token no longer signs anyone up."""
    link = the_link(invite("late@example.com", "--days", "1"))
    token = parse_qs(urlsplit(link).query)["invitation"][0]
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    body = signup_body("late@example.com", invitation=token)[0]
    response = client.post("/api/v1/auth/signup", body, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"] == "registration_closed"
    assert "valid invitation" in response.json()["detail"]
    assert User.objects.count() == 0
    # Positive control: before expiry the same request succeeds.
    Invitation.objects.update(expires_at=timezone.now() + timedelta(days=1))
    response = Client().post("/api/v1/auth/signup", body, content_type="application/json")
    assert response.status_code == 201


@pytest.mark.parametrize(("args", "message"), [
    (["not-an-address"], "Enter a valid email address."),
    ([""], "Enter an email address."),
    (["ok@example.com", "--days", "0"], "valid for 1 to 365 days"),
    (["ok@example.com", "--days", "-3"], "valid for 1 to 365 days"),
    (["ok@example.com", "--days", "366"], "valid for 1 to 365 days"),
    (["taken@example.com"], "already exists"),
])
def test_bad_input_is_a_clear_error_and_creates_nothing(args, message):
    make_user("taken@example.com")
    events = AuditEvent.objects.count()
    with (override_settings(SECURECHAT_REGISTRATION="invite"),
          pytest.raises(CommandError, match=re.escape(message))):
        invite(*args)
    assert Invitation.objects.count() == 0
    assert AuditEvent.objects.count() == events


@override_settings(SECURECHAT_REGISTRATION="closed")
def test_closed_registration_refuses_to_invite():
    with pytest.raises(CommandError, match="Registration is closed"):
        invite("someone@example.com")
    assert Invitation.objects.count() == 0


@override_settings(SECURECHAT_REGISTRATION="invite", SECURECHAT_ORIGINS=[ORIGIN])
def test_send_mails_the_link_and_prints_no_token():
    output = invite("mailed@example.com", "--send")
    (message,) = mail.outbox
    assert message.to == ["mailed@example.com"]
    link = the_link(message.body)
    assert link.startswith(ORIGIN)
    token = parse_qs(urlsplit(link).query)["invitation"][0]
    assert token not in output and "/signup/" not in output
    assert "emailed to mailed@example.com" in output
    assert sign_up_from_link(Client(), link).status_code == 201


@override_settings(SECURECHAT_REGISTRATION="invite")
def test_send_that_cannot_reach_the_mail_server_creates_nothing():
    """SMTP refused: a clear error, and no invitation that nobody received."""
    port = free_port()  # nothing listens there
    smtp = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                        "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 3}}}
    with override_settings(MAILERS=smtp), pytest.raises(CommandError, match="could not be sent"):
        invite("nobody@example.com", "--send")
    assert Invitation.objects.count() == 0
    assert AuditEvent.objects.filter(kind="invited").count() == 0


def test_the_command_line_as_an_operator_runs_it(tmp_path):
    """``python manage.py invite … --send`` in a shell: exit 0, the mail in the outbox.

    A bad address exits non-zero with the message on stderr.
    """
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "SECURECHAT_REGISTRATION": "invite", "SECURECHAT_ORIGINS": ORIGIN,
           "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
           "EMAIL_FILE_PATH": str(tmp_path / "mail"), **database_env()}
    manage = [sys.executable, "manage.py", "invite"]
    done = subprocess.run([*manage, "cli@example.com", "--send"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (body,) = mail_bodies(tmp_path / "mail")
    link = the_link(body)
    assert "/signup/" not in done.stdout
    with override_settings(SECURECHAT_REGISTRATION="invite"):
        assert sign_up_from_link(Client(), link).status_code == 201

    bad = subprocess.run([*manage, "not-an-address"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert "CommandError: Enter a valid email address." in bad.stderr
    assert Invitation.objects.count() == 1
