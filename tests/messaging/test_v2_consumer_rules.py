"""The websocket's rules, on the version 2 (ciphertext) socket: who may send, read, type
and receive; malformed, binary, oversized and flooding frames; what closes a socket
(logout, deactivation, the periodic re-check); and a channel layer that is down.

Ported from version 1's consumer tests: the same guarantees, with v2 accounts signed up
through the client flow (tests/support/v2chat.py) and ``send2``/``sync2``/``read2``/
``typing2`` frames carrying boxes sealed by ``client/``.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.db import transaction

from accounts.events import close_session_sockets
from messaging.models import Block, MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.messaging.wsclient import ChatClient
from tests.support.v2chat import Group, V2User, group_of

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def cookie_header(user: V2User) -> str:
    return "; ".join(f"{name}={morsel.value}" for name, morsel in user.http.cookies.items())


def session_key(user: V2User) -> str:
    return user.http.cookies[django_settings.SESSION_COOKIE_NAME].value


async def connect(user: V2User, synced: bool = True) -> ChatClient:
    client = await ChatClient(cookie_header=cookie_header(user)).connect()
    if synced:
        assert (await client.request({"type": "sync2", "positions": {}}))["type"] == "synced2"
    return client


async def send2(client: ChatClient, group: Group, sender: V2User, text: str = "hi") -> dict:
    body = await database_sync_to_async(group.message)(sender, text)
    return await client.request({"type": "send2", "conversation": group.hex, **body})


async def count_messages() -> int:
    return await database_sync_to_async(MessageV2.objects.count)()


@pytest.fixture
def chat(trio):
    alice, bob, carol = trio
    return group_of(alice, bob), alice, bob, carol


async def test_non_member_cannot_send_read_type_or_receive(chat):
    """Carol (not a member) gets not_found for send2, read2 and typing2 and receives no
    message2, typing2 or read2 frame of the conversation; members still talk (control)."""
    group, alice, bob, carol = chat
    outsider, a, b = await connect(carol), await connect(alice), await connect(bob)
    body = await database_sync_to_async(group.message)(carol, "not mine")
    for frame in ({"type": "send2", "conversation": group.hex, **body},
                  {"type": "read2", "conversation": group.hex, "seq": 1},
                  {"type": "typing2", "conversation": group.hex}):
        reply = await outsider.request(frame)
        assert (reply["type"], reply["error"]) == ("error", "not_found"), frame
    assert await count_messages() == 0
    assert (await send2(a, group, alice, "members only"))["type"] == "ack2"
    await a.send({"type": "typing2", "conversation": group.hex})
    await b.messages(group.hex, 1)
    await b.wait_for(lambda f: f["type"] == "typing2")
    assert not [f for f in await outsider.quiet(0.5)
                if f["type"] in ("message2", "typing2", "read2")]
    for client in (outsider, a, b):
        await client.close()


async def test_a_block_stops_sends_in_the_direct_conversation_both_ways(trio):
    """After Bob blocks Alice, both get an error frame `blocked` for send2 in their direct
    conversation and nothing is stored; after the unblock, sends are acked again."""
    alice, bob, _carol = trio

    def direct():
        group = Group(alice, [alice])
        assert group.create("direct", peer=bob).status_code == 201
        assert group.append(alice, "add", bob, with_epoch=True).status_code == 201
        return group

    group = await database_sync_to_async(direct)()
    a, b = await connect(alice), await connect(bob)
    await database_sync_to_async(Block.objects.create)(user_id=bob.id, blocked_id=alice.id)
    for client, sender in ((a, alice), (b, bob)):
        reply = await send2(client, group, sender)
        assert (reply["type"], reply["error"]) == ("error", "blocked")
    assert await count_messages() == 0
    await database_sync_to_async(Block.objects.all().delete)()
    assert (await send2(a, group, alice, "unblocked"))["type"] == "ack2"
    for client in (a, b):
        await client.close()


async def test_a_removed_member_receives_no_live_pushes(chat):
    """Alice removes Bob; her later message does not reach Bob's socket (control: it
    reaches another socket of Alice's)."""
    group, alice, bob, _carol = chat
    b, a, a2 = await connect(bob), await connect(alice), await connect(alice)
    assert (await database_sync_to_async(group.append)(alice, "remove", bob)).status_code == 201
    assert (await send2(a, group, alice, "after you left"))["type"] == "ack2"
    await a2.messages(group.hex, 1)
    assert not [f for f in await b.quiet(0.5)
                if f["type"] == "message2" and f["item"]["type"] == "message"]
    for client in (a, a2, b):
        await client.close()


