"""Live pushes over the channel layer, for every app: the one ``push_after_commit``.

Every websocket consumer joins ``user_group(user_id)`` (all of a user's sockets) and
``session_group(session_key)`` (the sockets of one login), by these helpers only.
Actions push after their transaction commits: messaging its timeline items, reads,
typing and key changes (``push_to_users_after_commit``), accounts ``security.close``
(``close_user_sockets``, ``close_session_sockets``), which the consumer answers by
closing with the code it carries. Payloads carry ids, seqs and at most ciphertext;
never plaintext or keys, which the server does not have.

Pushes are best effort: a failure is logged without content and never fails the
action (clients notice a gap through heartbeats and re-sync; a consumer re-checks its
session periodically, so a lost close is late by at most one check interval).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from accounts.metrics import CHANNEL_LAYER_ERRORS

logger = logging.getLogger(__name__)

CLOSE_LOGGED_OUT = 4401
# The pub/sub layer waits without limit on a stalled Redis (socket_timeout is
# None, docs/benchmarks.md "Channel layer"); a push must never hold up the
# request that caused it.
PUSH_TIMEOUT_SECONDS = 2.0

# Set by async callers (the websocket consumer) to their event loop: pushes are
# then scheduled on it without waiting, so a slow or absent Redis never delays
# the ack. Elsewhere (HTTP views, commands) the push runs before returning.
publish_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = (
    contextvars.ContextVar("publish_loop", default=None))
_pending: set = set()


def user_group(user_id) -> str:
    return f"user.{int(user_id)}"


def session_group(session_key: str) -> str:
    # Group names travel through Redis: a hash, never the session key itself.
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


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
                await asyncio.wait_for(layer.group_send(group, event), PUSH_TIMEOUT_SECONDS)
            except Exception:  # noqa: BLE001 - best effort, the database is the record
                logger.warning("live push of %s failed (best effort)", event["type"])
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
        logger.warning("live push failed (best effort)")


def push_after_commit(pushes: list[tuple[str, dict]]) -> None:
    """After the current transaction commits, send each ``(group, event)``."""
    transaction.on_commit(lambda: _publish_now(pushes))


def push_to_users_after_commit(user_ids, event: dict) -> None:
    """After the current transaction commits, send ``event`` to each user's group."""
    push_after_commit([(user_group(uid), event) for uid in sorted(set(user_ids))])


def close_user_sockets(user_id, code: int = CLOSE_LOGGED_OUT) -> None:
    """After commit: close every socket of the user."""
    push_after_commit([(user_group(user_id), {"type": "security.close", "code": code})])


def close_session_sockets(session_key: str, code: int = CLOSE_LOGGED_OUT) -> None:
    """After commit: close the sockets of one login session."""
    push_after_commit([(session_group(session_key), {"type": "security.close", "code": code})])
