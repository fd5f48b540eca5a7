"""Version 2 sockets: a client-custody login gets a socket that takes ``send2`` and receives
``message2`` (ciphertext pushed after commit); version 1 frames are unknown there."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from messaging.models import MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.messaging.wsclient import ChatClient
from tests.support.v2chat import group_of

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def cookie_header(user) -> str:
    return "; ".join(f"{name}={morsel.value}" for name, morsel in user.http.cookies.items())


async def synced_sockets(*users) -> dict[int, ChatClient]:
    """A connected socket per user, each past its first sync2 (live pushes start there)."""
    sockets = {u.id: await ChatClient(cookie_header=cookie_header(u)).connect() for u in users}
    for socket in sockets.values():
        await socket.send({"type": "sync2", "req_id": "sync", "positions": {}})
        await socket.wait_for(lambda f: f["type"] == "synced2")
    return sockets


@pytest.fixture
def chat(trio):
    alice, bob, carol = trio
    return group_of(alice, bob), alice, bob, carol


async def test_send2_is_acked_after_commit_and_members_get_message2(chat):
    group, alice, bob, carol = chat
    sockets = await synced_sockets(alice, bob, carol)
    body = await database_sync_to_async(group.message)(bob, "over the socket")
    await sockets[bob.id].send({"type": "send2", "req_id": "s1", "conversation": group.hex,
                                **body})
    ack = await sockets[bob.id].wait_for(lambda f: f.get("req_id") == "s1")
    assert ack["type"] == "ack2" and ack["created"] and ack["conversation"] == group.hex
    pushed = await sockets[alice.id].wait_for(
        lambda f: f["type"] == "message2" and f["item"]["type"] == "message")
    assert pushed["conversation"] == group.hex
    assert (pushed["item"]["seq"], pushed["item"]["box"]) == (ack["seq"], body["box"])
    # A retried frame (lost ack) gets the same seq and stores nothing new.
    await sockets[bob.id].send({"type": "send2", "req_id": "s2", "conversation": group.hex,
                                **body})
    again = await sockets[bob.id].wait_for(lambda f: f.get("req_id") == "s2")
    assert (again["type"], again["seq"], again["created"]) == ("ack2", ack["seq"], False)
    assert await database_sync_to_async(MessageV2.objects.count)() == 1
    # Carol is no member: a 404 error frame, and no push reached her.
    await sockets[carol.id].send({"type": "send2", "req_id": "c1", "conversation": group.hex,
                                  **body})
    refused = await sockets[carol.id].wait_for(lambda f: f.get("req_id") == "c1")
    assert refused["type"] == "error" and refused["error"] == "not_found"
    assert not [f for f in sockets[carol.id].frames if f["type"] == "message2"]
    for socket in sockets.values():
        await socket.comm.disconnect()


async def test_a_v2_socket_refuses_v1_frames_and_bad_input_by_field(chat):
    group, alice, _bob, _carol = chat
    socket = await ChatClient(cookie_header=cookie_header(alice)).connect()
    await socket.send({"type": "send", "req_id": "v1", "conversation": 1, "text": "x",
                       "client_id": "a"})
    refused = await socket.wait_for(lambda f: f.get("req_id") == "v1")
    assert refused["error"] == "unknown_type"
    body = await database_sync_to_async(group.message)(alice, "x")
    await socket.send({"type": "send2", "req_id": "b1", "conversation": group.hex,
                       **body, "box": "not base64!"})
    bad = await socket.wait_for(lambda f: f.get("req_id") == "b1")
    assert (bad["error"], bad["field"]) == ("invalid", "box")
    pong = await socket.request({"type": "ping"})
    assert pong["type"] == "pong"
    await socket.comm.disconnect()


async def test_read_positions_and_typing_reach_the_other_members_live(chat):
    """read2 moves the reader's position (answered to the reader, pushed to every member:
    receipts move without a reload); typing2 reaches the others, not the typist, at most
    once a second; a non-member's typing2 is the same 404 as an unknown conversation."""
    group, alice, bob, carol = chat
    sockets = await synced_sockets(alice, bob, carol)
    sent = await database_sync_to_async(group.send)(alice, "read me")
    seq = sent.json()["items"][0]["seq"]
    await sockets[bob.id].send({"type": "read2", "req_id": "r1", "conversation": group.hex,
                                "seq": seq})
    answer = await sockets[bob.id].wait_for(lambda f: f.get("req_id") == "r1")
    assert (answer["type"], answer["user"], answer["seq"]) == ("read2", bob.id, seq)
    pushed = await sockets[alice.id].wait_for(lambda f: f["type"] == "read2")
    assert (pushed["conversation"], pushed["user"], pushed["seq"]) == (group.hex, bob.id, seq)
    for _ in range(3):  # a burst: one relayed
        await sockets[alice.id].send({"type": "typing2", "conversation": group.hex})
    typing = await sockets[bob.id].wait_for(lambda f: f["type"] == "typing2")
    assert (typing["conversation"], typing["user"]) == (group.hex, alice.id)
    assert [f for f in await sockets[bob.id].quiet(0.3) if f["type"] == "typing2"] == []
    assert not [f for f in sockets[alice.id].frames if f["type"] == "typing2"]
    await sockets[carol.id].send({"type": "typing2", "req_id": "t1", "conversation": group.hex})
    refused = await sockets[carol.id].wait_for(lambda f: f.get("req_id") == "t1")
    assert refused["type"] == "error" and refused["error"] == "not_found"
    assert not [f for f in sockets[carol.id].frames if f["type"] in ("read2", "typing2")]
    for socket in sockets.values():
        await socket.comm.disconnect()


async def test_a_new_key_generation_is_pushed_to_contacts_and_the_owner(chat):
    """However a generation appears (rotation, reset), members of the owner's v2
    conversations and the owner's own sockets get key_change2 at once; a user who
    shares no conversation with the owner gets nothing."""
    from accounts.models import KeyGeneration

    group, alice, bob, carol = chat
    sockets = await synced_sockets(alice, bob, carol)

    def rotate(user) -> int:
        current = KeyGeneration.objects.current_for(user.user)
        KeyGeneration.objects.filter(pk=current.pk).update(retired_at=current.created_at)
        return KeyGeneration.objects.create(
            user=user.user, number=current.number + 1, key_type=current.key_type,
            recipient=current.recipient, signing_public_key=current.signing_public_key).number

    generation = await database_sync_to_async(rotate)(bob)
    for user in (alice, bob):
        frame = await sockets[user.id].wait_for(lambda f: f["type"] == "key_change2")
        assert (frame["user"], frame["generation"]) == (bob.id, generation)
    assert not [f for f in await sockets[carol.id].quiet(0.3) if f["type"] == "key_change2"]
    # Positive control: once Carol shares a conversation with Bob, she hears of his next one.
    await database_sync_to_async(group_of)(carol, bob)
    generation = await database_sync_to_async(rotate)(bob)
    frame = await sockets[carol.id].wait_for(lambda f: f["type"] == "key_change2")
    assert (frame["user"], frame["generation"]) == (bob.id, generation)
    for socket in sockets.values():
        await socket.comm.disconnect()
