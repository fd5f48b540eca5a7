"""Live pushes of messaging, sent after commit to each member's user group.

Group names come from ``accounts.events.user_group`` only. Payloads carry ids,
seqs and at most ciphertext (a timeline item as members fetch it: a sealed box and
its signed statement); never plaintext or keys, which the server does not have.
Pushes are best effort: a failure is logged without content and never fails
the action (clients notice a gap through heartbeats and re-sync).

Event types (made by ``messaging.v2.actions``, handled by
``messaging.consumers.ChatConsumer``): ``chat.v2`` (a timeline item), the read,
typing and key-generation events beside it, and ``security.close`` from accounts.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from accounts.events import user_group
from messaging.metrics import CHANNEL_LAYER_ERRORS

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 2.0

# Set by async callers (the websocket consumer) to their event loop: pushes are
# then scheduled on it without waiting, so a slow or absent Redis never delays
# the ack. Elsewhere (HTTP views, commands) the push runs before returning.
publish_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = (
    contextvars.ContextVar("messaging_publish_loop", default=None))
_pending: set = set()


async def publish(pushes: list[tuple[str, dict]]) -> None:
    """The pushes of each group in their order, the groups all at once: the tenth member
    of a group waits for one Redis round trip, not for the nine before it."""
    layer = get_channel_layer()
    if layer is None:
        return
    by_group: dict[str, list[dict]] = {}
    for group, event in pushes:
        by_group.setdefault(group, []).append(event)

    async def push(group, events):
        for event in events:
            try:
                await asyncio.wait_for(layer.group_send(group, event),
                                       PUBLISH_TIMEOUT_SECONDS)
            except Exception:  # noqa: BLE001 - best effort, the database is the record
                logger.warning("live push of %s failed; clients catch up by sync",
                               event["type"])
                CHANNEL_LAYER_ERRORS.labels("publish").inc()

    await asyncio.gather(*(push(group, events) for group, events in by_group.items()))


def _publish_now(pushes) -> None:
    loop = publish_loop.get()
    if loop is not None and loop.is_running():
        try:
            future = asyncio.run_coroutine_threadsafe(publish(pushes), loop)
        except RuntimeError:  # the loop is closing
            logger.warning("live push skipped: the event loop is closing")
            return
        _pending.add(future)
        future.add_done_callback(_pending.discard)
        return
    try:
        async_to_sync(publish)(pushes)
    except Exception:  # noqa: BLE001
        logger.warning("live push failed; clients catch up by sync")


def push_after_commit(user_ids, event: dict) -> None:
    """After the current transaction commits, send ``event`` to each user's group."""
    pushes = [(user_group(uid), event) for uid in sorted(set(user_ids))]
    transaction.on_commit(lambda: _publish_now(pushes))
