"""The one websocket of a browser tab, at ``/ws/`` (DESIGN.md §5, docs/api.md).

One socket carries all of a user's conversations. The consumer is async; all
business logic runs in ``messaging.actions`` / ``messaging.replay`` through
``database_sync_to_async``.

Delivery: after the client's ``sync`` the consumer knows, per conversation,
the last seq it delivered. A live ``chat.message`` event with the next seq is
decrypted straight from the event (no database read); an older one is a
duplicate and dropped; a newer one means pushes were lost, and the gap is read
from the database first. So a client sees every message once, in order.

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
from messaging import actions, frames, replay
from messaging.display import MessageView, StoredFields
from messaging.events import publish, publish_loop
from messaging.metrics import (
    CHANNEL_LAYER_ERRORS,
    MESSAGES_DELIVERED,
    SYNC_REPLAYS,
    WEBSOCKET_CONNECTIONS,
    socket_closed,
)
from messaging.pins import Pins
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
V2_EVENTS = (V2_EVENT, V2_READ_EVENT, V2_TYPING_EVENT, V2_KEYS_EVENT, "security.close")
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
    """A frame that delivers a message: v1 ``message``, or v2 ``message2`` holding one."""
    kind = content.get("type")
    return kind == "message" or (kind == "message2"
                                 and content.get("item", {}).get("type") == "message")


class ChatConsumer(AsyncConsumer):
    async def __call__(self, scope, receive, send):
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer()
        self.channel_name = None
        self.closed = False
        self.user = None
        self.admitted = False
        self.identity = None
        self.v2 = False  # a version 2 login: keys on the client, v2 frames only
        self.view: MessageView | None = None
        self.delivered: dict[int, int] = {}
        self.synced = False
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
        self.typing_sent: dict[int, float] = {}
        self.members: dict[int, tuple[float, list[int]]] = {}
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
        identity = None  # the server holds no identity: every complete login is a v2 one
        self.v2 = complete
        if (user is None or not user.is_authenticated or not user.is_active
                or not complete):
            await self.close(CLOSE_NOT_LOGGED_IN)
            return
        self.user, self.identity = user, identity
        WEBSOCKET_CONNECTIONS.inc()
        self.session_key = self.scope["session"].session_key
        if not socket_caps.admit(self, user.pk, self.session_key):
            # Too many open sockets for this login or user: each holds server memory.
            await self.close(CLOSE_RATE_LIMITED)
            return
        self.admitted = True
        if not self.v2:  # a v2 socket decrypts nothing: no view, no pins
            self.view = MessageView(user.pk, identity, Pins(user.pk))
            await database_sync_to_async(replay.reload_pins)(user, identity, self.view)
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
                    last_seqs = v2_socket.last_seqs if self.v2 else replay.last_seqs
                    seqs = await database_sync_to_async(last_seqs)(self.user)
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
        handler = (HANDLERS_V2 if self.v2 else HANDLERS).get(frame["type"])
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

    async def on_sync(self, frame, req_id):
        since = frames.since(frame)
        SYNC_REPLAYS.inc()
        async with self.deliver_lock:
            changes = await database_sync_to_async(replay.key_changes)(
                self.user, self.identity, self.view)
            positions = await database_sync_to_async(replay.positions)(self.user)
            for conversation_id, (first, last) in sorted(positions.items()):
                after = max(since.get(conversation_id, 0), first)
                await self.deliver_range(conversation_id, after, last)
                self.delivered[conversation_id] = max(after, last)
            self.synced = True
        for conversation_id, contact in changes:
            await self.send_json({"type": "key_change", "conversation": conversation_id,
                                  "contact": contact})
        reply = {"type": "synced",
                 "last_seqs": {str(c): last for c, (_f, last) in positions.items()}}
        if req_id is not None:
            reply["req_id"] = req_id
        await self.send_json(reply)

    async def deliver_range(self, conversation_id, after, upto):
        """Send the visible messages ``after < seq <= upto`` from the database (lock held)."""
        while after < upto:
            batch = await database_sync_to_async(replay.frames_between)(
                self.user, self.view, conversation_id, after, upto)
            if not batch:
                break
            for frame in batch:
                await self.send_json(frame)
            after = batch[-1]["seq"]
        return after

    async def on_send(self, frame, req_id):
        conversation_id = frames.conversation_id(frame)
        text = frames.string(frame, "text")
        client_id = frame.get("client_id")
        sent = await database_sync_to_async(actions.do_send_message)(
            self.user, self.identity, conversation_id, text, client_id)
        await self.send_json({"type": "ack", "req_id": req_id, "id": str(sent.id),
                              "seq": sent.seq, "conversation": sent.conversation_id})

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

    async def on_read(self, frame, req_id):
        conversation_id = frames.conversation_id(frame)
        seq = frames.seq(frame)
        position = await database_sync_to_async(actions.do_mark_read)(
            self.user, conversation_id, seq)
        await self.send_json({"type": "ack", "req_id": req_id, "conversation": conversation_id,
                              "seq": position})

    async def on_accept_key(self, frame, req_id):
        conversation_id = frames.conversation_id(frame)
        accepted = await database_sync_to_async(actions.do_accept_key)(
            self.user, self.identity, conversation_id)
        await database_sync_to_async(replay.reload_pins)(self.user, self.identity, self.view)
        await self.send_json({"type": "ack", "req_id": req_id, "conversation": conversation_id,
                              "accepted": accepted})

    async def on_typing(self, frame, req_id):
        conversation_id = frames.conversation_id(frame)
        now = time.monotonic()
        if now - self.typing_sent.get(conversation_id, -1e9) < TYPING_MIN_INTERVAL:
            return  # rate-limited silently: typing is a hint
        others = await self.other_members(conversation_id)
        self.typing_sent[conversation_id] = now
        await publish([(user_group(uid), {"type": "chat.typing", "conversation": conversation_id,
                                          "user": self.user.pk}) for uid in others])

    async def other_members(self, conversation_id) -> list[int]:
        cached = self.members.get(conversation_id)
        if cached is not None and time.monotonic() - cached[0] < 30:
            return cached[1]

        def load():
            conversation = actions.access_joined_conversation(self.user, conversation_id)
            return list(conversation.memberships.joined().exclude(user=self.user)
                        .values_list("user_id", flat=True))

        others = await database_sync_to_async(load)()
        self.members[conversation_id] = (time.monotonic(), others)
        return others

    # --- Events from the channel layer --------------------------------------------------

    async def handle_event(self, event):
        kind = event.get("type")
        if self.v2 and kind not in V2_EVENTS:
            return  # version 1 events need a server-side view this socket does not have
        if kind == "chat.message":
            await self.on_message_event(event)
        elif kind == "chat.deleted":
            await self.on_deleted_event(event)
        elif kind == "chat.read":
            await self.send_json({"type": "read", "conversation": event["conversation"],
                                  "user": event["user"], "seq": event["seq"]})
        elif kind == "chat.typing":
            if event["user"] != self.user.pk:
                await self.send_json({"type": "typing", "conversation": event["conversation"],
                                      "user": event["user"]})
        elif kind == "chat.conversation":
            await self.on_conversation_event(event)
        elif kind == "chat.v2":
            if self.v2:
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

    async def on_message_event(self, event):
        conversation_id, seq = event["conversation"], event["seq"]
        # Checked under the lock: a sync in progress holds it, and may have read its
        # positions before this message committed, so the event must wait for it.
        async with self.deliver_lock:
            if not self.synced:
                return  # no sync yet: the client's first sync reads it from the database
            last = self.delivered.get(conversation_id)
            if last is not None and seq <= last:
                return  # already delivered (by sync or a gap read)
            if last is not None and seq == last + 1 and self.view.keys.has(
                    event["sender"], event["generation"]):
                frame = self.view.render(StoredFields.from_event(event))
                await self.send_json(frame)
                self.delivered[conversation_id] = seq
                return
            if last is None:
                positions = await database_sync_to_async(replay.positions)(self.user)
                if conversation_id not in positions:
                    return
                last = positions[conversation_id][0]
                await database_sync_to_async(replay.key_changes)(
                    self.user, self.identity, self.view, [conversation_id])
            self.delivered[conversation_id] = await self.deliver_range(conversation_id, last,
                                                                       seq)

    async def on_deleted_event(self, event):
        conversation_id = event["conversation"]
        async with self.deliver_lock:
            last = self.delivered.get(conversation_id)
            if last is None or event["seq"] > last:
                return  # the tombstone arrives with the gap read
            await self.send_json({"type": "message", "conversation": conversation_id,
                                  "id": event["id"], "seq": event["seq"], "deleted": True,
                                  "signature": None})

    async def on_conversation_event(self, event):
        conversation_id = event["conversation"]
        self.members.pop(conversation_id, None)
        await database_sync_to_async(replay.reload_pins)(self.user, self.identity, self.view)
        changes = await database_sync_to_async(replay.key_changes)(
            self.user, self.identity, self.view, [conversation_id])
        await self.send_json({"type": "conversation", "conversation": conversation_id})
        for conv, contact in changes:
            await self.send_json({"type": "key_change", "conversation": conv,
                                  "contact": contact})


HANDLERS = {
    "sync": ChatConsumer.on_sync,
    "send": ChatConsumer.on_send,
    "read": ChatConsumer.on_read,
    "typing": ChatConsumer.on_typing,
    "accept_key": ChatConsumer.on_accept_key,
    "ping": ChatConsumer.on_ping,
}
# Version 2 sockets: ciphertext only (docs/api.md); catch-up is sync2 or the HTTP timeline.
HANDLERS_V2 = {
    "send2": ChatConsumer.on_send2,
    "sync2": ChatConsumer.on_sync2,
    "read2": ChatConsumer.on_read2,
    "typing2": ChatConsumer.on_typing2,
    "ping": ChatConsumer.on_ping,
}
