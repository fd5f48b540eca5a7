"""The ``sync2`` frame: every v2 timeline entry after the client's positions, in seq order,
then ``synced2``; with the live ``message2`` pushes that follow, a reconnecting client sees
every entry exactly once and in order, also when entries commit while the sync runs."""

from __future__ import annotations

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async

from messaging.models import ConversationV2
from messaging.v2 import socket as v2_socket
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.messaging.wsclient import ChatClient
from tests.support.v2chat import group_of

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def cookie_header(user) -> str:
    return "; ".join(f"{name}={morsel.value}" for name, morsel in user.http.cookies.items())


async def connect(user) -> ChatClient:
    return await ChatClient(cookie_header=cookie_header(user)).connect()


async def sync2(socket: ChatClient, positions: dict) -> dict:
    await socket.send({"type": "sync2", "req_id": "sync", "positions": positions})
    return await socket.wait_for(lambda f: f["type"] == "synced2")


def seqs_of(socket: ChatClient, conversation: str) -> list[int]:
    return [f["item"]["seq"] for f in socket.frames
            if f["type"] == "message2" and f["conversation"] == conversation]


async def last_seq(group) -> int:
    return await database_sync_to_async(
        lambda: ConversationV2.objects.get(pk=group.hex).last_seq)()


async def until_seq(socket: ChatClient, conversation: str, seq: int) -> None:
    await socket.wait_for(lambda f: f["type"] == "message2" and f["conversation"] == conversation
                          and f["item"]["seq"] == seq)


@pytest.fixture
def chat(trio):
    alice, bob, _carol = trio
    return group_of(alice, bob), alice, bob


async def test_sync2_replays_in_order_and_a_reconnect_sees_every_entry_once(chat):
    group, alice, bob = chat
    send = database_sync_to_async(group.send)
    sender, reader = await connect(alice), await connect(bob)
    await sync2(sender, {})
    synced = await sync2(reader, {})
    start = await last_seq(group)
    assert synced["last_seqs"] == {group.hex: start}
    assert seqs_of(reader, group.hex) == list(range(1, start + 1))
    kinds = [f["item"]["type"] for f in reader.frames if f["type"] == "message2"]
    assert kinds[:2] == ["operation", "epoch"]  # from the create on
    for i in range(3):
        assert (await send(alice, f"live {i}")).status_code == 201
    await until_seq(reader, group.hex, start + 3)
    seen = seqs_of(reader, group.hex)
    await reader.close()
    # Offline: two more; then a new socket syncs from the last seq it saw.
    for i in range(2):
        assert (await send(alice, f"offline {i}")).status_code == 201
    again = await connect(bob)
    assert (await sync2(again, {group.hex: seen[-1]}))["last_seqs"] == {group.hex: start + 5}
    assert (await send(alice, "after the sync")).status_code == 201
    await until_seq(again, group.hex, start + 6)
    assert await again.quiet(0.3) == []
    combined = seen + seqs_of(again, group.hex)
    assert combined == list(range(1, start + 7))  # every entry once, in order
    # The sender's own socket also saw each entry once (its sends come back as pushes).
    await until_seq(sender, group.hex, start + 6)
    assert seqs_of(sender, group.hex) == list(range(1, start + 7))
    for socket in (sender, again):
        await socket.close()


async def test_a_client_away_for_500_messages_gets_them_all_in_order_on_sync2(chat):
    """500 messages sent while Bob is offline arrive on his next sync2, in order, once
    each, and open to what Alice sealed; positions replay only what is newer."""
    from tests.messaging.test_v2_live import opened_text

    group, alice, bob = chat
    start = await last_seq(group)

    def send_many():
        for i in range(500):
            assert group.send(alice, f"m{i}").status_code == 201

    await database_sync_to_async(send_many)()
    reader = await connect(bob)
    synced = await sync2(reader, {group.hex: start})
    assert synced["last_seqs"] == {group.hex: start + 500}
    got = [f["item"] for f in reader.frames if f["type"] == "message2"]
    assert [item["seq"] for item in got] == list(range(start + 1, start + 501))
    assert [opened_text(group, {"item": item}) for item in got] == [f"m{i}" for i in range(500)]
    reader.frames.clear()
    await sync2(reader, {group.hex: start + 498})
    assert seqs_of(reader, group.hex) == [start + 499, start + 500]
    await reader.close()


