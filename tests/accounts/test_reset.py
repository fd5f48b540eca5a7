"""The password reset request: the emailed link (DESIGN.md §3, §4).

What the link leads to (the reset on the client, with or without the recovery
code) is tested in test_v2_account_changes.py and test_v2_held_reset.py.
"""

from __future__ import annotations

import logging
import re

import pytest
from django.core import mail
from django.test import Client

from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits, post_json, wait_for_mail  # noqa: F401,E501
from tests.support.accounts import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]

NEW_PASSWORD = "a brand new passphrase 7"
LINK = re.compile(r"https?://[^/\s]+/password-reset/([^/\s]+)/([^/\s]+)/")


def reset_link_for(email: str) -> tuple[str, str]:
    mail.outbox.clear()
    assert post_json(Client(), "/api/v1/auth/password-reset", {"email": email}).status_code == 200
    wait_for_mail()
    (message,) = mail.outbox
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(1), match.group(2)


def test_request_always_answers_200_and_mails_only_real_accounts(caplog):
    alice = make_user()
    caplog.set_level(logging.DEBUG)
    unknown = post_json(Client(), "/api/v1/auth/password-reset", {"email": "nobody@example.com"})
    assert unknown.status_code == 200
    wait_for_mail()
    assert not mail.outbox
    known = post_json(Client(), "/api/v1/auth/password-reset", {"email": alice.email.upper()})
    assert known.status_code == 200
    wait_for_mail()
    assert known.json() == unknown.json()
    (message,) = mail.outbox
    assert message.to == [alice.email]
    uid, token = LINK.search(message.body).groups()
    # The token is in the mail (positive control of the probe) and in no log record.
    assert token in message.body
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in logged


def test_request_is_rate_limited_per_address(settings):
    settings.SECURECHAT_RATE_LIMITS = {**settings.SECURECHAT_RATE_LIMITS,
                                       "reset_address": (3, 3600)}
    client = Client()
    statuses = [post_json(client, "/api/v1/auth/password-reset",
                          {"email": "someone@example.com"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