@pytest.mark.parametrize("raw,expected", [
    ("{not json", ("close", 4400)),
    ("[1, 2]", ("close", 4400)),
    ('{"no": "type"}', ("close", 4400)),
    ('{"type": "launch_missiles", "req_id": "r"}', ("error", "unknown_type")),
    ('{"type": "send", "conversation": 1, "text": "x", "client_id": "c", "req_id": 1}',
     ("error", "unknown_type")),  # version 1 frames are gone
    ('{"type": "sync", "since": {}, "req_id": 1}', ("error", "unknown_type")),
    ('{"type": "send2", "conversation": 1, "box": "", "req_id": 1}', ("error", "invalid")),
    ('{"type": "send2", "conversation": "CID", "box": 5, "req_id": 1}', ("error", "invalid")),
    ('{"type": "sync2", "positions": [1], "req_id": 1}', ("error", "invalid")),
    ('{"type": "sync2", "positions": {"abc": 1}, "req_id": 1}', ("error", "invalid")),
    ('{"type": "read2", "conversation": "CID", "seq": -1, "req_id": 1}', ("error", "invalid")),
    ('{"type": "typing2", "conversation": true}', ("error", "invalid")),
    ('{"type": "ping", "req_id": {"x": 1}}', ("error", "invalid")),
])
async def test_malformed_frames_get_a_documented_answer_and_change_nothing(chat, raw, expected):
    """Not-JSON, non-object and typeless frames close 4400; unknown types (version 1's
    among them) and wrong field types get an error frame with a code and a detail; the
    socket stays usable and nothing is stored."""
    group, alice, _bob, _carol = chat
    client = await connect(alice)
    await client.comm.send_to(text_data=raw.replace("CID", group.hex))
    if expected[0] == "close":
        assert await client.closed_with() == expected[1]
    else:
        frame = await client.wait_for(lambda f: f["type"] == "error")
        assert frame["error"] == expected[1] and frame["detail"]
        assert (await client.request({"type": "ping"}))["type"] == "pong"
        await client.close()
    assert await count_messages() == 0


async def test_binary_frame_closes_1003(chat):
    _group, alice, _bob, _carol = chat
    client = await connect(alice)
    await client.comm.send_to(bytes_data=b"\x00\x01")
    assert await client.closed_with() == 1003


