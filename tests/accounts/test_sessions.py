"""Sessions (DESIGN.md §4): users see their logins (device, address, last seen) and
revoke one or all others. Revoking deletes the Django session, so its cookies stop
working at once, and tells its sockets to close. Another user's session id is a 404
like one that does not exist.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.sessions.models import Session
from django.test import Client

from accounts import events
from accounts.models import AuditEvent, LoginSession
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.accounts import login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"


def test_list_shows_own_active_sessions_and_marks_the_current_one():
    alice = make_user()
    client = login_client(alice, user_agent=FIREFOX, ip_address="192.0.2.7")
    this = client.login_session
    other = login_client(alice).login_session
    ended = login_client(alice).login_session
    LoginSession.objects.filter(pk=ended.pk).update(ended_at=this.created_at)
    login_client(make_user())  # someone else's

    response = client.get("/api/v1/me/sessions")
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()}
    assert set(rows) == {this.pk, other.pk}
    assert rows[this.pk]["current"] is True and rows[other.pk]["current"] is False
    assert rows[this.pk]["device"] == "Firefox on Linux"
    assert rows[this.pk]["ip_address"] == "192.0.2.7"
    assert set(rows[this.pk]) == {"id", "device", "ip_address", "created_at", "last_seen_at",
                                  "current"}
    assert "session_key" not in response.content.decode()
    assert this.session_key not in response.content.decode()


def test_revoking_a_session_makes_its_cookie_worthless():
    alice = make_user()
    client = login_client(alice)
    this = client.login_session
    other_client = login_client(alice)
    other = other_client.login_session
    assert other_client.get("/api/v1/me").status_code == 200  # positive control

    response = client.delete(f"/api/v1/me/sessions/{other.pk}")
    assert response.status_code == 200, response.content
    assert other_client.get("/api/v1/me").status_code == 401
    assert not Session.objects.filter(session_key=other.session_key).exists()
    assert LoginSession.objects.get(pk=other.pk).ended_at is not None
    assert client.get("/api/v1/me").status_code == 200
    assert AuditEvent.objects.filter(user=alice.user, kind="session_revoked").exists()
    # Gone from the list; revoking it again is a 404.
    assert [row["id"] for row in client.get("/api/v1/me/sessions").json()] == [this.pk]
    assert client.delete(f"/api/v1/me/sessions/{other.pk}").status_code == 404


def test_another_users_session_is_a_404_and_stays():
    alice, bob = make_user(), make_user()
    client = login_client(alice)
    bob_client = login_client(bob)
    bobs = bob_client.login_session
    response = client.delete(f"/api/v1/me/sessions/{bobs.pk}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert client.delete("/api/v1/me/sessions/999999").json() == response.json()
    assert LoginSession.objects.get(pk=bobs.pk).ended_at is None
    assert bob_client.get("/api/v1/me").status_code == 200


def test_revoking_the_current_session_logs_it_out():
    alice = make_user()
    client = login_client(alice)
    this = client.login_session
    response = client.delete(f"/api/v1/me/sessions/{this.pk}")
    assert response.status_code == 200 and response.json()["current"] is True
    assert client.get("/api/v1/me").status_code == 401
    assert not Session.objects.filter(session_key=this.session_key).exists()


def test_revoke_others_keeps_only_this_session():
    alice = make_user()
    client = login_client(alice)
    this = client.login_session
    others = [login_client(alice) for _ in range(3)]
    bob_client = login_client(make_user())
    response = client.post("/api/v1/me/sessions/revoke-others", content_type="application/json")
    assert response.status_code == 200 and response.json()["ended"] == 3
    for other_client in others:
        assert other_client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me").status_code == 200
    assert bob_client.get("/api/v1/me").status_code == 200
    assert list(LoginSession.objects.active().filter(user=alice.user)) == [this]


async def test_revoked_session_sockets_are_told_to_close(redis_url):
    alice = await database_sync_to_async(make_user)()
    client = await database_sync_to_async(login_client)(alice)
    this = client.login_session
    other = (await database_sync_to_async(login_client)(alice)).login_session
    layer = get_channel_layer()
    other_channel, this_channel = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(events.session_group(other.session_key), other_channel)
    await layer.group_add(events.session_group(this.session_key), this_channel)
    response = await database_sync_to_async(client.delete)(f"/api/v1/me/sessions/{other.pk}")
    assert response.status_code == 200
    event = await asyncio.wait_for(layer.receive(other_channel), 5)
    assert event == {"type": "security.close", "code": events.CLOSE_LOGGED_OUT}
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(this_channel), 0.5)


@pytest.mark.parametrize("method,path,status", [
    ("get", "/api/v1/me/sessions/1", 405),
    ("post", "/api/v1/me/sessions", 405),
    ("get", "/api/v1/me/sessions/revoke-others", 405),
])
def test_wrong_methods_are_refused(method, path, status):
    alice = make_user()
    client = login_client(alice)
    assert getattr(client, method)(path).status_code == status
    assert LoginSession.objects.active().filter(user=alice.user).count() == 1


def test_anonymous_gets_401():
    assert Client().get("/api/v1/me/sessions").status_code == 401