async def test_entries_committed_during_the_sync_arrive_once_after_it(chat, monkeypatch):
    group, alice, bob = chat
    start = await last_seq(group)
    reached, release = threading.Event(), threading.Event()
    original = v2_socket.timeline_between

    def paused(*args, **kwargs):  # the sync read its last seqs and now reads the range
        reached.set()
        assert release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(v2_socket, "timeline_between", paused)
    reader = await connect(bob)
    await reader.send({"type": "sync2", "req_id": "sync", "positions": {group.hex: 1}})
    assert await asyncio.get_running_loop().run_in_executor(None, reached.wait, 10)
    # Two sends commit while the sync holds its positions (another thread: the consumer's
    # database thread is the one paused).
    send = database_sync_to_async(group.send, thread_sensitive=False)
    for i in range(2):
        assert (await send(alice, f"during {i}")).status_code == 201
    await asyncio.sleep(0.2)  # their pushes reach the socket while the sync still runs
    release.set()
    synced = await reader.wait_for(lambda f: f["type"] == "synced2")
    assert synced["last_seqs"] == {group.hex: start}
    await until_seq(reader, group.hex, start + 2)
    assert await reader.quiet(0.3) == []
    assert seqs_of(reader, group.hex) == list(range(2, start + 3))
    order = [f["type"] for f in reader.frames]
    assert order.index("synced2") == start - 1  # replay (2..start), synced2, then pushes
    await reader.close()


async def test_sync2_refuses_bad_positions_by_field(chat):
    group, _alice, bob = chat
    reader = await connect(bob)
    for positions in ([], {group.hex: -1}, {"nothex": 1}, {group.hex: "3"}):
        await reader.send({"type": "sync2", "req_id": "bad", "positions": positions})
        error = await reader.wait_for(lambda f: f.get("req_id") == "bad")
        assert (error["type"], error["field"]) == ("error", "positions")
    await reader.close()


async def test_a_lost_push_is_read_from_the_database_before_the_next_one(chat, monkeypatch):
    group, alice, bob = chat
    reader = await connect(bob)
    await sync2(reader, {})
    start = await last_seq(group)
    from accounts import events

    original, dropped = events._publish_now, []

    def lossy(pushes):  # the first push (to every member) never reaches the layer
        if not dropped:
            dropped.extend(pushes)
            return None
        return original(pushes)

    monkeypatch.setattr(events, "_publish_now", lossy)
    send = database_sync_to_async(group.send)
    assert (await send(alice, "lost push")).status_code == 201
    assert (await send(alice, "next push")).status_code == 201
    await until_seq(reader, group.hex, start + 2)
    assert await reader.quiet(0.3) == []
    assert dropped and seqs_of(reader, group.hex) == list(range(1, start + 3))
    await reader.close()


async def test_dropped_pushes_are_noticed_by_the_heartbeat_and_recovered(chat, settings):
    """Bob's socket silently loses its subscription: Alice's sends are stored and acked
    but never pushed to him; the next heartbeat's last_seqs runs ahead of what he has,
    he re-syncs from his position and has every entry in order, once."""
    settings.SECURECHAT_WS_HEARTBEAT_SECONDS = 0.5
    from channels.layers import get_channel_layer

    from accounts.events import user_group

    group, alice, bob = chat
    reader = await connect(bob)
    await sync2(reader, {})
    send = database_sync_to_async(group.send)
    assert (await send(alice, "pushed")).status_code == 201
    seen = await last_seq(group)
    await until_seq(reader, group.hex, seen)
    layer = get_channel_layer()  # drop Bob's subscription, as a restarted layer loses it
    for channel in list(layer._get_layer().channels):
        await layer.group_discard(user_group(bob.id), channel)
    for i in range(5):
        assert (await send(alice, f"unpushed {i}")).status_code == 201
    assert seqs_of(reader, group.hex)[-1] == seen
    heartbeat = await reader.wait_for(
        lambda f: f["type"] == "heartbeat" and f["last_seqs"].get(group.hex) == seen + 5,
        timeout=3)
    assert heartbeat["last_seqs"][group.hex] > seqs_of(reader, group.hex)[-1]
    await sync2(reader, {group.hex: seen})
    assert seqs_of(reader, group.hex) == list(range(1, seen + 6))
    await reader.close()
