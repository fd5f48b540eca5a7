"""Version 2 limits and pushes: epoch rate limit, body limits sized for the member limit,
and after-commit pushes of ids and ciphertext to members' user groups only."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.test import override_settings

from accounts.events import user_group
from client import epochs
from securechat.body_limits import body_limit_for
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.v2chat import group_of, post_json, snapshot

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def test_epochs_are_rate_limited_per_member(trio):
    alice, bob, _ = trio
    group = group_of(alice, bob)  # two epochs by Alice already counted
    limits = {**settings.SECURECHAT_RATE_LIMITS, "epoch_account": (3, 300)}
    with override_settings(SECURECHAT_RATE_LIMITS=limits):
        assert group.new_epoch(alice).status_code == 201
        before = snapshot()
        refused = post_json(alice.http, group.url("epochs"),
                            group.make_epoch(alice, group.members).json())
        assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
        assert snapshot() == before
        assert group.new_epoch(bob).status_code == 201  # per member


def test_body_limits_take_an_envelope_at_the_member_limit():
    members = settings.SECURECHAT_V2_MEMBER_LIMIT
    envelope = epochs.max_envelope_size(members)
    statement = 300 + members * epochs.ENTRY_SIZE
    body = json.dumps({"envelope": base64.b64encode(bytes(envelope)).decode(),
                       "statement": base64.b64encode(bytes(statement)).decode(),
                       "signature": base64.b64encode(bytes(64)).decode(),
                       "operation": {"statement": base64.b64encode(bytes(400)).decode(),
                                     "signature": base64.b64encode(bytes(64)).decode()}})
    conversation = "0" * 32
    for path in ("/api/v1/v2/conversations", f"/api/v1/v2/conversations/{conversation}/members",
                 f"/api/v1/v2/conversations/{conversation}/epochs"):
        assert body_limit_for(path) >= len(body) + 100, path
    message = json.dumps({"box": base64.b64encode(bytes(49152)).decode(),
                          "statement": base64.b64encode(bytes(400)).decode(),
                          "signature": base64.b64encode(bytes(64)).decode()})
    limit = body_limit_for(f"/api/v1/v2/conversations/{conversation}/messages")
    assert len(message) < limit < len(message) * 2


def test_pushes_reach_members_only_after_commit_with_ciphertext(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob)
    body = group.message(bob, "pushed")

    async def scenario():
        layer = get_channel_layer()
        inboxes = {}
        for user in (alice, carol):
            inboxes[user.id] = await layer.new_channel()
            await layer.group_add(user_group(user.id), inboxes[user.id])
        sent = await sync_to_async(post_json)(bob.http, group.url("messages"), body)
        assert sent.status_code == 201
        event = await asyncio.wait_for(layer.receive(inboxes[alice.id]), 5)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(inboxes[carol.id]), 0.5)
        return event

    # async_to_sync: the request's database work runs on this thread's connection.
    event = async_to_sync(scenario)()
    assert event["type"] == "chat.v2" and event["conversation"] == group.hex
    item = event["item"]
    assert (item["type"], item["box"], item["statement"]) == ("message", body["box"],
                                                              body["statement"])
    assert b"pushed" not in json.dumps(event).encode()
