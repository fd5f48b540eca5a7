"""Version 2 messaging against real server processes (uvicorn and daphne), with the
`websockets` client: the v1 live guarantees, ported to the ciphertext path.

Users are v2 accounts signed up through the client flow (tests/support/v2chat.py); their
conversation, chain and epoch are made through the HTTP API, then each member opens a
real websocket to the live server with its session cookie. What the server forwards is
compared with what the sender sealed, and opened with the epoch secret the way a
recipient opens it.
"""

from __future__ import annotations

import asyncio
import base64
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async

from client import messagebox
from messaging.models import ConversationV2, MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.clients import LiveClient, ws_connect
from tests.support.live import RedisServer as OwnRedis
from tests.support.live import free_port
from tests.support.v2chat import group_of

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def cookie_header(user) -> str:
    return "; ".join(f"{name}={morsel.value}" for name, morsel in user.http.cookies.items())


@asynccontextmanager
async def socket_of(server, user):
    async with ws_connect(server.ws_url, server.origin, cookie_header(user)) as ws:
        yield LiveClient(ws)


async def synced(client: LiveClient, positions: dict | None = None) -> dict:
    answer = await client.request({"type": "sync2", "positions": positions or {}})
    assert answer["type"] == "synced2", answer
    return answer


async def last_seq(group) -> int:
    return await database_sync_to_async(
        lambda: ConversationV2.objects.get(pk=group.hex).last_seq)()


def opened_text(group, frame: dict) -> str:
    """What a recipient reads: the pushed box opened under the epoch secret, in the
    context the recipient builds from the signed statement it verified."""
    item = frame["item"]
    statement = messagebox.parse_statement(base64.b64decode(item["statement"]))
    plain = messagebox.open_box(group.epoch.secret, statement.context,
                                base64.b64decode(item["box"]))
    return messagebox.parse_plaintext(plain)["text"]


@pytest.fixture
def chat(trio):
    alice, bob, _carol = trio
    return group_of(alice, bob), alice, bob


@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_live_server_delivers_ciphertext_between_two_members(chat, start_shared_server, kind):
    """Under uvicorn and daphne, two members exchange 20 messages over send2: acks with
    consecutive seqs after the chain's, each side gets all 20 message2 frames in order,
    once, carrying exactly the sealed boxes, which open to the texts."""
    group, alice, bob = chat
    server = start_shared_server(kind)
    first = await last_seq(group) + 1
    async with socket_of(server, alice) as a, socket_of(server, bob) as b:
        for client in (a, b):
            await synced(client, {group.hex: first - 1})
        texts = [f"live {kind} {i}" for i in range(20)]
        sent = []
        for i, text in enumerate(texts):
            sender, client = (alice, a) if i % 2 == 0 else (bob, b)
            body = await database_sync_to_async(group.message)(sender, text)
            ack = await client.request({"type": "send2", "conversation": group.hex, **body})
            assert (ack["type"], ack["seq"], ack["created"]) == ("ack2", first + i, True)
            sent.append(body["box"])
        for client in (a, b):
            got = await client.until_messages(group.hex, 20, frame_type="message2")
            assert [f["item"]["seq"] for f in got] == list(range(first, first + 20))
            assert [f["item"]["box"] for f in got] == sent
            assert [opened_text(group, f) for f in got] == texts


async def test_twenty_sockets_send_at_once_and_get_gap_free_seqs(chat, start_shared_server):
    """20 sockets (10 per member) send together after a barrier: every one acked, the seqs
    are the next 20 with no gap and no repeat, and 20 rows are stored."""
    group, alice, bob = chat
    server = start_shared_server("uvicorn")
    first = await last_seq(group) + 1
    bodies = [await database_sync_to_async(group.message)(alice if i % 2 == 0 else bob, f"t{i}")
              for i in range(20)]
    barrier = asyncio.Barrier(20)

    async def one(i):
        async with socket_of(server, alice if i % 2 == 0 else bob) as client:
            await barrier.wait()
            return await client.request({"type": "send2", "conversation": group.hex,
                                         **bodies[i]})

    acks = await asyncio.gather(*(one(i) for i in range(20)))
    assert {a["type"] for a in acks} == {"ack2"}
    assert sorted(a["seq"] for a in acks) == list(range(first, first + 20))
    assert await database_sync_to_async(MessageV2.objects.count)() == 20


