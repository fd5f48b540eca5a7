"""Account deletion (DESIGN.md §5, §4): after the version 2 step-up (``auth_key`` from the
current password, a fresh code when 2FA is on; protocol.md §27) the account, its keys,
devices and sessions are deleted, its sockets are told to close, a security email goes
out before, and an audit row without the user stays.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.sessions.models import Session
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import events
from accounts.models import (
    AuditEvent,
    BackupCodeDevice,
    ClientAuth,
    KeyGeneration,
    LoginSession,
    User,
    WrappedIdentity,
)
from tests.accounts import fresh_code, fresh_rate_limits, post_json  # noqa: F401
from tests.accounts.test_client_keys import PASSWORD, Device
from tests.accounts.v2stepup import profile_account, step_up, with_second_factor, wrong_step_up

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]


def owned_rows(user_id) -> dict:
    return {
        "user": User.objects.filter(pk=user_id).count(),
        "auth": ClientAuth.objects.filter(user_id=user_id).count(),
        "wrapped": WrappedIdentity.objects.filter(user_id=user_id).count(),
        "keys": KeyGeneration.objects.filter(user_id=user_id).count(),
        "logins": LoginSession.objects.filter(user_id=user_id).count(),
        "totp": TOTPDevice.objects.filter(user_id=user_id).count(),
        "backup": BackupCodeDevice.objects.filter(user_id=user_id).count(),
    }


def test_delete_removes_keys_sessions_and_account_and_keeps_an_anonymous_audit_row():
    alice, totp = with_second_factor(profile_account("alice@example.com"))
    other = Device("alice@example.com")
    other.login()
    other.post("/api/v1/auth/otp", {"code": fresh_code(totp)})
    assert other.http.get("/api/v1/me").status_code == 200
    bob = profile_account("bob@example.com")
    user_id = alice.user.pk
    assert all(owned_rows(user_id).values())  # positive control: there is something to delete
    sessions = [alice.http.session.session_key, other.http.session.session_key]

    response = alice.post("/api/v1/me/delete", step_up(alice, fresh_code(totp)))
    assert response.status_code == 200, response.content
    assert not any(owned_rows(user_id).values())
    assert not Session.objects.filter(session_key__in=sessions).exists()
    assert other.http.get("/api/v1/me").status_code == 401
    assert alice.http.get("/api/v1/me").status_code == 401
    assert AuditEvent.objects.filter(kind="account_deleted", user__isnull=True).count() == 1
    (message,) = [m for m in mail.outbox if "deleted" in m.subject]
    assert message.to == ["alice@example.com"] and PASSWORD not in message.body
    assert User.objects.filter(pk=bob.user.pk).exists()
    assert KeyGeneration.objects.filter(user=bob.user).exists()
    assert Device("alice@example.com").login().status_code == 401


async def test_delete_closes_the_users_sockets(redis_url):
    alice = await database_sync_to_async(profile_account)("alice@example.com")
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(events.user_group(alice.user.pk), channel)
    response = await database_sync_to_async(alice.post)("/api/v1/me/delete", step_up(alice))
    assert response.status_code == 200
    event = await asyncio.wait_for(layer.receive(channel), 5)
    assert event["type"] == "security.close"


@pytest.mark.parametrize("body,status,error", [
    ("wrong", 403, "wrong_password"),
    ({}, 403, "wrong_password"),
    ("no code", 403, "code_required"),
    ("bad code", 400, "invalid_code"),
    ({"password": PASSWORD}, 400, "bad_request"),
])
def test_refused_deletion_changes_nothing(body, status, error):
    alice, _ = with_second_factor(profile_account("alice@example.com"))
    body = {"wrong": wrong_step_up(alice), "no code": step_up(alice),
            "bad code": step_up(alice, "000000")}.get(body, body) if isinstance(body, str) \
        else body
    before = owned_rows(alice.user.pk)
    mail.outbox.clear()  # the enrolment's own notice
    response = alice.post("/api/v1/me/delete", body)
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    assert owned_rows(alice.user.pk) == before
    assert alice.http.get("/api/v1/me").status_code == 200
    assert not mail.outbox
