"""Channel-layer groups for account security events, and closing sockets.

Every websocket consumer joins ``user_group(user_id)`` (all of a user's
sockets) and ``session_group(session_key)`` (the sockets of one login), by
these helpers only. Account actions call ``close_user_sockets`` or
``close_session_sockets`` after their transaction commits; the consumer
answers a ``security.close`` event by closing with the code it carries.
Payloads carry ids and codes only. Pushes are best effort: a consumer also
re-checks its session periodically (messaging), so a lost event delays the
close by at most one check interval.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

CLOSE_LOGGED_OUT = 4401
# The pub/sub layer waits without limit on a stalled Redis (socket_timeout is
# None, docs/benchmarks.md "Channel layer"); a push must never hold up the
# request that caused it.
PUSH_TIMEOUT_SECONDS = 2


def user_group(user_id) -> str:
    return f"user.{int(user_id)}"


def session_group(session_key: str) -> str:
    # Group names travel through Redis: a hash, never the session key itself.
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def _send(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def push():
        await asyncio.wait_for(layer.group_send(group, event), PUSH_TIMEOUT_SECONDS)

    try:
        async_to_sync(push)()
    except Exception:
        # Best effort: the periodic session re-check closes the socket anyway.
        logger.warning("could not push %s to the channel layer", event.get("type"))


def close_user_sockets(user_id, code: int = CLOSE_LOGGED_OUT) -> None:
    """After commit: close every socket of the user."""
    transaction.on_commit(
        lambda: _send(user_group(user_id), {"type": "security.close", "code": code})
    )


def close_session_sockets(session_key: str, code: int = CLOSE_LOGGED_OUT) -> None:
    """After commit: close the sockets of one login session."""
    transaction.on_commit(
        lambda: _send(session_group(session_key), {"type": "security.close", "code": code})
    )
