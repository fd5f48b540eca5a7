"""Security emails (DESIGN.md §4): one goes out for each security event (new login,
password, second-factor and key changes, resets, exports, email changes, deletion,
administrator actions), after the change commits, in plain text, and carries no
secret: no password, recovery or backup code, key or token. The two link emails
carry exactly their one link.
"""

from __future__ import annotations

import logging
import re

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client, override_settings

from accounts import actions
from accounts.emails import SECURITY_EMAILS, send_security_email
from accounts.models import KeyGeneration
from tests.accounts import (  # noqa: F401
    enrol_totp,
    fresh_code,
    fresh_rate_limits,
    post_json,
    wait_for_mail,
)
from tests.support.accounts import PASSWORD, b64url, http_login, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]

NEW_PASSWORD = "the next passphrase 99"
URL = re.compile(r"https?://\S+")


def forbidden_strings(test_user, extra=()) -> list[str]:
    user = test_user.user
    return [PASSWORD, NEW_PASSWORD, test_user.recovery_code,
            str(test_user.identity_file.current_identity), b64url(test_user.auth_key),
            KeyGeneration.objects.current_for(user).recipient, test_user.fingerprint, *extra]


def device_forbidden(device) -> list[str]:
    """The same for a version 2 device of test_v2_account_changes (its own secrets)."""
    return [device.password, NEW_PASSWORD, device.recovery_code,
            str(device.identity.current_identity), b64url(device.keys.auth_key),
            device.identity.recipient()]



def assert_clean(message, forbidden) -> None:
    text = message.subject + "\n" + message.body
    for secret in forbidden:
        assert secret not in text
    assert message.content_subtype == "plain" and not getattr(message, "alternatives", None)


def only_mail_to(address: str):
    messages = [m for m in mail.outbox if m.to == [address]]
    assert len(messages) == 1, [m.subject for m in mail.outbox]
    return messages[0]


def test_every_kind_renders_without_template_errors():
    alice = make_user()
    for kind in SECURITY_EMAILS:
        with transaction.atomic():
            send_security_email(alice.user, kind)
    assert len(mail.outbox) == len(SECURITY_EMAILS)
    assert len({m.subject for m in mail.outbox}) == len(SECURITY_EMAILS)
    for message in mail.outbox:
        assert "/me/" in message.body


def test_nothing_is_sent_when_the_change_rolls_back():
    alice = make_user()
    with pytest.raises(RuntimeError), transaction.atomic():
        send_security_email(alice.user, "password_changed")
        raise RuntimeError("the change failed")
    assert not mail.outbox
    with transaction.atomic():
        send_security_email(alice.user, "password_changed")
    assert len(mail.outbox) == 1  # control


def test_new_login_email_names_device_and_address_but_no_secret():
    alice = make_user()
    mail.outbox.clear()
    browser = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
    response = http_login(browser, alice.email, PASSWORD)
    assert response.status_code == 200
    message = only_mail_to(alice.email)
    assert "New login" in message.subject
    assert "Firefox on Linux" in message.body and "127.0.0.1" in message.body
    assert_clean(message, forbidden_strings(alice))


@pytest.mark.parametrize("event,subject", [
    ("password", "password was changed"),
    ("email_request", "about to change"),
    ("delete", "being deleted"),
    ("rotate", "keys were renewed"),
    ("deactivate", "deactivated"),
    ("devices_reset", "second factor was reset"),
    ("totp", "authenticator app was added"),
])
def test_each_event_sends_one_clean_email(event, subject):
    from tests.accounts.test_v2_account_changes import account, password_body, rotation_body
    from tests.accounts.v2stepup import email_change_body, step_up

    if event in ("password", "rotate", "email_request", "delete"):
        # version 2 changes: a client device drives them
        device = account("changer@example.com")
        address, forbidden = device.email, device_forbidden(device)
        mail.outbox.clear()
        if event == "password":
            r = device.post("/api/v1/me/v2/password", password_body(device))
        elif event == "rotate":
            r = device.post("/api/v1/me/v2/rotate-keys", rotation_body(device)[1])
        elif event == "email_request":
            r = device.post("/api/v1/me/email",
                            email_change_body(device, "elsewhere@example.com"))
        else:
            r = device.post("/api/v1/me/delete", step_up(device))
        assert r.status_code in (200, 202), r.content
    else:
        alice = make_user()
        address, forbidden = alice.email, forbidden_strings(alice)
        mail.outbox.clear()
        if event == "totp":
            enrol_totp(alice.user)
        elif event == "deactivate":
            actions.do_deactivate_user(alice.user)
        elif event == "devices_reset":
            enrol_totp(alice.user)
            mail.outbox.clear()
            actions.do_reset_devices(alice.user)
    message = only_mail_to(address)
    assert subject in message.subject
    assert_clean(message, forbidden)
    assert not URL.findall(message.body.replace(
        "http://127.0.0.1:8000/me/", ""))  # no link but the profile (its sessions)


def test_the_reset_email_carries_only_the_link():
    """(The notices after a reset on the client: test_v2_account_changes.py and
    test_v2_held_reset.py.)"""
    alice = make_user()
    mail.outbox.clear()
    post_json(Client(), "/api/v1/auth/password-reset", {"email": alice.email})
    wait_for_mail()
    link_mail = only_mail_to(alice.email)
    (link,) = URL.findall(link_mail.body)
    assert "/password-reset/" in link
    assert_clean(link_mail, forbidden_strings(alice))
    from django.conf import settings

    assert f"within {settings.PASSWORD_RESET_TIMEOUT // 3600} hours" in link_mail.body


def test_email_change_link_goes_only_to_the_new_address():
    from tests.accounts.test_v2_account_changes import account
    from tests.accounts.v2stepup import email_change_body

    device = account("alice@example.com")
    mail.outbox.clear()
    r = device.post("/api/v1/me/email", email_change_body(device, "new-home@example.com"))
    assert r.status_code == 202, r.content
    link_mail = only_mail_to("new-home@example.com")
    (link,) = URL.findall(link_mail.body)
    token = link.rstrip("/").split("/")[-1]
    notice = only_mail_to(device.email)
    assert_clean(notice, device_forbidden(device) + [token])
    assert_clean(link_mail, device_forbidden(device))


def test_links_use_the_configured_origin_not_the_host_header(settings):
    settings.SECURECHAT_ORIGINS = ["https://chat.example.org"]
    settings.ALLOWED_HOSTS = ["*"]
    alice = make_user()
    mail.outbox.clear()
    post_json(Client(HTTP_HOST="evil.example.net"), "/api/v1/auth/password-reset",
              {"email": alice.email})
    wait_for_mail()
    (link,) = URL.findall(only_mail_to(alice.email).body)
    assert link.startswith("https://chat.example.org/password-reset/")


def test_a_failing_mail_server_does_not_fail_the_action_and_logs_no_address(caplog):
    alice = make_user()
    client = Client()
    caplog.set_level(logging.WARNING, logger="accounts.emails")
    broken = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                          "OPTIONS": {"host": "127.0.0.1", "port": 1, "timeout": 2}}}
    with override_settings(MAILERS=broken):
        response = http_login(client, alice.email, PASSWORD)  # the new-login email
    assert response.status_code == 200 and client.get("/api/v1/me").status_code == 200
    warnings = [r.getMessage() for r in caplog.records if r.name == "accounts.emails"]
    assert warnings == ["could not send the new_login email"]
    assert alice.email not in " ".join(warnings)
    assert not mail.outbox
