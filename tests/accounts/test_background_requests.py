"""A request sent with ``X-SecureChat-Background: 1`` (the v2 shell's periodic re-check)
is answered but does not count as use: an open tab left alone still reaches the idle
limit, as a socket's heartbeats do (docs/security.md, "Session lifetimes")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.models import LoginSession
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.accounts import login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]

BACKGROUND = {"HTTP_X_SECURECHAT_BACKGROUND": "1"}


def last_seen(client):
    return LoginSession.objects.get(pk=client.login_session.pk).last_seen_at


def set_last_seen(client, minutes_ago: int):
    LoginSession.objects.filter(pk=client.login_session.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=minutes_ago))


@override_settings(SECURECHAT_SESSION_IDLE_SECONDS=3600)
def test_a_background_request_neither_refreshes_nor_escapes_the_idle_limit():
    client = login_client(make_user())
    set_last_seen(client, 59)
    before = last_seen(client)
    assert client.get("/api/v1/me", **BACKGROUND).status_code == 200
    assert last_seen(client) == before  # not use
    assert client.get("/api/v1/me").status_code == 200  # positive control: use refreshes
    assert last_seen(client) > timezone.now() - timedelta(minutes=1)
    set_last_seen(client, 61)
    assert client.get("/api/v1/me", **BACKGROUND).status_code == 401  # the limit still holds
