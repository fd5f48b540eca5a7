"""Websocket access rules, malformed frames, limits and socket closure (docs/api.md)."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from accounts.events import close_session_sockets
from messaging.actions import do_block, do_leave_conversation
from messaging.models import Message
from tests.messaging.wsclient import ChatClient
from tests.support.accounts import make_user, session_for


async def connect(test_user, synced=True):
    session = await database_sync_to_async(session_for)(test_user)
    client = await ChatClient(session).connect()
    client.session = session
    if synced:
        assert (await client.request({"type": "sync", "since": {}}))["type"] == "synced"
    return client


def send_frame(cid, text="hi", client_id="c1"):
    return {"type": "send", "conversation": cid, "text": text, "client_id": client_id}


async def count_messages():
    return await database_sync_to_async(Message.objects.count)()


async def test_non_member_cannot_send_type_read_or_receive(pair):
    """Carol (not a member) gets not_found for send/read/typing/accept_key and receives no
    message, typing or read frame of the conversation; members still talk (control)."""
    carol_user = await database_sync_to_async(make_user)()
    carol, alice, bob = await connect(carol_user), await connect(pair.alice), \
        await connect(pair.bob)
    cid = pair.conversation_id
    for frame in (send_frame(cid), {"type": "read", "conversation": cid, "seq": 1},
                  {"type": "typing", "conversation": cid},
                  {"type": "accept_key", "conversation": cid}):
        reply = await carol.request(frame)
        assert (reply["type"], reply["error"]) == ("error", "not_found"), frame
    assert await count_messages() == 0
    assert (await alice.request(send_frame(cid, "members only")))["type"] == "ack"
    await alice.send({"type": "typing", "conversation": cid})
    await bob.wait_for(lambda f: f["type"] == "message")
    await bob.wait_for(lambda f: f["type"] == "typing")
    assert not [f for f in await carol.quiet(0.5)
                if f["type"] in ("message", "typing", "read")]
    for c in (carol, alice, bob):
        await c.close()


async def test_blocked_and_left_members_cannot_send(pair):
    """After a block, sends get an error frame `blocked`; after leaving, `left`; nothing stored."""
    alice = await connect(pair.alice)
    await database_sync_to_async(do_block)(pair.bob.user, pair.alice.email)
    reply = await alice.request(send_frame(pair.conversation_id))
    assert (reply["type"], reply["error"]) == ("error", "blocked")
    await database_sync_to_async(do_leave_conversation)(pair.alice.user, pair.conversation_id)
    reply = await alice.request(send_frame(pair.conversation_id, client_id="c2"))
    assert (reply["type"], reply["error"]) == ("error", "left")
    assert await count_messages() == 0
    await alice.close()


async def test_left_member_receives_no_live_pushes(pair):
    """Bob leaves; Alice's later message does not reach Bob's socket (control: it reaches
    another socket of Alice)."""
    bob = await connect(pair.bob)
    alice, alice2 = await connect(pair.alice), await connect(pair.alice)
    await database_sync_to_async(do_leave_conversation)(pair.bob.user, pair.conversation_id)
    reply = await alice.request(send_frame(pair.conversation_id, "after you left"))
    assert reply["type"] == "ack"
    await alice2.wait_for(lambda f: f["type"] == "message")
    assert not [f for f in await bob.quiet(0.5) if f["type"] == "message"]
    for c in (alice, alice2, bob):
        await c.close()


@pytest.mark.parametrize("raw,expected", [
    ("{not json", ("close", 4400)),
    ("[1, 2]", ("close", 4400)),
    ('{"no": "type"}', ("close", 4400)),
    ('{"type": "launch_missiles", "req_id": "r"}', ("error", "unknown_type")),
    ('{"type": "send", "conversation": "1", "text": "x", "client_id": "c", "req_id": 1}',
     ("error", "invalid")),
    ('{"type": "send", "conversation": 1, "text": 5, "client_id": "c", "req_id": 1}',
     ("error", "invalid")),
    ('{"type": "send", "conversation": 1, "text": "x", "client_id": null, "req_id": 1}',
     ("error", "invalid")),
    ('{"type": "sync", "since": [1], "req_id": 1}', ("error", "invalid")),
    ('{"type": "sync", "since": {"abc": 1}, "req_id": 1}', ("error", "invalid")),
    ('{"type": "read", "conversation": 1, "seq": -1, "req_id": 1}', ("error", "invalid")),
    ('{"type": "typing", "conversation": true}', ("error", "invalid")),
    ('{"type": "sync", "req_id": {"x": 1}}', ("error", "invalid")),
])
async def test_malformed_frames_get_a_documented_answer_and_change_nothing(pair, raw,
                                                                         expected):
    """Not-JSON/non-object/typeless frames close 4400; unknown types and wrong field types get
    an error frame with a code and a detail; the socket stays usable and nothing is stored."""
    alice = await connect(pair.alice)
    raw = raw.replace('"conversation": 1', f'"conversation": {pair.conversation_id}')
    await alice.comm.send_to(text_data=raw)
    if expected[0] == "close":
        assert await alice.closed_with() == expected[1]
    else:
        frame = await alice.wait_for(lambda f: f["type"] == "error")
        assert frame["error"] == expected[1] and frame["detail"]
        assert (await alice.request({"type": "ping"}))["type"] == "pong"
        await alice.close()
    assert await count_messages() == 0


async def test_binary_frame_closes_1003(pair):
    """A binary frame closes the socket with 1003."""
    alice = await connect(pair.alice)
    await alice.comm.send_to(bytes_data=b"\x00\x01")
    assert await alice.closed_with() == 1003


async def test_oversized_frame_closes_1009_and_long_text_gets_too_big(pair):
    """A frame over 64 KiB closes 1009; a 20 KB text in a smaller frame gets `too_big`."""
    alice = await connect(pair.alice)
    reply = await alice.request(send_frame(pair.conversation_id, "é" * 10_000))
    assert (reply["type"], reply["error"]) == ("error", "too_big")
    await alice.send(send_frame(pair.conversation_id, "x" * (64 * 1024)))
    assert await alice.closed_with() == 1009
    assert await count_messages() == 0


async def test_flooding_gets_rate_limited_then_closed_4429(pair, settings):
    """Beyond the burst, frames get `rate_limited` errors; a flood that keeps going is closed
    with 4429. A client within the rate is not affected (control)."""
    settings.SECURECHAT_WS_RATE_PER_SECOND = 2
    settings.SECURECHAT_WS_RATE_BURST = 5
    polite = await connect(pair.bob, synced=False)
    for _ in range(3):
        assert (await polite.request({"type": "ping"}))["type"] == "pong"
    flood = await connect(pair.alice, synced=False)
    for i in range(60):
        await flood.send({"type": "ping", "req_id": i})
    code = await flood.closed_with()
    assert code == 4429
    assert any(f.get("error") == "rate_limited" for f in flood.frames)
    assert (await polite.request({"type": "ping"}))["type"] == "pong"
    await polite.close()


async def test_security_close_event_closes_the_session_socket(pair):
    """Logout's after-commit event (accounts.events) closes that session's socket with 4401;
    a socket of another session stays open (control)."""
    alice, other = await connect(pair.alice), await connect(pair.alice)

    def logout():
        with transaction.atomic():
            close_session_sockets(alice.session.session_key)

    await database_sync_to_async(logout)()
    assert await alice.closed_with() == 4401
    assert (await other.request({"type": "ping"}))["type"] == "pong"
    await other.close()


async def test_password_change_closes_other_sockets(pair):
    """accounts.actions.do_change_password ends the user's other sessions: their sockets close."""
    from accounts.actions import do_change_password

    alice = await connect(pair.alice)
    await database_sync_to_async(do_change_password)(
        pair.alice.user, pair.alice.identity_file, "a brand new passphrase 42",
        keep_session_key=None)
    assert await alice.closed_with() == 4401


