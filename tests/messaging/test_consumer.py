"""The websocket consumer in-process: live delivery, sync, acks, heartbeats (DESIGN.md §5)."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from messaging.actions import do_send_message
from messaging.models import Message
from tests.messaging.wsclient import ChatClient
from tests.support.accounts import session_for


async def connected(test_user) -> ChatClient:
    session = await database_sync_to_async(session_for)(test_user)
    return await ChatClient(session).connect()


async def test_two_sockets_exchange_messages_decrypted_in_order_exactly_once(pair):
    """Alice and Bob, each on a socket, alternate 10 messages: each side gets all 10 in seq
    order, decrypted and valid, each exactly once, and every send is acked with its seq."""
    alice, bob = await connected(pair.alice), await connected(pair.bob)
    cid = pair.conversation_id
    for client in (alice, bob):
        assert (await client.request({"type": "sync", "since": {}}))["type"] == "synced"
    texts = [f"message {i} ünïcode ✓" for i in range(10)]
    for i, text in enumerate(texts):
        sender = alice if i % 2 == 0 else bob
        ack = await sender.request({"type": "send", "conversation": cid, "text": text,
                                    "client_id": f"c{i}"})
        assert ack["type"] == "ack" and ack["seq"] == i + 1 and ack["conversation"] == cid
    for client in (alice, bob):
        got = await client.messages(cid, 10)
        await client.quiet(0.3)
        got = [f for f in client.frames if f["type"] == "message"]
        assert [f["seq"] for f in got] == list(range(1, 11))
        assert [f["text"] for f in got] == texts
        assert {f["signature"] for f in got} == {"valid"}
    await alice.close()
    await bob.close()


async def test_retried_client_id_stores_one_message_with_the_same_id_and_seq(pair):
    """Sending the same client_id twice acks twice with one id and seq; one row, one frame."""
    alice, bob = await connected(pair.alice), await connected(pair.bob)
    await bob.request({"type": "sync", "since": {}})
    frame = {"type": "send", "conversation": pair.conversation_id, "text": "only once",
             "client_id": "retry-me"}
    first, second = await alice.request(frame), await alice.request(frame)
    assert (first["id"], first["seq"]) == (second["id"], second["seq"])
    assert await database_sync_to_async(Message.objects.count)() == 1
    await bob.messages(pair.conversation_id, 1)
    await bob.quiet(0.3)
    assert len([f for f in bob.frames if f["type"] == "message"]) == 1
    await alice.close()
    await bob.close()


async def test_live_delivery_arrives_without_a_sync_replay(pair, settings):
    """After the initial sync a new message reaches the other socket as a live push, well
    before the next heartbeat, and no further synced frame is involved."""
    settings.SECURECHAT_WS_HEARTBEAT_SECONDS = 30
    alice, bob = await connected(pair.alice), await connected(pair.bob)
    await bob.request({"type": "sync", "since": {}})
    synced_before = len([f for f in bob.frames if f["type"] == "synced"])
    await alice.request({"type": "send", "conversation": pair.conversation_id, "text": "live",
                         "client_id": "x"})
    frame = await bob.wait_for(lambda f: f["type"] == "message", timeout=5)
    assert frame["text"] == "live"
    assert [f["type"] for f in bob.frames].count("heartbeat") == 0
    assert len([f for f in bob.frames if f["type"] == "synced"]) == synced_before
    await alice.close()
    await bob.close()


async def test_client_away_for_500_messages_gets_them_all_in_order_on_sync(pair):
    """500 messages sent while Bob is offline arrive on his next sync, in order, once each."""
    a = pair.alice

    def send_many():
        for i in range(500):
            do_send_message(a.user, a.identity_file, pair.conversation_id, f"m{i}", f"c{i}")

    await database_sync_to_async(send_many)()
    bob = await connected(pair.bob)
    synced = await bob.request({"type": "sync", "since": {}}, )
    assert synced["last_seqs"] == {str(pair.conversation_id): 500}
    got = [f for f in bob.frames if f["type"] == "message"]
    assert [f["seq"] for f in got] == list(range(1, 501))
    assert [f["text"] for f in got] == [f"m{i}" for i in range(500)]
    # since: only what is newer than the client's position is replayed.
    bob.frames.clear()
    await bob.request({"type": "sync", "since": {str(pair.conversation_id): 498}})
    assert [f["seq"] for f in bob.frames if f["type"] == "message"] == [499, 500]
    await bob.close()


async def test_dropped_live_pushes_are_noticed_by_heartbeat_and_recovered(pair, settings):
    """Bob's socket silently loses its group subscription: messages keep being acked but are
    not pushed to him; within one heartbeat he sees last_seqs ahead of him, re-syncs and has
    every message in order, once."""
    settings.SECURECHAT_WS_HEARTBEAT_SECONDS = 0.5
    from channels.layers import get_channel_layer

    from accounts.events import user_group

    alice, bob = await connected(pair.alice), await connected(pair.bob)
    cid = pair.conversation_id
    await bob.request({"type": "sync", "since": {}})
    await alice.request({"type": "send", "conversation": cid, "text": "m0", "client_id": "0"})
    await bob.messages(cid, 1)
    # Drop Bob's subscription, the way a full or restarted layer loses pushes.
    consumer_channels = [c for c in get_channel_layer()._get_layer().channels]
    layer = get_channel_layer()
    for channel in consumer_channels:
        await layer.group_discard(user_group(pair.bob.user.pk), channel)
    for i in range(1, 6):
        await alice.request({"type": "send", "conversation": cid, "text": f"m{i}",
                             "client_id": str(i)})
    assert len([f for f in bob.frames if f["type"] == "message"]) == 1
    # The first heartbeat computed after the last commit shows seq 6 (ahead of Bob's 1).
    heartbeat = await bob.wait_for(
        lambda f: f["type"] == "heartbeat" and f["last_seqs"].get(str(cid)) == 6, timeout=3)
    last_seen = max(f["seq"] for f in bob.frames if f["type"] == "message")
    assert heartbeat["last_seqs"][str(cid)] == 6 > last_seen
    await bob.request({"type": "sync", "since": {str(cid): last_seen}})
    got = [f for f in bob.frames if f["type"] == "message"]
    assert [f["seq"] for f in got] == [1, 2, 3, 4, 5, 6]
    assert [f["text"] for f in got] == [f"m{i}" for i in range(6)]
    await alice.close()
    await bob.close()


@pytest.mark.parametrize("stage", ["otp", None])
async def test_socket_without_an_unlocked_identity_is_closed_4401(transactional_db, stage):
    """Half-logged-in (code pending) or no session at all: accepted, then closed 4401."""
    from tests.support.accounts import make_user

    if stage is None:
        client = ChatClient(cookie_header="")
    else:
        user = await database_sync_to_async(make_user)()
        session = await database_sync_to_async(session_for)(user, stage)
        client = ChatClient(session)
    await client.connect()
    assert await client.closed_with() == 4401


async def test_wrong_key_cookie_is_closed_4401(pair):
    """A valid session with someone else's key secret cannot unlock: closed 4401."""
    s1 = await database_sync_to_async(session_for)(pair.alice)
    s2 = await database_sync_to_async(session_for)(pair.bob)
    forged = s1.cookie_header.replace(s1.key_secret, s2.key_secret)
    client = await ChatClient(cookie_header=forged).connect()
    assert await client.closed_with() == 4401
    await asyncio.sleep(0)
