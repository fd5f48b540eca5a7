"""The one websocket of a browser tab or client, at ``/ws/`` (DESIGN.md §5, docs/api.md).

One socket carries all of a user's conversations, as ciphertext only: the server
holds no key and opens nothing. The consumer is async; all business logic runs
in ``messaging.v2.socket`` / ``messaging.v2.actions`` through
``database_sync_to_async`` (or the send threads).

Delivery: after the client's ``sync2`` the consumer knows, per conversation,
the last seq it delivered. A live ``chat.v2`` event with the next seq is
forwarded straight from the event (no database read); an older one is a
duplicate and dropped; a newer one means pushes were lost, and the gap is read
from the database first. So a client sees every entry once, in order.

Robustness: the channel layer (Redis) may fail at connect or later; the socket
stays open, sends still commit and ack, heartbeats tell the client the last
seqs, and the consumer re-attaches to the layer on its timer.

Performance: Channels' ``AsyncConsumer.dispatch`` awaits
``aclose_old_connections()`` (a thread hop) before every message. This
consumer dispatches itself and never touches the database in the event loop;
every database access goes through ``database_sync_to_async``, which closes
stale connections around each call, so the hop is not needed. Version 2 sends
run on their own threads on PostgreSQL (``send_threads``), so one socket's commit
does not hold up the others'.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from json import dumps

from channels.consumer import AsyncConsumer
from channels.db import DatabaseSyncToAsync, database_sync_to_async
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from accounts.errors import ApiError, error_payload
from accounts.events import session_group, user_group
from accounts.stages import scope_login_complete
from messaging import frames
from messaging.events import publish, publish_loop
from messaging.metrics import (
    CHANNEL_LAYER_ERRORS,
    MESSAGES_DELIVERED,
    SYNC_REPLAYS,
    WEBSOCKET_CONNECTIONS,
    socket_closed,
)
from messaging.ratelimit import TokenBucket
from messaging.sessions import session_still_valid
from messaging.socket_caps import socket_caps
from messaging.v2 import socket as v2_socket
from messaging.v2.actions import EVENT_TYPE as V2_EVENT
from messaging.v2.actions import KEYS_EVENT_TYPE as V2_KEYS_EVENT
from messaging.v2.actions import READ_EVENT_TYPE as V2_READ_EVENT
from messaging.v2.actions import TYPING_EVENT_TYPE as V2_TYPING_EVENT

logger = logging.getLogger(__name__)

CLOSE_BAD_FRAME = 4400
CLOSE_NOT_LOGGED_IN = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_RATE_LIMITED = 4429
CLOSE_TOO_BIG = 1009
CLOSE_BINARY = 1003

TYPING_MIN_INTERVAL = 1.0  # seconds between relayed typing frames per conversation
RATE_STRIKES = 20  # refused frames in a row before the socket is closed 4429
LAYER_RETRY_SECONDS = 5.0


_send_executor: ThreadPoolExecutor | None = None


def send_threads(func):
    """``func`` as a coroutine on the send threads (``SECURECHAT_DB_SEND_THREADS``), or on
    Channels' database thread when there is one. Each socket awaits its sends one by one,
    so its frames keep their order; sockets' sends overlap across the threads. Like
    ``database_sync_to_async``, stale connections are closed around each call."""
    global _send_executor
    if settings.SECURECHAT_DB_SEND_THREADS <= 1:
        return database_sync_to_async(func)
    if _send_executor is None:
        _send_executor = ThreadPoolExecutor(settings.SECURECHAT_DB_SEND_THREADS,
                                            thread_name_prefix="db-send")
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_send_executor)


def is_message_frame(content: dict) -> bool:
    """A frame that delivers a message: a ``message2`` holding one."""
    return content.get("type") == "message2" and content.get("item", {}).get("type") == "message"


class ChatConsumer(AsyncConsumer):
    async def __call__(self, scope, receive, send):
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer()
        self.channel_name = None
        self.closed = False
        self.user = None
        self.admitted = False
        self.delivered2: dict[str, int] = {}  # v2: the highest seq sent per conversation
        self.synced2 = False
        self.sender_cache = v2_socket.SenderCache()  # v2: directory keys and access read
        self.tasks: list[asyncio.Task] = []
        self.layer_task: asyncio.Task | None = None
        self.send_lock = asyncio.Lock()
        self.deliver_lock = asyncio.Lock()
        self.bucket = TokenBucket(settings.SECURECHAT_WS_RATE_PER_SECOND,
                                  settings.SECURECHAT_WS_RATE_BURST)
        self.strikes = 0
        self.typing_sent: dict[str, float] = {}
        publish_loop.set(asyncio.get_running_loop())
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.connect":
                    await self.websocket_connect()
                elif kind == "websocket.receive":
                    await self.websocket_receive(message)
                elif kind == "websocket.disconnect":
                    raise StopConsumer
        except StopConsumer:
            pass
        finally:
            await self.cleanup()

    # --- Connection ----------------------------------------------------------------

    async def websocket_connect(self):
        await self.base_send({"type": "websocket.accept"})
        user = self.scope.get("user")
        # accounts.websocket sets "login_complete"; a scope built without it is checked here.
        if "login_complete" in self.scope:
            complete = self.scope["login_complete"]
        else:
            complete = await database_sync_to_async(scope_login_complete)(self.scope)
        if user is None or not user.is_authenticated or not user.is_active or not complete:
            await self.close(CLOSE_NOT_LOGGED_IN)
            return
        self.user = user
        WEBSOCKET_CONNECTIONS.inc()
        self.session_key = self.scope["session"].session_key
        if not socket_caps.admit(self, user.pk, self.session_key):
            # Too many open sockets for this login or user: each holds server memory.
            await self.close(CLOSE_RATE_LIMITED)
            return
        self.admitted = True
        await self.attach_layer()
        self.tasks.append(asyncio.create_task(self.timer()))

    async def attach_layer(self) -> bool:
        """Join the user's and the session's groups; False (retried later) if the layer fails."""
        if self.channel_layer is None or self.closed:
            return False
        try:
            if self.channel_name is None:
                self.channel_name = await self.channel_layer.new_channel()
            await self.channel_layer.group_add(user_group(self.user.pk), self.channel_name)
            await self.channel_layer.group_add(session_group(self.session_key),
                                               self.channel_name)
        except Exception:  # noqa: BLE001 - Redis away: the socket works from the database
            logger.warning("channel layer unavailable; socket runs without live pushes")
            CHANNEL_LAYER_ERRORS.labels("subscribe").inc()
            self.channel_name = None
            return False
        if self.layer_task is None or self.layer_task.done():
            self.layer_task = asyncio.create_task(self.layer_loop(self.channel_name))
        return True

    async def layer_loop(self, channel_name):
        while not self.closed:
            try:
                event = await self.channel_layer.receive(channel_name)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                logger.warning("channel layer receive failed; retrying")
                CHANNEL_LAYER_ERRORS.labels("receive").inc()
                await asyncio.sleep(LAYER_RETRY_SECONDS)
                continue
            try:
                await self.handle_event(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("websocket event handler failed")

    async def timer(self):
        heartbeat = settings.SECURECHAT_WS_HEARTBEAT_SECONDS
        recheck = settings.SECURECHAT_WS_RECHECK_SECONDS
        tick = max(0.05, min(heartbeat, recheck, LAYER_RETRY_SECONDS) / 2)
        now = time.monotonic()
        next_heartbeat, next_recheck = now + heartbeat, now + recheck
        next_attach = now + LAYER_RETRY_SECONDS
        while not self.closed:
            await asyncio.sleep(tick)
            now = time.monotonic()
            try:
                if now >= next_recheck:
                    next_recheck = now + recheck
                    valid = await database_sync_to_async(session_still_valid)(
                        self.session_key, self.user.pk)
                    if not valid:
                        await self.close(CLOSE_NOT_LOGGED_IN)
                        return
                if now >= next_heartbeat:
                    next_heartbeat = now + heartbeat
                    seqs = await database_sync_to_async(v2_socket.last_seqs)(self.user)
                    await self.send_json({"type": "heartbeat", "last_seqs": seqs})
                if self.channel_name is None and now >= next_attach:
                    next_attach = now + LAYER_RETRY_SECONDS
                    await self.attach_layer()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("websocket timer failed")

    async def cleanup(self):
        self.closed = True
        if self.admitted:
            socket_caps.release(self, self.user.pk, self.session_key)
        socket_closed(self.user)
        for task in [*self.tasks, self.layer_task]:
            if task is not None:
                task.cancel()
        for task in [*self.tasks, self.layer_task]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.channel_name is not None and self.user is not None:
            for group in (user_group(self.user.pk), session_group(self.session_key)):
                with contextlib.suppress(Exception):
                    await self.channel_layer.group_discard(group, self.channel_name)

    # --- Sending to the client ----------------------------------------------------------

    async def send_json(self, content: dict):
        if self.closed:
            return
        async with self.send_lock:
            try:
                await self.base_send({"type": "websocket.send",
                                      "text": dumps(content, ensure_ascii=False)})
                MESSAGES_DELIVERED.inc(1 if is_message_frame(content) else 0)
            except (OSError, RuntimeError):
                # The client went away (uvicorn raises ClientDisconnected, an OSError, or
                # refuses a send after close): nothing to deliver to; it re-syncs later.
                self.closed = True
                logger.debug("websocket client gone; frame not sent")

    async def close(self, code: int):
        if self.closed:
            return
        self.closed = True
        async with self.send_lock:
            await self.base_send({"type": "websocket.close", "code": code})

    async def send_error(self, req_id, exc: ApiError):
        """``exc`` as an ``error`` frame: the API's error JSON (one mapping) plus ``req_id``."""
        frame = {"type": "error", **error_payload(exc)}
        if req_id is not None:
            frame["req_id"] = req_id
        await self.send_json(frame)

    # --- Frames from the client ---------------------------------------------------------

    async def websocket_receive(self, message):
        if self.closed or self.user is None:
            return
        text = message.get("text")
        if text is None:
            await self.close(CLOSE_BINARY)
            return
        limit = settings.SECURECHAT_WS_MAX_FRAME_BYTES
        if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
            await self.close(CLOSE_TOO_BIG)
            return
        if not self.bucket.take():
            self.strikes += 1
            if self.strikes >= RATE_STRIKES:
                await self.close(CLOSE_RATE_LIMITED)
            else:
                await self.send_error(None, ApiError("Too many frames; slow down.",
                                                     code="rate_limited", status=429))
            return
        self.strikes = 0
        try:
            frame = frames.parse_frame(text)
        except frames.BadFrame:
            await self.close(CLOSE_BAD_FRAME)
            return
        req_id = frames.req_id_of(frame)
        handler = HANDLERS.get(frame["type"])
        if handler is None:
            await self.send_error(req_id, ApiError("Unknown frame type.", code="unknown_type"))
            return
        try:
            frames.check_req_id(frame)
            await handler(self, frame, req_id)
        except ApiError as exc:
            await self.send_error(req_id, exc)

    async def on_ping(self, frame, req_id):
        await self.send_json({"type": "pong", "req_id": req_id})

    async def on_send2(self, frame, req_id):
        ack = await send_threads(v2_socket.send2)(self.user, frame, self.sender_cache)
        await self.send_json({**ack, "req_id": req_id})

    async def on_sync2(self, frame, req_id):
        """Replay every v2 timeline entry after the client's positions, in seq order, then
        ``synced2``. Holding ``deliver_lock`` while reading and sending, live pushes wait
        and are then sent only above what was delivered: each entry exactly once."""
        positions = v2_socket.sync_positions(frame)
        SYNC_REPLAYS.inc()
        async with self.deliver_lock:
            lasts = await database_sync_to_async(v2_socket.last_seqs)(self.user)
            for conversation_id, last in sorted(lasts.items()):
                after = min(positions.get(conversation_id, 0), last)
                await self.deliver2_range(conversation_id, after, last)
                self.delivered2[conversation_id] = last
            self.synced2 = True
        reply = {"type": "synced2", "last_seqs": lasts}
        if req_id is not None:
            reply["req_id"] = req_id
        await self.send_json(reply)

    async def deliver2_range(self, conversation_id, after, upto):
        """Send v2 entries ``after < seq <= upto`` from the database (lock held)."""
        while after < upto:
            batch = await database_sync_to_async(v2_socket.timeline_between)(
                self.user, conversation_id, after, upto)
            if not batch:
                break
            for item in batch:
                await self.send_json({"type": "message2", "conversation": conversation_id,
                                      "item": item})
            after = batch[-1]["seq"]
        return after

    async def on_v2_event(self, event):
        conversation_id, item = event["conversation"], event["item"]
        async with self.deliver_lock:
            if not self.synced2:
                return  # no sync2 yet: the client's first sync2 reads it from the database
            last = self.delivered2.get(conversation_id, 0)  # new to this socket: from 0
            if item["seq"] <= last:
                return  # already sent (by sync2 or a gap read)
            if item["seq"] == last + 1:
                await self.send_json({"type": "message2", "conversation": conversation_id,
                                      "item": item})
            else:
                await self.deliver2_range(conversation_id, last, item["seq"])
            self.delivered2[conversation_id] = item["seq"]

    async def on_read2(self, frame, req_id):
        reply = await database_sync_to_async(v2_socket.read2)(self.user, frame)
        await self.send_json({**reply, "req_id": req_id})

    async def on_typing2(self, frame, req_id):
        conversation_id, others = await database_sync_to_async(v2_socket.typing_recipients)(
            self.user, frame)
        now = time.monotonic()
        if now - self.typing_sent.get(conversation_id, -1e9) < TYPING_MIN_INTERVAL:
            return  # rate-limited silently: typing is a hint
        self.typing_sent[conversation_id] = now
        await publish([(user_group(uid), {"type": V2_TYPING_EVENT, "conversation": conversation_id,
                                          "user": self.user.pk}) for uid in others])

    # --- Events from the channel layer --------------------------------------------------

    async def handle_event(self, event):
        kind = event.get("type")
        if kind == V2_EVENT:
            await self.on_v2_event(event)
        elif kind == V2_READ_EVENT:
            await self.send_json({"type": "read2", "conversation": event["conversation"],
                                  "user": event["user"], "seq": event["seq"]})
        elif kind == V2_KEYS_EVENT:
            await self.send_json({"type": "key_change2", "user": event["user"],
                                  "generation": event["generation"]})
        elif kind == V2_TYPING_EVENT:
            if event["user"] != self.user.pk:
                await self.send_json({"type": "typing2", "conversation": event["conversation"],
                                      "user": event["user"]})
        elif kind == "security.close":
            await self.close(int(event.get("code", CLOSE_NOT_LOGGED_IN)))
        # Any other event type (none is published any more) is ignored.


# Ciphertext only (docs/api.md); catch-up is sync2 or the HTTP timeline.
HANDLERS = {
    "send2": ChatConsumer.on_send2,
    "sync2": ChatConsumer.on_sync2,
    "read2": ChatConsumer.on_read2,
    "typing2": ChatConsumer.on_typing2,
    "ping": ChatConsumer.on_ping,
}