async def test_oversized_frame_closes_1009(chat, settings):
    """A frame over the limit closes 1009 and stores nothing; one just under it is read
    (control: its bad box gets an `invalid` answer, not a close)."""
    group, alice, _bob, _carol = chat
    client = await connect(alice)
    limit = settings.SECURECHAT_WS_MAX_FRAME_BYTES
    frame = {"type": "send2", "conversation": group.hex}
    reply = await client.request({**frame, "box": "!" * (limit // 2)})
    assert (reply["type"], reply["error"], reply["field"]) == ("error", "invalid", "box")
    await client.send({**frame, "box": "A" * limit})
    assert await client.closed_with() == 1009
    assert await count_messages() == 0


async def test_flooding_gets_rate_limited_then_closed_4429(chat, settings):
    """Beyond the burst, frames get `rate_limited` errors; a flood that keeps going is closed
    with 4429. A client within the rate is not affected (control)."""
    settings.SECURECHAT_WS_RATE_PER_SECOND = 2
    settings.SECURECHAT_WS_RATE_BURST = 5
    _group, alice, bob, _carol = chat
    polite = await connect(bob, synced=False)
    for _ in range(3):
        assert (await polite.request({"type": "ping"}))["type"] == "pong"
    flood = await connect(alice, synced=False)
    for i in range(60):
        await flood.send({"type": "ping", "req_id": i})
    assert await flood.closed_with() == 4429
    assert any(f.get("error") == "rate_limited" for f in flood.frames)
    assert (await polite.request({"type": "ping"}))["type"] == "pong"
    await polite.close()


async def test_a_socket_without_a_complete_login_is_closed_4401(chat):
    """No cookie, or a session that is only half logged in: closed 4401 at once."""
    from django.contrib.sessions.backends.db import SessionStore

    _group, alice, _bob, _carol = chat
    anonymous = await ChatClient().connect()
    assert await anonymous.closed_with() == 4401

    def half_login():
        from accounts import stages

        store = SessionStore(session_key(alice))
        store[stages.SESSION_STAGE] = "totp"  # a login still waiting for its second factor
        store.save()

    await database_sync_to_async(half_login)()
    half = await ChatClient(cookie_header=cookie_header(alice)).connect()
    assert await half.closed_with() == 4401


async def test_security_close_event_closes_the_session_socket(chat):
    """Logout's after-commit event (accounts.events) closes that session's socket with 4401;
    a socket of another session stays open (control)."""
    _group, alice, _bob, _carol = chat
    other_session = await database_sync_to_async(V2User.signup)("other")
    mine, other = await connect(alice), await connect(other_session)

    def logout():
        with transaction.atomic():
            close_session_sockets(session_key(alice))

    await database_sync_to_async(logout)()
    assert await mine.closed_with() == 4401
    assert (await other.request({"type": "ping"}))["type"] == "pong"
    await other.close()


async def test_deactivation_closes_sockets(chat):
    """accounts.actions.do_deactivate_user closes the user's sockets with 4401."""
    from accounts.actions import do_deactivate_user

    _group, alice, _bob, _carol = chat
    client = await connect(alice)
    await database_sync_to_async(lambda: do_deactivate_user(alice.user))()
    assert await client.closed_with() == 4401


@pytest.mark.parametrize("change", ["deactivate", "delete_session", "password_hash"])
async def test_periodic_recheck_closes_sockets_without_any_event(chat, settings, change):
    """Without any channel-layer event, the periodic re-check notices a deactivated user, a
    deleted session or a changed credential within a few intervals and closes 4401."""
    from django.contrib.sessions.models import Session

    from accounts.models import User

    settings.SECURECHAT_WS_RECHECK_SECONDS = 0.3
    _group, alice, bob, _carol = chat
    a, b = await connect(alice), await connect(bob)

    def apply():
        if change == "deactivate":
            User.objects.filter(pk=alice.id).update(is_active=False)
        elif change == "delete_session":
            Session.objects.filter(session_key=session_key(alice)).delete()
        else:
            User.objects.filter(pk=alice.id).update(password="argon2$changed")

    await database_sync_to_async(apply)()
    assert await a.closed_with(timeout=5) == 4401
    await asyncio.sleep(0.5)
    assert (await b.request({"type": "ping"}))["type"] == "pong"  # control
    await b.close()


async def test_channel_layer_down_at_connect_still_serves_from_the_database(chat, settings):
    """With the channel layer pointing at a dead Redis, the socket is accepted, sends are
    acked and stored, and sync2 replays them."""
    from tests.support.live import free_port

    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{free_port()}/0",
                              "socket_timeout": None}]}}}
    group, alice, _bob, _carol = chat
    client = await connect(alice)
    ack = await send2(client, group, alice, "stored anyway")
    assert ack["type"] == "ack2"
    assert await count_messages() == 1
    client.frames.clear()
    synced = await client.request({"type": "sync2", "positions": {group.hex: ack["seq"] - 1}})
    assert synced["last_seqs"] == {group.hex: ack["seq"]}
    assert [f["item"]["seq"] for f in client.frames if f["type"] == "message2"] == [ack["seq"]]
    await client.close()
