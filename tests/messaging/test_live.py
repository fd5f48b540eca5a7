"""Messaging against real server processes (uvicorn and daphne) with the `websockets` client."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async

from messaging.models import Message
from tests.support.accounts import session_for
from tests.support.clients import LiveClient, ws_connect
from tests.support.live import RedisServer as OwnRedis
from tests.support.live import free_port


@asynccontextmanager
async def chat(server, test_user):
    session = await database_sync_to_async(session_for)(test_user)
    async with ws_connect(server.ws_url, server.origin, session.cookie_header) as ws:
        yield LiveClient(ws)


@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_live_server_delivers_messages_between_two_clients(pair, start_server, kind):
    """Under uvicorn and daphne, two websocket clients exchange 20 messages: acks with seqs
    1..20, each side receives all 20 decrypted, valid, in order, once."""
    server = start_server(kind)
    cid = pair.conversation_id
    async with chat(server, pair.alice) as alice, chat(server, pair.bob) as bob:
        for client in (alice, bob):
            assert (await client.request({"type": "sync", "since": {}}))["type"] == "synced"
        texts = [f"live {kind} {i}" for i in range(20)]
        for i, text in enumerate(texts):
            sender = alice if i % 2 == 0 else bob
            ack = await sender.request({"type": "send", "conversation": cid, "text": text,
                                        "client_id": f"c{i}"})
            assert (ack["type"], ack["seq"]) == ("ack", i + 1)
        for client in (alice, bob):
            got = await client.until_messages(cid, 20)
            assert [f["seq"] for f in got] == list(range(1, 21))
            assert [f["text"] for f in got] == texts
            assert {f["signature"] for f in got} == {"valid"}


async def test_twenty_websocket_clients_send_at_once_on_a_live_server(pair, start_server):
    """20 sockets (10 per member) send together after a barrier: all acked, seqs 1..20."""
    server = start_server("uvicorn")
    cid = pair.conversation_id
    sessions = [await database_sync_to_async(session_for)(
        pair.alice if i % 2 == 0 else pair.bob) for i in range(20)]
    barrier = asyncio.Barrier(20)

    async def one(i):
        async with ws_connect(server.ws_url, server.origin, sessions[i].cookie_header) as ws:
            client = LiveClient(ws)
            await barrier.wait()
            return await client.request({"type": "send", "conversation": cid,
                                         "text": f"t{i}", "client_id": f"s{i}"})

    acks = await asyncio.gather(*(one(i) for i in range(20)))
    assert sorted(a["seq"] for a in acks) == list(range(1, 21))
    assert await database_sync_to_async(Message.objects.count)() == 20


async def test_redis_outage_mid_conversation_loses_nothing(pair, start_server):
    """Redis stops mid-conversation: sends are still acked and stored; after Redis is back a
    reconnecting client syncs and has every message exactly once, in order."""
    own = OwnRedis(free_port()).start()
    try:
        server = start_server("uvicorn", REDIS_URL=own.url)
        cid = pair.conversation_id
        async with chat(server, pair.alice) as alice:
            async with chat(server, pair.bob) as bob:
                for client in (alice, bob):
                    await client.request({"type": "sync", "since": {}})
                for i in range(3):
                    await alice.request({"type": "send", "conversation": cid,
                                         "text": f"before {i}", "client_id": f"b{i}"})
                await bob.until_messages(cid, 3)  # live pushes went through Redis
                seen = max(f["seq"] for f in bob.messages(cid))
            own.stop()
            for i in range(5):
                ack = await alice.request({"type": "send", "conversation": cid,
                                           "text": f"during {i}", "client_id": f"d{i}"})
                assert (ack["type"], ack["seq"]) == ("ack", 4 + i)
        assert await database_sync_to_async(Message.objects.count)() == 8
        own.start()
        async with chat(server, pair.bob) as bob:
            await bob.request({"type": "sync", "since": {str(cid): seen}})
            async with chat(server, pair.alice) as alice:
                await alice.request({"type": "sync", "since": {str(cid): 8}})
                await alice.request({"type": "send", "conversation": cid, "text": "after",
                                     "client_id": "a0"})
                got = await bob.until_messages(cid, 6)
        assert [f["seq"] for f in got] == [4, 5, 6, 7, 8, 9]
        assert [f["text"] for f in got] == [f"during {i}" for i in range(5)] + ["after"]
    finally:
        own.stop()


async def test_bench_echo_route_exists_only_with_its_environment_variable(start_server):
    """Without SECURECHAT_BENCH_ECHO the echo URL is refused; with it, frames echo back."""
    plain = start_server("uvicorn")
    with pytest.raises(Exception):  # noqa: B017 - refused handshake or immediate close
        async with ws_connect(plain.ws_url + "bench-echo/room/", plain.origin) as ws:
            await ws.send("hello")
            await asyncio.wait_for(ws.recv(), 5)
    bench = start_server("uvicorn", SECURECHAT_BENCH_ECHO="1")
    async with ws_connect(bench.ws_url + "bench-echo/room/", bench.origin) as ws:
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), 5) == "hello"
