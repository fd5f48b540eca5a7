"""Scale-out (DESIGN.md §7): several server processes share one Redis and one database.

Two uvicorn processes on two ports, a Redis started by the test, the test database
(SQLite file or PostgreSQL). Users connected to different processes chat live: each
push crosses processes through Redis, since nothing else would carry it in time (the
heartbeat that could make a client re-sync is set far beyond the test's timeouts).
"""

from __future__ import annotations

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

pytestmark = pytest.mark.usefixtures("fresh_rate_limits")  # a login per tab

ROUNDS = 15  # messages per direction
NO_HEARTBEAT = {"SECURECHAT_WS_HEARTBEAT_SECONDS": "600"}


@pytest.mark.dbsensitive
async def test_users_on_different_processes_chat_live_both_ways(start_server):
    """Alice's tab on process 1, Bob's on process 2 (and a second tab of each on the other
    process): messages (version 2: sealed and signed by the test's clients) sent
    alternately through both processes, acked with the next seqs, reach every tab live,
    each exactly once and in order, with the very box the sender sealed."""
    alice, bob, group = await database_sync_to_async(two_members)()
    cid = group.hex
    base = await database_sync_to_async(lambda: ConversationV2.objects.get(pk=cid).last_seq)()
    with RedisServer() as redis_server:
        env = {"REDIS_URL": redis_server.url, **NO_HEARTBEAT}
        p1, p2 = start_server("uvicorn", **env), start_server("uvicorn", **env)
        assert p1.pid != p2.pid and p1.port != p2.port
        clients = await open_clients([
            ("alice@p1", p1, await login_cookie(alice)),
            ("bob@p2", p2, await login_cookie(bob)),
            ("alice@p2", p2, await login_cookie(alice)),
            ("bob@p1", p1, await login_cookie(bob)),
        ])
        alice_p1, bob_p2 = clients[0], clients[1]
        try:
            by_seq = {}
            for i in range(2 * ROUNDS):
                sender, user = (alice_p1, alice) if i % 2 == 0 else (bob_p2, bob)
                body = group.message(user, f"{sender.name} says {i}")
                ack = await sender.send(cid, body)
                assert (ack["type"], ack["seq"]) == ("ack2", base + i + 1)
                by_seq[ack["seq"]] = body["box"]
                # The other user's tab on the other process has it before the next send:
                # a live push crossed processes.
                receiver = bob_p2 if sender is alice_p1 else alice_p1
                await receiver.wait_for_seq(cid, base + i + 1, timeout=10)
            for client in clients:
                await client.wait_for_seq(cid, base + len(by_seq), timeout=10)
            for client in clients:
                assert_exactly_once_in_order(client, cid, by_seq)
                assert client.connects == 1 and client.heartbeat_syncs == 0
        finally:
            await stop_all(clients)
    assert await database_sync_to_async(MessageV2.objects.count)() == 2 * ROUNDS
