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

The receive loop, the channel layer and the timers are ``messaging.socketbase``'s (with
the performance reason for dispatching without Channels' per-message thread hop); this
class holds the frame handlers (``frame_<type>``) and the event handlers (``chat_v2``,
``security_close``, …). Close codes and frame names are ``messaging.frames``'. Version 2
sends run on their own threads on PostgreSQL (``send_threads``), so one socket's commit
does not hold up the others'.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from channels.db import DatabaseSyncToAsync, database_sync_to_async
from django.conf import settings

from accounts.errors import ApiError
from accounts.events import publish, publish_loop, session_group, user_group
from accounts.stages import scope_login_complete
from messaging import frames
from messaging.metrics import (
    MESSAGES_DELIVERED,
    SYNC_REPLAYS,
    WEBSOCKET_CONNECTIONS,
    socket_closed,
)
from messaging.ratelimit import TokenBucket
from messaging.sessions import session_still_valid
from messaging.socket_caps import socket_caps
from messaging.socketbase import LayerSocket
from messaging.v2 import socket as v2_socket
from messaging.v2.actions import EVENT_TYPE as V2_EVENT
from messaging.v2.actions import KEYS_EVENT_TYPE as V2_KEYS_EVENT
from messaging.v2.actions import READ_EVENT_TYPE as V2_READ_EVENT
from messaging.v2.actions import TYPING_EVENT_TYPE as V2_TYPING_EVENT

TYPING_MIN_INTERVAL = 1.0  # seconds between relayed typing frames per conversation
RATE_STRIKES = 20  # refused frames in a row before the socket is closed 4429


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
    return (content.get("type") == frames.MESSAGE2
            and content.get("item", {}).get("type") == "message")


