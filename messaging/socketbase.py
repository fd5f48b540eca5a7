"""The plumbing under the chat socket: its receive loop, the channel layer (attach, retry,
receive) and its timers, so that ``messaging.consumers.ChatConsumer`` reads as its
protocol.

Performance: Channels' ``AsyncConsumer.dispatch`` awaits ``aclose_old_connections()``
(a thread hop) before every message. This base dispatches itself and never touches the
database in the event loop; every database access of a subclass goes through
``database_sync_to_async``, which closes stale connections around each call, so the hop
is not needed.

Robustness: the channel layer (Redis) may fail at connect or later; the socket stays
open, and the timer re-attaches to the layer every ``LAYER_RETRY_SECONDS``.

Dispatch, the way Channels does it: a client frame of type ``t`` goes to
``frame_<t>(frame, req_id)``, a channel-layer event of type ``a.b`` to ``a_b(event)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from json import dumps

from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer

from accounts.errors import ApiError, error_payload
from accounts.metrics import CHANNEL_LAYER_ERRORS
from messaging import frames

logger = logging.getLogger(__name__)

LAYER_RETRY_SECONDS = 5.0


class LayerSocket(AsyncConsumer):
    """A websocket joined to channel-layer groups. Subclasses implement ``connect()``
    (accept or close, then ``attach_layer()`` and ``start_timer()``), ``groups()``,
    ``receive_text(text)``, the ``frame_*`` and event handlers (their types in
    ``EVENTS``), ``every()`` (the timer's periodic work) and may extend ``cleanup()``."""

    EVENTS: frozenset[str] = frozenset()

    async def __call__(self, scope, receive, send):
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer()
        self.channel_name = None
        self.closed = False
        self.tasks: list[asyncio.Task] = []
        self.layer_task: asyncio.Task | None = None
        self.send_lock = asyncio.Lock()
        self.setup()
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.connect":
                    await self.connect()
                elif kind == "websocket.receive":
                    await self.receive_message(message)
                elif kind == "websocket.disconnect":
                    raise StopConsumer
        except StopConsumer:
            pass
        finally:
            await self.cleanup()

    def setup(self) -> None:
        """Per-socket state, before the first message."""

    def groups(self) -> list[str]:
        return []

    # --- The channel layer ------------------------------------------------------------

    async def attach_layer(self) -> bool:
        """Join ``groups()``; False (retried by the timer) if the layer fails."""
        if self.channel_layer is None or self.closed:
            return False
        try:
            if self.channel_name is None:
                self.channel_name = await self.channel_layer.new_channel()
            for group in self.groups():
                await self.channel_layer.group_add(group, self.channel_name)
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
                await self.dispatch_event(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("websocket event handler failed")

    async def dispatch_event(self, event: dict) -> None:
        """``a.b`` to ``a_b(event)``; a type outside ``EVENTS`` is ignored."""
        kind = event.get("type")
        if kind in self.EVENTS:
            await getattr(self, kind.replace(".", "_"))(event)

    # --- Timers -----------------------------------------------------------------------

    def start_timer(self, periods: dict[str, float]) -> None:
        """Call ``every(name)`` each ``periods[name]`` seconds, and re-attach a lost layer."""
        self.tasks.append(asyncio.create_task(self.timer(periods)))

    async def timer(self, periods: dict[str, float]):
        tick = max(0.05, min(*periods.values(), LAYER_RETRY_SECONDS) / 2)
        now = time.monotonic()
        due = {name: now + period for name, period in periods.items()}
        next_attach = now + LAYER_RETRY_SECONDS
        while not self.closed:
            await asyncio.sleep(tick)
            now = time.monotonic()
            try:
                for name, period in periods.items():
                    if now >= due[name] and not self.closed:
                        due[name] = now + period
                        await self.every(name)
                if self.channel_name is None and now >= next_attach and not self.closed:
                    next_attach = now + LAYER_RETRY_SECONDS
                    await self.attach_layer()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("websocket timer failed")

    async def every(self, name: str) -> None:
        """The periodic work ``name`` of ``start_timer``."""

    async def cleanup(self):
        self.closed = True
        for task in [*self.tasks, self.layer_task]:
            if task is not None:
                task.cancel()
        for task in [*self.tasks, self.layer_task]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.channel_name is not None:
            for group in self.groups():
                with contextlib.suppress(Exception):
                    await self.channel_layer.group_discard(group, self.channel_name)

    # --- Sending ----------------------------------------------------------------------

    def sent(self, content: dict) -> None:
        """After ``content`` went out (metrics)."""

    async def send_json(self, content: dict):
        if self.closed:
            return
        async with self.send_lock:
            try:
                await self.base_send({"type": "websocket.send",
                                      "text": dumps(content, ensure_ascii=False)})
                self.sent(content)
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
        frame = {"type": frames.ERROR, **error_payload(exc)}
        if req_id is not None:
            frame["req_id"] = req_id
        await self.send_json(frame)

    # --- Receiving --------------------------------------------------------------------

    async def receive_message(self, message: dict) -> None:
        if self.closed:
            return
        text = message.get("text")
        if text is None:
            await self.close(frames.CLOSE_BINARY)
            return
        await self.receive_text(text)

    async def dispatch_frame(self, frame: dict) -> None:
        """``frame`` of type ``t`` to ``frame_<t>(frame, req_id)``; an ``ApiError`` it raises
        becomes an ``error`` frame, an unknown type one with code ``unknown_type``."""
        req_id = frames.req_id_of(frame)
        if frame["type"] not in frames.CLIENT_FRAMES:
            await self.send_error(req_id, ApiError("Unknown frame type.", code="unknown_type"))
            return
        try:
            frames.check_req_id(frame)
            await getattr(self, "frame_" + frame["type"])(frame, req_id)
        except ApiError as exc:
            await self.send_error(req_id, exc)