async def test_deactivation_closes_sockets(pair):
    """accounts.actions.do_deactivate_user closes the user's sockets with 4401."""
    from accounts.actions import do_deactivate_user

    alice = await connect(pair.alice)
    await database_sync_to_async(do_deactivate_user)(pair.alice.user)
    assert await alice.closed_with() == 4401


@pytest.mark.parametrize("change", ["deactivate", "delete_session", "password_hash"])
async def test_periodic_recheck_closes_sockets_without_any_event(pair, settings, change):
    """Without any channel-layer event, the periodic re-check notices a deactivated user, a
    deleted session or a changed password within a few intervals and closes 4401."""
    from django.contrib.sessions.models import Session

    from accounts.models import User

    settings.SECURECHAT_WS_RECHECK_SECONDS = 0.3
    alice = await connect(pair.alice)
    bob = await connect(pair.bob)

    def apply():
        if change == "deactivate":
            User.objects.filter(pk=pair.alice.user.pk).update(is_active=False)
        elif change == "delete_session":
            Session.objects.filter(session_key=alice.session.session_key).delete()
        else:
            User.objects.filter(pk=pair.alice.user.pk).update(password="argon2$changed")

    await database_sync_to_async(apply)()
    assert await alice.closed_with(timeout=5) == 4401
    await asyncio.sleep(0.5)
    assert (await bob.request({"type": "ping"}))["type"] == "pong"  # control
    await bob.close()