class ChatConsumer(LayerSocket):
    # The events it answers, each by the method of its name with "." as "_" (chat_v2, …).
    EVENTS = frozenset({V2_EVENT, V2_READ_EVENT, V2_KEYS_EVENT, V2_TYPING_EVENT,
                        "security.close"})

    def setup(self) -> None:
        self.user = None
        self.admitted = False
        self.delivered2: dict[str, int] = {}  # v2: the highest seq sent per conversation
        self.synced2 = False
        self.sender_cache = v2_socket.SenderCache()  # v2: directory keys and access read
        self.deliver_lock = asyncio.Lock()
        self.bucket = TokenBucket(settings.SECURECHAT_WS_RATE_PER_SECOND,
                                  settings.SECURECHAT_WS_RATE_BURST)
        self.strikes = 0
        self.typing_sent: dict[str, float] = {}
        publish_loop.set(asyncio.get_running_loop())

    def groups(self) -> list[str]:
        if self.user is None:
            return []
        return [user_group(self.user.pk), session_group(self.session_key)]

    # --- Connection ----------------------------------------------------------------

    async def connect(self):
        await self.base_send({"type": "websocket.accept"})
        user = self.scope.get("user")
        # accounts.websocket sets "login_complete"; a scope built without it is checked here.
        if "login_complete" in self.scope:
            complete = self.scope["login_complete"]
        else:
            complete = await database_sync_to_async(scope_login_complete)(self.scope)
        if user is None or not user.is_authenticated or not user.is_active or not complete:
            await self.close(frames.CLOSE_NOT_LOGGED_IN)
            return
        self.user = user
        WEBSOCKET_CONNECTIONS.inc()
        self.session_key = self.scope["session"].session_key
        if not socket_caps.admit(self, user.pk, self.session_key):
            # Too many open sockets for this login or user: each holds server memory.
            await self.close(frames.CLOSE_RATE_LIMITED)
            return
        self.admitted = True
        await self.attach_layer()
        self.start_timer({"recheck": settings.SECURECHAT_WS_RECHECK_SECONDS,
                          "heartbeat": settings.SECURECHAT_WS_HEARTBEAT_SECONDS})

    async def every(self, name: str) -> None:
        if name == "recheck":
            valid = await database_sync_to_async(session_still_valid)(
                self.session_key, self.user.pk)
            if not valid:
                await self.close(frames.CLOSE_NOT_LOGGED_IN)
        elif name == "heartbeat":
            seqs = await database_sync_to_async(v2_socket.last_seqs)(self.user)
            await self.send_json({"type": frames.HEARTBEAT, "last_seqs": seqs})

    async def cleanup(self):
        self.closed = True
        if self.admitted:
            socket_caps.release(self, self.user.pk, self.session_key)
        socket_closed(self.user)
        await super().cleanup()

    def sent(self, content: dict) -> None:
        MESSAGES_DELIVERED.inc(1 if is_message_frame(content) else 0)

    # --- Frames from the client ---------------------------------------------------------

    async def receive_text(self, text: str):
        if self.user is None:
            return
        limit = settings.SECURECHAT_WS_MAX_FRAME_BYTES
        if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
            await self.close(frames.CLOSE_TOO_BIG)
            return
        if not self.bucket.take():
            self.strikes += 1
            if self.strikes >= RATE_STRIKES:
                await self.close(frames.CLOSE_RATE_LIMITED)
            else:
                await self.send_error(None, ApiError("Too many frames; slow down.",
                                                     code="rate_limited", status=429))
            return
        self.strikes = 0
        try:
            frame = frames.parse_frame(text)
        except frames.BadFrame:
            await self.close(frames.CLOSE_BAD_FRAME)
            return
        await self.dispatch_frame(frame)

    async def frame_ping(self, frame, req_id):
        await self.send_json({"type": frames.PONG, "req_id": req_id})

    async def frame_send2(self, frame, req_id):
        ack = await send_threads(v2_socket.send2)(self.user, frame, self.sender_cache)
        await self.send_json({**ack, "req_id": req_id})

    async def frame_sync2(self, frame, req_id):
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
        reply = {"type": frames.SYNCED2, "last_seqs": lasts}
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
                await self.send_json({"type": frames.MESSAGE2, "conversation": conversation_id,
                                      "item": item})
            after = batch[-1]["seq"]
        return after

    async def frame_read2(self, frame, req_id):
        reply = await database_sync_to_async(v2_socket.read2)(self.user, frame)
        await self.send_json({**reply, "req_id": req_id})

    async def frame_typing2(self, frame, req_id):
        conversation_id, others = await database_sync_to_async(v2_socket.typing_recipients)(
            self.user, frame)
        now = time.monotonic()
        if now - self.typing_sent.get(conversation_id, -1e9) < TYPING_MIN_INTERVAL:
            return  # rate-limited silently: typing is a hint
        self.typing_sent[conversation_id] = now
        await publish([(user_group(uid), {"type": V2_TYPING_EVENT, "conversation": conversation_id,
                                          "user": self.user.pk}) for uid in others])

    # --- Events from the channel layer (messaging.v2.actions' types, accounts.events') ---

    async def chat_v2(self, event):
        """A timeline item: sent straight on when it is the next seq, a gap read first."""
        conversation_id, item = event["conversation"], event["item"]
        async with self.deliver_lock:
            if not self.synced2:
                return  # no sync2 yet: the client's first sync2 reads it from the database
            last = self.delivered2.get(conversation_id, 0)  # new to this socket: from 0
            if item["seq"] <= last:
                return  # already sent (by sync2 or a gap read)
            if item["seq"] == last + 1:
                await self.send_json({"type": frames.MESSAGE2, "conversation": conversation_id,
                                      "item": item})
            else:
                await self.deliver2_range(conversation_id, last, item["seq"])
            self.delivered2[conversation_id] = item["seq"]

    async def chat_v2_read(self, event):
        await self.send_json({"type": frames.READ2, "conversation": event["conversation"],
                              "user": event["user"], "seq": event["seq"]})

    async def chat_v2_keys(self, event):
        await self.send_json({"type": frames.KEY_CHANGE2, "user": event["user"],
                              "generation": event["generation"]})

    async def chat_v2_typing(self, event):
        if event["user"] != self.user.pk:
            await self.send_json({"type": frames.TYPING2, "conversation": event["conversation"],
                                  "user": event["user"]})

    async def security_close(self, event):
        await self.close(int(event.get("code", frames.CLOSE_NOT_LOGGED_IN)))
