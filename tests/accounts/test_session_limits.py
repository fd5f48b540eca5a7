"""Session lifetimes (issue 17): a half-login ends SECURECHAT_HALF_LOGIN_SECONDS after the
password step, a login ends after SECURECHAT_SESSION_IDLE_SECONDS unused and
SESSION_COOKIE_AGE in all (sockets included), and enabling 2FA or regenerating backup
codes ends the user's other logins, as a password change does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import override_settings
from django.utils import timezone

from accounts import stages
from accounts.models import AuditEvent, LoginSession
from messaging.sessions import session_still_valid
from tests.accounts import (  # noqa: F401,E501
    code_at,
    current_t,
    enrol_totp,
    fresh_code,
    fresh_rate_limits,
    post_json,
)
from tests.support.accounts import login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]


def age(login, **columns) -> None:
    LoginSession.objects.filter(pk=login.pk).update(**columns)


def ended(client) -> bool:
    login = LoginSession.objects.get(pk=client.login_session.pk)
    return (login.ended_at is not None
            and not Session.objects.filter(session_key=login.session_key).exists())


@pytest.mark.parametrize("stage", [stages.STAGE_OTP, stages.STAGE_ENROL])
def test_a_half_login_ends_after_ten_minutes_by_default(stage):
    alice = make_user()
    client = login_client(alice, stage=stage)
    age(client.login_session, created_at=timezone.now() - timedelta(minutes=9))
    # positive control: still within its time, a half login (403, not 401)
    assert client.get("/api/v1/me").status_code == 403
    age(client.login_session, created_at=timezone.now() - timedelta(minutes=11))
    assert client.get("/api/v1/me").status_code == 401  # anonymous now
    assert ended(client)
    assert AuditEvent.objects.filter(kind="session_expired", user=alice.user).count() == 1
    assert post_json(client, "/api/v1/auth/otp", {"code": "123456"}).status_code == 401


@override_settings(SECURECHAT_HALF_LOGIN_SECONDS=60)
def test_the_half_login_time_is_a_setting_and_a_complete_login_is_not_held_to_it():
    alice = make_user()
    half = login_client(alice, stage=stages.STAGE_OTP)
    done = login_client(alice)
    for client in (half, done):
        age(client.login_session, created_at=timezone.now() - timedelta(seconds=90))
    assert post_json(half, "/api/v1/auth/otp", {"code": "123456"}).status_code == 401
    assert done.get("/api/v1/me").status_code == 200


@override_settings(SECURECHAT_SESSION_IDLE_SECONDS=3600)
def test_an_idle_login_ends_and_use_keeps_it_alive():
    alice = make_user()
    client = login_client(alice)
    age(client.login_session, last_seen_at=timezone.now() - timedelta(minutes=59))
    assert client.get("/api/v1/me").status_code == 200  # use refreshes "last seen"
    assert LoginSession.objects.get(pk=client.login_session.pk).last_seen_at > (
        timezone.now() - timedelta(minutes=1))
    age(client.login_session, last_seen_at=timezone.now() - timedelta(minutes=61))
    assert client.get("/api/v1/me").status_code == 401
    assert ended(client)


@override_settings(SESSION_COOKIE_AGE=24 * 3600)
def test_a_login_ends_at_its_absolute_lifetime_however_busy():
    alice = make_user()
    client = login_client(alice)
    age(client.login_session, created_at=timezone.now() - timedelta(hours=23))
    assert client.get("/api/v1/me").status_code == 200
    age(client.login_session, created_at=timezone.now() - timedelta(hours=25),
        last_seen_at=timezone.now())
    assert client.get("/api/v1/me").status_code == 401
    assert ended(client)


@override_settings(SECURECHAT_SESSION_IDLE_SECONDS=3600)
def test_a_socket_of_an_idle_or_too_old_login_fails_its_recheck():
    alice = make_user()
    client = login_client(alice)
    key = client.test_session.session_key
    assert session_still_valid(key, alice.user.pk)
    age(client.login_session, last_seen_at=timezone.now() - timedelta(minutes=61))
    assert not session_still_valid(key, alice.user.pk)
    age(client.login_session, last_seen_at=timezone.now(),
        created_at=timezone.now() - timedelta(days=15))
    assert not session_still_valid(key, alice.user.pk)