async def test_redis_outage_mid_conversation_loses_nothing(chat, start_server):
    """Redis stops mid-conversation: sends are still acked and stored; after Redis is back
    a reconnecting member syncs from its last seq and has every message exactly once, in
    order, then live pushes resume."""
    group, alice, bob = chat
    own = OwnRedis(free_port()).start()
    try:
        server = start_server("uvicorn", REDIS_URL=own.url)
        base = await last_seq(group)
        async with socket_of(server, alice) as a:
            async with socket_of(server, bob) as b:
                for client in (a, b):
                    await synced(client, {group.hex: base})
                for i in range(3):
                    body = await database_sync_to_async(group.message)(alice, f"before {i}")
                    await a.request({"type": "send2", "conversation": group.hex, **body})
                await b.until_messages(group.hex, 3, frame_type="message2")  # via Redis
            own.stop()
            for i in range(5):
                body = await database_sync_to_async(group.message)(alice, f"during {i}")
                ack = await a.request({"type": "send2", "conversation": group.hex, **body})
                assert (ack["type"], ack["seq"]) == ("ack2", base + 4 + i)
        assert await database_sync_to_async(MessageV2.objects.count)() == 8
        own.start()
        async with socket_of(server, bob) as b:
            await synced(b, {group.hex: base + 3})
            async with socket_of(server, alice) as a:
                await synced(a, {group.hex: base + 8})
                body = await database_sync_to_async(group.message)(alice, "after")
                await a.request({"type": "send2", "conversation": group.hex, **body})
                got = await b.until_messages(group.hex, 6, frame_type="message2")
        assert [f["item"]["seq"] for f in got] == list(range(base + 4, base + 10))
        assert [opened_text(group, f) for f in got] == [f"during {i}" for i in range(5)] + ["after"]
    finally:
        own.stop()


async def test_a_server_restart_mid_conversation_loses_nothing_acked(chat, start_server):
    """The server process is SIGKILLed and started again between sends: everything acked
    before the kill is there after it, the seqs continue without a gap, and a member that
    was offline catches up exactly once, in order."""
    group, alice, bob = chat
    server = start_server("uvicorn")
    base = await last_seq(group)
    async with socket_of(server, alice) as a:
        await synced(a, {group.hex: base})
        for i in range(4):
            body = await database_sync_to_async(group.message)(alice, f"first life {i}")
            assert (await a.request({"type": "send2", "conversation": group.hex,
                                     **body}))["seq"] == base + 1 + i
    server.kill()  # SIGKILL: no shutdown code runs, like a power cut
    server.start()
    async with socket_of(server, alice) as a:
        await synced(a, {group.hex: base + 4})
        body = await database_sync_to_async(group.message)(alice, "second life")
        ack = await a.request({"type": "send2", "conversation": group.hex, **body})
        assert (ack["type"], ack["seq"]) == ("ack2", base + 5)
    async with socket_of(server, bob) as b:
        await synced(b, {group.hex: base})
        got = b.messages(group.hex, "message2")
    assert [f["item"]["seq"] for f in got] == list(range(base + 1, base + 6))
    assert [opened_text(group, f) for f in got] == [f"first life {i}" for i in range(4)] + [
        "second life"]


async def test_bench_echo_route_exists_only_with_its_environment_variable(start_shared_server):
    """Without SECURECHAT_BENCH_ECHO the echo URL is refused; with it, frames echo back."""
    plain = start_shared_server("uvicorn")
    with pytest.raises(Exception):  # noqa: B017 - refused handshake or immediate close
        async with ws_connect(plain.ws_url + "bench-echo/room/", plain.origin) as ws:
            await ws.send("hello")
            await asyncio.wait_for(ws.recv(), 5)
    bench = start_shared_server("uvicorn", SECURECHAT_BENCH_ECHO="1")
    async with ws_connect(bench.ws_url + "bench-echo/room/", bench.origin) as ws:
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), 5) == "hello"