async def test_channel_layer_down_at_connect_still_serves_from_the_database(pair, settings):
    """With the channel layer pointing at a dead Redis, the socket is accepted, sync works and
    sends are acked and stored."""
    from tests.support.live import free_port

    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{free_port()}/0",
                              "socket_timeout": None}]}}}
    alice = await connect(pair.alice)
    ack = await alice.request(send_frame(pair.conversation_id, "stored anyway"))
    assert ack["type"] == "ack" and ack["seq"] == 1
    assert await count_messages() == 1
    alice.frames.clear()
    synced = await alice.request({"type": "sync", "since": {}})
    assert synced["last_seqs"] == {str(pair.conversation_id): 1}
    assert [f["text"] for f in alice.frames if f["type"] == "message"] == ["stored anyway"]
    await alice.close()


async def test_typing_and_read_receipts_reach_the_other_member(pair):
    """typing is relayed to the other member (not echoed back); read moves the position and
    sends a read receipt to the other member."""
    alice, bob = await connect(pair.alice), await connect(pair.bob)
    cid = pair.conversation_id
    await alice.request(send_frame(cid, "read me"))
    await alice.send({"type": "typing", "conversation": cid})
    typing = await bob.wait_for(lambda f: f["type"] == "typing")
    assert typing == {"type": "typing", "conversation": cid, "user": pair.alice.user.pk,
                      "_seen": True}
    ack = await bob.request({"type": "read", "conversation": cid, "seq": 1})
    assert ack["seq"] == 1
    receipt = await alice.wait_for(lambda f: f["type"] == "read")
    assert (receipt["user"], receipt["seq"]) == (pair.bob.user.pk, 1)
    assert not [f for f in alice.frames if f["type"] == "typing"]
    for c in (alice, bob):
        await c.close()


async def test_key_change_frame_and_accept_key(pair):
    """After Bob's keys are replaced without endorsement, Alice's sync shows key_change, her
    send gets `key_changed`, accept_key acks and the next send is acked."""
    from django.conf import settings as dj_settings

    from accounts.identity import IdentityFile
    from accounts.models import KeyGeneration

    alice = await connect(pair.alice)
    assert (await alice.request(send_frame(pair.conversation_id, "pin")))["type"] == "ack"
    other = IdentityFile.create(dj_settings.SECURECHAT_KEY_TYPE)
    await database_sync_to_async(KeyGeneration.objects.filter(user=pair.bob.user).update)(
        recipient=str(other.recipient()))
    alice.frames.clear()
    await alice.request({"type": "sync", "since": {str(pair.conversation_id): 1}})
    change = [f for f in alice.frames if f["type"] == "key_change"]
    assert change and change[0]["contact"] == pair.bob.user.pk
    reply = await alice.request(send_frame(pair.conversation_id, "x", "c2"))
    assert reply["error"] == "key_changed" and reply["contacts"] == [pair.bob.user.pk]
    accepted = await alice.request({"type": "accept_key", "conversation": pair.conversation_id})
    assert accepted["accepted"] == [pair.bob.user.pk]
    assert (await alice.request(send_frame(pair.conversation_id, "y", "c3")))["type"] == "ack"
    await alice.close()
