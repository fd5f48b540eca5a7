"""Failure behaviour (DESIGN.md §8): nothing acked is lost, nothing is doubled.

Each test starts its own Redis (tests.support.live.RedisServer) and two uvicorn
processes on free ports, sharing the test database; the machine's shared Redis and
PostgreSQL services are never stopped. Users are version 2 accounts signed up through
the client flow; their messages are sealed and signed in the test process
(tests/support/v2chat.py), so the servers only ever see ciphertext. Clients are
tests.support.chat.ReconnectingChatClient: they behave like the browser's socket (back-off, sync2 on
every connect, sends retained and re-sent with the same signed body) but keep every
frame, so a duplicate or a gap fails the test instead of being hidden.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from channels.db import database_sync_to_async

from messaging.models import ConversationV2, MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.chat import (
    assert_exactly_once_in_order,
    login_cookie,
    open_clients,
    stop_all,
    two_members,
)
from tests.support.live import RedisServer
from tests.support.v2chat import post_json

# Each test logs its users in several times (a session per tab): fresh login buckets.
pytestmark = pytest.mark.usefixtures("fresh_rate_limits")

NO_HEARTBEAT = {"SECURECHAT_WS_HEARTBEAT_SECONDS": "600"}


def stored() -> dict[int, str]:
    """``{seq: message hash}`` of every stored message."""
    return {seq: bytes(h).hex() for h, seq in MessageV2.objects.values_list("message_hash", "seq")}


def last_seq(group) -> int:
    return ConversationV2.objects.get(pk=group.hex).last_seq


async def until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


@pytest.mark.dbsensitive
async def test_redis_outage_across_two_processes_loses_and_doubles_nothing(start_server):
    """Redis stops mid-conversation between tabs on two processes: sends through both
    processes are still acked and stored (and, as a control that the outage is real, none
    reaches another tab live); Redis comes back empty on the same port, the tabs reconnect
    and sync, and live delivery across processes works again. Every tab ends with every
    message exactly once, in order."""
    alice, bob, group = await database_sync_to_async(two_members)()
    cid, base = group.hex, await database_sync_to_async(last_seq)(group)
    with RedisServer() as redis_server:
        env = {"REDIS_URL": redis_server.url, **NO_HEARTBEAT}
        p1, p2 = start_server("uvicorn", **env), start_server("uvicorn", **env)
        clients = await open_clients([
            ("alice@p1", p1, await login_cookie(alice)),
            ("bob@p2", p2, await login_cookie(bob)),
            ("alice@p2", p2, await login_cookie(alice)),
            ("bob@p1", p1, await login_cookie(bob)),
        ])
        alice_p1, bob_p2 = clients[0], clients[1]
        by_seq: dict[int, str] = {}

        async def exchange(phase: str, count: int, live: bool) -> None:
            for i in range(count):
                sender, user = (alice_p1, alice) if i % 2 == 0 else (bob_p2, bob)
                body = group.message(user, f"{phase} {i} from {sender.name}")
                ack = await sender.send(cid, body, timeout=15)
                assert (ack["type"], ack["seq"]) == ("ack2", base + len(by_seq) + 1), ack
                by_seq[ack["seq"]] = body["box"]
                if live:
                    receiver = bob_p2 if sender is alice_p1 else alice_p1
                    await receiver.wait_for_seq(cid, ack["seq"], timeout=15)

        try:
            await exchange("before", 4, live=True)
            for client in clients:
                await client.wait_for_seq(cid, base + 4, timeout=15)
            redis_server.stop()
            await exchange("during", 6, live=False)
            assert (await database_sync_to_async(stored)()).keys() == set(
                range(base + 1, base + 11))
            await asyncio.sleep(1)
            assert [c.last[cid] for c in clients] == [base + 4] * 4, "pushed without Redis?"

            redis_server.start()
            for client in clients:
                await client.drop()
            for client in clients:
                await client.wait_synced(30)
                await client.wait_for_seq(cid, base + 10, timeout=15)
            await exchange("after", 4, live=True)
            for client in clients:
                await client.wait_for_seq(cid, base + 14, timeout=15)
            for client in clients:
                assert_exactly_once_in_order(client, cid, by_seq)
                assert client.connects == 2, (client.name, client.close_codes)
        finally:
            await stop_all(clients)
    assert sorted(await database_sync_to_async(stored)()) == list(range(base + 1, base + 15))


SENDERS = 50
ROUNDS = 3


@pytest.mark.dbsensitive
async def test_fifty_websocket_senders_released_together(start_server):
    """50 sockets (two users, two processes, one conversation) send at once after a
    barrier, three rounds: every send gets an ack (no error frame, no closed socket, no
    server traceback), the acked seqs are exactly the next 150 with message hashes matching
    the stored rows, and every socket receives all of them once and in order."""
    alice, bob, group = await database_sync_to_async(two_members)()
    cid, base = group.hex, await database_sync_to_async(last_seq)(group)
    with RedisServer() as redis_server:
        env = {"REDIS_URL": redis_server.url, **NO_HEARTBEAT}
        servers = [start_server("uvicorn", **env), start_server("uvicorn", **env)]
        specs = []
        users, cookies = [], {alice.id: [], bob.id: []}
        for i in range(SENDERS):
            user = alice if i % 4 < 2 else bob
            users.append(user)
            # One login per ten sockets (SECURECHAT_WS_MAX_SOCKETS_PER_SESSION), as few
            # logins as that allows: each counts against the account's login limit.
            mine = [spec for spec, u in zip(specs, users, strict=False) if u is user]
            if len(mine) % 10 == 0:
                cookies[user.id].append(await login_cookie(user))
            specs.append((f"s{i}", servers[i % 2], cookies[user.id][-1]))
        clients = await open_clients(specs, timeout=60)
        try:
            acked: dict[int, tuple[str, str]] = {}
            for round_ in range(ROUNDS):
                barrier = asyncio.Barrier(SENDERS)

                bodies = [group.message(users[i], f"round {round_} sender {i}")
                          for i in range(SENDERS)]

                async def one(i, client, barrier=barrier, bodies=bodies):
                    await barrier.wait()
                    return bodies[i]["box"], await client.send(cid, bodies[i], timeout=60)

                results = await asyncio.gather(*(one(i, c) for i, c in enumerate(clients)))
                for box, ack in results:
                    assert ack["type"] == "ack2", ack
                    assert ack["seq"] not in acked
                    acked[ack["seq"]] = (ack["message_hash"], box)
            total = SENDERS * ROUNDS
            assert sorted(acked) == list(range(base + 1, base + total + 1))
            assert await database_sync_to_async(stored)() == {
                seq: hash_ for seq, (hash_, _box) in acked.items()}
            by_seq = {seq: box for seq, (_hash, box) in acked.items()}
            for client in clients:
                await client.wait_for_seq(cid, base + total, timeout=60)
            for client in clients:
                assert_exactly_once_in_order(client, cid, by_seq)
                assert (client.connects, client.close_codes, client.errors) == (1, [], [])
        finally:
            await stop_all(clients)
    for server in servers:
        assert "Traceback" not in server.log()


@pytest.mark.dbsensitive
async def test_rolling_restart_of_two_processes_loses_and_doubles_nothing(start_server):
    """Tabs of both users on both processes send continuously. Process 1 is stopped and
    started again on its port, then process 2; while one is down the tabs on the other
    keep sending and get acks, and the tabs of the restarted one reconnect with back-off,
    sync2 and re-send what was not acked (the same signed body). At the end every tab has
    every acked message exactly once, in order, and the database holds exactly those."""
    alice, bob, group = await database_sync_to_async(two_members)()
    cid, base = group.hex, await database_sync_to_async(last_seq)(group)
    with RedisServer() as redis_server:
        env = {"REDIS_URL": redis_server.url, "SECURECHAT_WS_HEARTBEAT_SECONDS": "2"}
        p1, p2 = start_server("uvicorn", **env), start_server("uvicorn", **env)
        clients = await open_clients([
            ("alice@p1", p1, await login_cookie(alice)),
            ("bob@p1", p1, await login_cookie(bob)),
            ("alice@p2", p2, await login_cookie(alice)),
            ("bob@p2", p2, await login_cookie(bob)),
        ])
        user_of = {"alice@p1": alice, "bob@p1": bob, "alice@p2": alice, "bob@p2": bob}
        on = {p1.port: clients[:2], p2.port: clients[2:]}
        by_seq: dict[int, str] = {}
        acks_by: dict[str, int] = {c.name: 0 for c in clients}
        stop_sending = asyncio.Event()

        async def keep_sending(client):
            n = 0
            while not stop_sending.is_set():
                body = group.message(user_of[client.name], f"{client.name} {n}")
                ack = await client.send(cid, body, timeout=60)
                assert ack["type"] == "ack2", ack
                assert by_seq.setdefault(ack["seq"], body["box"]) == body["box"]
                acks_by[client.name] += 1
                n += 1
                await asyncio.sleep(0.1)  # well under the socket's rate limit

        senders = [asyncio.create_task(keep_sending(c)) for c in clients]
        try:
            await until(lambda: min(acks_by.values()) >= 3, 20, "no traffic before restarts")
            for restarted, other in ((p1, p2), (p2, p1)):
                await asyncio.to_thread(restarted.stop)
                assert restarted.process.poll() is not None
                # Strictly in the middle of the traffic: the other process keeps acking.
                counts = {c.name: acks_by[c.name] for c in on[other.port]}
                await until(lambda counts=counts, other=other: all(
                    acks_by[c.name] >= counts[c.name] + 5 for c in on[other.port]),
                    20, "no acks from the other process during the restart")
                await asyncio.to_thread(restarted.start)
                for client in on[restarted.port]:
                    await client.wait_synced(30)
                counts = dict(acks_by)
                await until(lambda counts=counts: all(
                    acks_by[n] >= counts[n] + 3 for n in counts), 20, "no traffic after restart")
            stop_sending.set()
            await asyncio.wait_for(asyncio.gather(*senders), 60)
            total = len(by_seq)
            assert sorted(by_seq) == list(range(base + 1, base + total + 1))
            for client in clients:
                await client.wait_for_seq(cid, base + total, timeout=30)
            for client in clients:
                assert_exactly_once_in_order(client, cid, by_seq)
                assert client.connects == 2, (client.name, client.close_codes)
        finally:
            stop_sending.set()
            for task in senders:
                task.cancel()
            await asyncio.gather(*senders, return_exceptions=True)
            await stop_all(clients)
    assert sorted(await database_sync_to_async(stored)()) == list(range(base + 1,
                                                                        base + total + 1))


@pytest.mark.dbsensitive
def test_logins_resets_history_and_health_survive_a_redis_outage(start_server):
    """Redis (cache and channel layer) stops: a login with a TOTP code, a password-reset
    request and reading history all still work, readiness and liveness stay 200, and no
    request fails with a 500; rate limits go on per process (the per-account login limit
    still answers 429) and the fallback is logged once as a warning. Control: the same
    requests before the outage."""
    from django.utils import timezone

    from accounts.models import User
    from tests.accounts import enrol_totp, fresh_code
    from tests.support.clients import ApiClient
    from tests.support.v2chat import b64url

    alice, bob, group = two_members()
    sealed = group.message(alice, "before the outage")
    assert post_json(alice.http, group.url("messages"), sealed).status_code == 201
    User.objects.filter(pk=alice.id).update(email_verified_at=timezone.now())  # for 2FA
    device, _ = enrol_totp(alice.user)  # (ends her other sessions, the signup's too)
    with RedisServer() as redis_server:
        server = start_server("uvicorn", REDIS_URL=redis_server.url,
                              SECURECHAT_RATE_LOGIN_ACCOUNT="3/300")
        for phase in ("control", "outage"):
            if phase == "outage":
                redis_server.stop()
            assert httpx.get(server.url + "/api/v1/health/live").status_code == 200
            ready = httpx.get(server.url + "/api/v1/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["redis"] == ("ok" if phase == "control" else "error")
            with ApiClient(server.url) as api:
                body = api.post("/api/v1/auth/login",
                                {"email": alice.email, "auth_key": b64url(alice.auth_key)})
                assert body.status_code == 200 and body.json()["otp_required"], body.text
                api.fetch_csrf()
                assert api.post("/api/v1/auth/otp",
                                {"code": fresh_code(device)}).status_code == 200, phase
                history = api.get(f"/api/v1/v2/conversations/{group.hex}/timeline")
                assert history.status_code == 200, history.text
                assert sealed["box"] in history.text
            with ApiClient(server.url) as anonymous:
                reset = anonymous.post("/api/v1/auth/password-reset", {"email": bob.email})
                assert reset.status_code == 200, reset.text
        with ApiClient(server.url) as guesser:
            wrong = b64url(bytes(32))  # not Bob's auth key
            statuses = [guesser.post("/api/v1/auth/login",
                                     {"email": bob.email, "auth_key": wrong})
                        .status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
    log = server.log()
    assert '" 500' not in log and "Traceback" not in log
    assert log.count("rate limits: the cache (Redis) failed") == 1
