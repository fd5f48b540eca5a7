"""Prometheus metrics (issue 16): a scrape before and after a short scripted load on a
live server grows by exactly what the load did, and the endpoint refuses without its
token (404 while no token is configured).

The load: two logged-in version 2 sockets (alice, bob) that sync once each, three text
messages from alice, a tus upload of a 100,000-byte file's age file and its file message,
and three logins with a wrong auth key against a limit of two per account (two
failures, then one throttle).
"""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest
from channels.db import database_sync_to_async
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from messaging.models import ConversationV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.filestore.v2_support import V2Member, age_file, tus_upload, upload_id
from tests.support.chat import ReconnectingChatClient, stop_all, two_members
from tests.support.clients import ApiClient
from tests.support.v2chat import b64url

pytestmark = [pytest.mark.usefixtures("fresh_rate_limits")]

TOKEN = secrets.token_urlsafe(24)
UPLOAD_SIZE = 100_000


def scrape(server) -> dict[tuple, float]:
    """``{(sample name, sorted labels): value}`` of one authorised scrape."""
    response = httpx.get(server.url + "/api/v1/metrics",
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def growth(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_refuse_without_the_token_and_are_disabled_without_a_setting(start_server):
    server = start_server("uvicorn", SECURECHAT_METRICS_TOKEN=TOKEN)
    url = server.url + "/api/v1/metrics"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.json()["error"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    wrong = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 401 and "securechat_" not in wrong.text
    # Control: the same endpoint with the token answers with the metrics.
    assert any(name == "securechat_http_requests_total" for name, _ in scrape(server))


@pytest.mark.django_db
def test_metrics_are_disabled_without_a_token(client):
    with override_settings(SECURECHAT_METRICS_TOKEN=""):
        response = client.get("/api/v1/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def uploader(server, user) -> V2Member:
    """``user``'s own session (a v2 signup in this process) on the live server, with its
    CSRF token, for tus (the database is shared, so the cookie works there)."""
    from django.conf import settings
    from django.utils import timezone

    from accounts.models import User

    User.objects.filter(pk=user.id).update(email_verified_at=timezone.now())
    name = settings.SESSION_COOKIE_NAME
    cookie = f"{name}={user.http.cookies[name].value}"
    r = httpx.get(server.url + "/api/v1/csrf", headers={"Cookie": cookie})
    r.raise_for_status()
    return V2Member(user.email, f"{cookie}; csrftoken={r.cookies['csrftoken']}",
                    r.json()["csrf_token"])


async def test_counters_grow_by_exactly_the_scripted_load(start_server):
    alice, bob, group = await database_sync_to_async(two_members)()
    cid = group.hex
    base = await database_sync_to_async(lambda: ConversationV2.objects.get(pk=cid).last_seq)()
    server = start_server("uvicorn", SECURECHAT_METRICS_TOKEN=TOKEN,
                          SECURECHAT_WS_HEARTBEAT_SECONDS="600",
                          SECURECHAT_RATE_LOGIN_ACCOUNT="2/300")
    before = await asyncio.to_thread(scrape, server)
    # Their signup sessions: a fresh login would count in the login limit under test.
    clients = [ReconnectingChatClient("alice", server, alice.cookie_header()),
               ReconnectingChatClient("bob", server, bob.cookie_header())]
    try:
        for client in clients:
            await client.start()
        during = await asyncio.to_thread(scrape, server)
        assert during[("securechat_websocket_connections", ())] == 2
        for i in range(3):
            ack = await clients[0].send(cid, group.message(alice, f"metrics {i}"), timeout=15)
            assert ack["type"] == "ack2", ack
        member = await database_sync_to_async(uploader)(server, alice)
        sealed, _identity = age_file(secrets.token_bytes(UPLOAD_SIZE))
        path = await asyncio.to_thread(tus_upload, member, server, sealed)
        ack = await clients[0].send(cid, group.file_message(alice, upload_id(path)), timeout=15)
        assert ack["type"] == "ack2", ack
        for client in clients:
            await client.wait_for_seq(cid, base + 4, timeout=15)
    finally:
        await stop_all(clients)
    statuses = await asyncio.to_thread(wrong_logins, server, alice.email, 3)
    assert statuses == [401, 401, 429]
    after = await asyncio.to_thread(scrape, server)

    assert growth(before, after, "securechat_messages_sent_total", kind="text") == 3
    assert growth(before, after, "securechat_messages_sent_total", kind="file") == 1
    assert growth(before, after, "securechat_messages_delivered_total") == 4 * 2
    assert growth(before, after, "securechat_sync_replays_total") == 2
    assert growth(before, after, "securechat_upload_bytes_total") == len(sealed)
    assert after[("securechat_active_uploads", ())] == 0
    assert growth(before, after, "securechat_login_failures_total") == 2
    assert growth(before, after, "securechat_throttled_total", scope="login_account") == 1
    login = {"route": "api/v1/auth/login", "method": "POST"}
    assert growth(before, after, "securechat_http_requests_total", status="401", **login) == 2
    assert growth(before, after, "securechat_http_requests_total", status="429", **login) == 1
    assert growth(before, after, "securechat_http_request_duration_seconds_count",
                  route="api/v1/auth/login") == 3
    assert growth(before, after, "securechat_channel_layer_errors_total",
                  operation="publish") == 0
    await until_sockets_closed(server)


def wrong_logins(server, email: str, count: int) -> list[int]:
    with ApiClient(server.url) as api:
        return [api.post("/api/v1/auth/login", {"email": email, "auth_key": b64url(bytes(32))})
                .status_code for _ in range(count)]


async def until_sockets_closed(server) -> None:
    for _ in range(100):
        if (await asyncio.to_thread(scrape, server))[
                ("securechat_websocket_connections", ())] == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the websocket gauge did not return to 0")


@pytest.mark.django_db(transaction=True)
async def test_v2_sends_and_deliveries_are_counted(start_server):
    """Version 2 (ciphertext) sends count in messages_sent by their signed kind (a kind
    the protocol does not name counts as "other"); message2 frames that carry a message
    count as deliveries, the chain's operations and epochs do not."""
    from tests.messaging.test_v2_live import socket_of, synced
    from tests.support.v2chat import V2User, group_of

    # database_sync_to_async, not sync_to_async: it closes the thread's connection, which
    # would otherwise stay open in a stray executor thread (stale SQLite snapshots later).
    alice = await database_sync_to_async(V2User.signup)("alice")
    bob = await database_sync_to_async(V2User.signup)("bob")
    group = await database_sync_to_async(group_of)(alice, bob)
    server = start_server("uvicorn", SECURECHAT_METRICS_TOKEN=TOKEN)
    before = await asyncio.to_thread(scrape, server)
    def messages_of(client):
        return [f for f in client.frames if f["type"] == "message2"
                and f["item"]["type"] == "message"]

    async with socket_of(server, alice) as a, socket_of(server, bob) as b:
        await synced(b, {})  # replays the chain's operations and epochs: not messages
        for i, kind in enumerate(["text", "text", "invented-kind"]):
            body = group.message(alice, f"m{i}", kind=kind)  # signing only: no database
            ack = await a.request({"type": "send2", "conversation": group.hex, **body})
            assert ack["type"] == "ack2", ack
        while len(messages_of(b)) < 3:
            await b.recv(15)
        replayed = [f for f in b.frames if f["type"] == "message2"]
    after = await asyncio.to_thread(scrape, server)
    assert growth(before, after, "securechat_messages_sent_total", kind="text") == 2
    assert growth(before, after, "securechat_messages_sent_total", kind="other") == 1
    assert len(replayed) > 3  # the chain came too, and is not counted
    assert growth(before, after, "securechat_messages_delivered_total") == 3
