"""Sends from several sockets run on several database threads at once
(``SECURECHAT_DB_SEND_THREADS``, issue 13 "speed") and keep every guarantee: on a live
server, four members of a group pipeline their frames together; the acks hold the seqs
after the group's setup without a gap or a duplicate, each sender's own frames are stored
in the order it sent them, and every member receives every message exactly once, in seq
order.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import connect

from messaging.models import ConversationV2, MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.v2chat import V2User, group_of

pytestmark = [pytest.mark.usefixtures("fresh_rate_limits"), pytest.mark.dbsensitive]

MEMBERS = 4
EACH = 15


def cookie_header(user) -> str:
    return "; ".join(f"{name}={morsel.value}" for name, morsel in user.http.cookies.items())


def setup_group():
    users = [V2User.signup(f"member{i}") for i in range(MEMBERS)]
    group = group_of(*users)
    frames = {u.id: [json.dumps({"type": "send2", "req_id": i, "conversation": group.hex,
                                 **group.message(u, f"{u.id} says {i}")})
                     for i in range(EACH)] for u in users}
    start = ConversationV2.objects.get(pk=group.hex).last_seq
    return users, group, frames, start


async def member(server, user, frames, total: int):
    """Connect, sync2, send every frame without waiting, then read until every ack and
    ``total`` messages are in: ``(acks by req_id, message seqs in arrival order)``."""
    async with connect(server.ws_url, origin=server.origin,
                       additional_headers={"Cookie": cookie_header(user)}) as ws:
        await ws.send(json.dumps({"type": "sync2", "req_id": "sync", "positions": {}}))
        seqs, acks = [], {}
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if frame["type"] == "synced2":
                break
        for text in frames:
            await ws.send(text)
        while len(acks) < len(frames) or len(seqs) < total:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if frame["type"] == "ack2":
                acks[frame["req_id"]] = frame["seq"]
            elif frame["type"] == "message2" and frame["item"]["type"] == "message":
                seqs.append(frame["item"]["seq"])
            elif frame["type"] == "error":
                raise AssertionError(frame)
        return acks, seqs


async def test_sockets_on_several_threads_keep_seqs_gap_free_and_delivery_exact(start_server):
    users, _group, frames, start = await database_sync_to_async(setup_group)()
    server = start_server("uvicorn", SECURECHAT_DB_SEND_THREADS="4",
                          SECURECHAT_WS_HEARTBEAT_SECONDS="600")
    total = MEMBERS * EACH
    results = await asyncio.gather(*(member(server, u, frames[u.id], total) for u in users))
    all_acks = [seq for acks, _ in results for seq in acks.values()]
    assert sorted(all_acks) == list(range(start + 1, start + total + 1))
    for acks, seqs in results:
        assert [acks[i] for i in range(EACH)] == sorted(acks.values())  # sent order kept
        assert seqs == list(range(start + 1, start + total + 1))  # each once, in order
    stored = await database_sync_to_async(
        lambda: list(MessageV2.objects.order_by("seq").values_list("seq", flat=True)))()
    assert stored == list(range(start + 1, start + total + 1))
