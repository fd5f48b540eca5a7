"""Account deletion (DESIGN.md §5, §4): after a step-up the account, its keys, devices
and sessions are deleted, its sockets are told to close, a security email goes out
before, and an audit row without the user stays.
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
    KeyGeneration,
    LoginSession,
    User,
    WrappedIdentity,
)
from tests.accounts import NEEDS_V2_STEP_UP, enrol_totp, fresh_code, fresh_rate_limits, post_json  # noqa: F401
from tests.support.accounts import PASSWORD, login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]


def owned_rows(user_id) -> dict:
    return {
        "user": User.objects.filter(pk=user_id).count(),
        "wrapped": WrappedIdentity.objects.filter(user_id=user_id).count(),
        "keys": KeyGeneration.objects.filter(user_id=user_id).count(),
        "logins": LoginSession.objects.filter(user_id=user_id).count(),
        "totp": TOTPDevice.objects.filter(user_id=user_id).count(),
        "backup": BackupCodeDevice.objects.filter(user_id=user_id).count(),
    }


@NEEDS_V2_STEP_UP
def test_delete_removes_keys_sessions_and_account_and_keeps_an_anonymous_audit_row():
    alice = make_user()
    device, _ = enrol_totp(alice.user)
    bob = make_user()
    client = login_client(alice)
    this = client.test_session
    other_client = login_client(alice)
    other = other_client.test_session
    user_id = alice.user.pk
    assert all(owned_rows(user_id).values())  # positive control: there is something to delete

    response = post_json(client, "/api/v1/me/delete",
                         {"password": PASSWORD, "code": fresh_code(device)})
    assert response.status_code == 200, response.content
    assert response.cookies["securechat_key"].value == ""  # the key cookie is deleted
    assert response.cookies["securechat_key"]["max-age"] == 0

    assert not any(owned_rows(user_id).values())
    assert not Session.objects.filter(session_key__in=[this.session_key,
                                                       other.session_key]).exists()
    assert other_client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me").status_code == 401
    assert AuditEvent.objects.filter(kind="account_deleted", user__isnull=True).count() == 1
    (message,) = [m for m in mail.outbox if "deleted" in m.subject]
    assert message.to == [alice.email] and PASSWORD not in message.body
    assert User.objects.filter(pk=bob.user.pk).exists()
    assert KeyGeneration.objects.filter(user=bob.user).exists()


@NEEDS_V2_STEP_UP
async def test_delete_closes_the_users_sockets(redis_url):
    alice = await database_sync_to_async(make_user)()
    client = await database_sync_to_async(login_client)(alice)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(events.user_group(alice.user.pk), channel)
    response = await database_sync_to_async(post_json)(client, "/api/v1/me/delete",
                                                       {"password": PASSWORD})
    assert response.status_code == 200
    event = await asyncio.wait_for(layer.receive(channel), 5)
    assert event["type"] == "security.close"


@pytest.mark.parametrize("body,status,error", [
    ({"password": "wrong password 1234"}, 403, "wrong_password"),
    ({}, 403, "wrong_password"),
    ({"password": PASSWORD}, 403, "code_required"),
    ({"password": PASSWORD, "code": "000000"}, 400, "invalid_code"),
])
@NEEDS_V2_STEP_UP
def test_refused_deletion_changes_nothing(body, status, error):
    alice = make_user()
    enrol_totp(alice.user)
    client = login_client(alice)
    before = owned_rows(alice.user.pk)
    mail.outbox.clear()  # the enrolment's own notice
    response = post_json(client, "/api/v1/me/delete", body)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert owned_rows(alice.user.pk) == before
    assert client.get("/api/v1/me").status_code == 200
    assert not mail.outbox
