"""A version 2 chat client for live-server tests that behaves like the browser's socket
(``static/js/v2/chat``, docs/api.md "Websocket"):

- it reconnects after any close (other than 4401/4403) with exponential back-off and
  jitter, and sends ``sync2`` with its last seq of every conversation on each connect;
- a send is retained until its ``ack2`` arrives and is sent again, with the same signed
  body (so the same client message id), after a reconnect (the server answers a repeat
  with the stored seq);
- a ``heartbeat`` whose seq is ahead of what it has makes it ``sync2`` again.

Unlike the browser it does not hide duplicates: it keeps every ``message2`` frame it
got and checks the stream as it arrives. A frame must carry the next seq of its
conversation (every timeline entry has one: operations, epochs and messages); anything
else is recorded in ``violations`` (a gap, or a duplicate).
The one overlap the protocol allows is tolerated and counted in ``overlaps``: while a
re-sync on an already synced socket is outstanding, frames that were in flight when
it was sent are replayed again (``seq`` at or below what the client has).

Usage::

    alice, bob, group = two_members()          # in a thread: it uses the database
    client = await ReconnectingChatClient("alice@1", server, await login_cookie(alice)).start()
    ack = await client.send(group.hex, group.message(alice, "hello"))
    await client.wait_for_seq(group.hex, ack["seq"])
    await client.stop()
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.support.clients import ws_connect

PERMANENT_CLOSE_CODES = {4401, 4403}
_ids = itertools.count(1)


@dataclass
class Violation:
    conversation: str
    seq: int
    last: int
    connection: int

    @property
    def kind(self) -> str:
        return "duplicate" if self.seq <= self.last else "gap"


@dataclass
class ReconnectingChatClient:
    name: str
    server: object  # anything with ``ws_url`` and ``origin`` (tests.support.live.LiveServer)
    cookie_header: str
    backoff_start: float = 0.1
    backoff_max: float = 2.0
    entries: dict[str, list[dict]] = field(default_factory=dict)  # in order, no duplicates
    received: list[dict] = field(default_factory=list)  # every message2 frame, raw
    violations: list[Violation] = field(default_factory=list)
    overlaps: int = 0
    errors: list[dict] = field(default_factory=list)  # error frames, and permanent closes
    connects: int = 0
    close_codes: list[int | None] = field(default_factory=list)
    heartbeat_syncs: int = 0

    def __post_init__(self):
        self.last: dict[str, int] = {}
        self.retained: dict[str, tuple[dict, asyncio.Future]] = {}
        self.ws = None
        self.task: asyncio.Task | None = None
        self.stopping = False
        self.sync_req: str | None = None
        self.resync = False
        self.synced = asyncio.Event()
        self.changed = asyncio.Event()

    # --- Lifecycle --------------------------------------------------------------------

    async def start(self, timeout: float = 20) -> ReconnectingChatClient:
        """Connect and wait for the first ``synced2``."""
        self.task = asyncio.create_task(self.run(), name=f"chat {self.name}")
        await self.wait_synced(timeout)
        return self

    async def wait_synced(self, timeout: float = 20) -> None:
        waiter = asyncio.ensure_future(self.synced.wait())
        done, _ = await asyncio.wait({waiter, self.task}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            if self.task in done:
                self.task.result()
            raise TimeoutError(f"{self.name}: not synced after {timeout}s "
                               f"(connects {self.connects}, closes {self.close_codes})")

    async def stop(self) -> None:
        self.stopping = True
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass

    async def drop(self) -> None:
        """Close the socket as a network drop would; the client reconnects and syncs."""
        self.synced.clear()
        if self.ws is not None:
            await self.ws.close(code=4000, reason="test drop")

    async def run(self) -> None:
        attempt = 0
        while not self.stopping:
            code = None
            try:
                async with ws_connect(self.server.ws_url, self.server.origin,
                                      self.cookie_header, max_size=2**22) as ws:
                    self.ws = ws
                    self.connects += 1
                    attempt = 0
                    await self.send_sync(resync=False)
                    for frame, _future in list(self.retained.values()):
                        await ws.send(json.dumps(frame))
                    try:
                        async for raw in ws:
                            await self.receive(json.loads(raw))
                    except ConnectionClosed:
                        pass
                    code = ws.close_code
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed):
                code = None
            finally:
                self.ws = None
                self.sync_req = None
                self.synced.clear()
            self.close_codes.append(code)
            if code in PERMANENT_CLOSE_CODES:
                self.errors.append({"type": "closed", "code": code})
                return
            if self.stopping:
                return
            delay = min(self.backoff_max, self.backoff_start * 2 ** attempt)
            attempt += 1
            await asyncio.sleep(delay * random.uniform(0.75, 1.25))

    # --- Requests -------------------------------------------------------------------

    async def send_sync(self, resync: bool) -> None:
        self.sync_req = f"{self.name}-sync-{next(_ids)}"
        self.resync = resync
        await self.ws.send(json.dumps({"type": "sync2", "positions": dict(self.last),
                                       "req_id": self.sync_req}))

    async def send(self, conversation_id: str, body: dict, timeout: float = 60) -> dict:
        """The ack2 (or error) frame of a send of ``body`` (box, statement, signature:
        ``tests.support.v2chat.Group.message``), waiting through reconnects."""
        req_id = f"{self.name}-send-{next(_ids)}"
        frame = {"type": "send2", "conversation": conversation_id, **body, "req_id": req_id}
        future = asyncio.get_running_loop().create_future()
        self.retained[req_id] = (frame, future)
        ws = self.ws
        if ws is not None:
            try:
                await ws.send(json.dumps(frame))
            except ConnectionClosed:
                pass  # sent again after the reconnect
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self.retained.pop(req_id, None)

    # --- Frames from the server -------------------------------------------------------------

    async def receive(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "message2":
            self.on_entry(frame)
        elif kind in ("ack2", "error") and frame.get("req_id") in self.retained:
            _frame, future = self.retained.pop(frame["req_id"])
            if not future.done():
                future.set_result(frame)
        elif kind == "error":
            self.errors.append(frame)
        elif kind == "synced2" and frame.get("req_id") == self.sync_req:
            self.sync_req = None
            self.synced.set()
        elif kind == "heartbeat" and self.sync_req is None:
            if any(seq > self.last.get(c, 0) for c, seq in frame["last_seqs"].items()):
                self.heartbeat_syncs += 1
                await self.send_sync(resync=True)

    def on_entry(self, frame: dict) -> None:
        conversation, seq = frame["conversation"], frame["item"]["seq"]
        last = self.last.get(conversation, 0)
        self.received.append(frame)
        if seq == last + 1:
            self.entries.setdefault(conversation, []).append(frame["item"])
            self.last[conversation] = seq
            self.changed.set()
        elif seq <= last and self.sync_req is not None and self.resync:
            self.overlaps += 1
        else:
            self.violations.append(Violation(conversation, seq, last, self.connects))
            if seq > last:
                self.entries.setdefault(conversation, []).append(frame["item"])
                self.last[conversation] = seq

    # --- Waiting ------------------------------------------------------------------------

    async def wait_for_seq(self, conversation_id: str, seq: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.last.get(conversation_id, 0) < seq:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{self.name}: has seq {self.last.get(conversation_id, 0)} of {seq} "
                    f"(connects {self.connects}, closes {self.close_codes})")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    def seqs(self, conversation_id: str) -> list[int]:
        return [item["seq"] for item in self.entries.get(conversation_id, [])]

    def boxes(self, conversation_id: str) -> dict[int, str]:
        """``{seq: box}`` of the message entries received."""
        return {item["seq"]: item["box"] for item in self.entries.get(conversation_id, [])
                if item["type"] == "message"}


async def open_clients(specs, timeout: float = 30) -> list[ReconnectingChatClient]:
    """Start clients ``(name, server, cookie_header)`` together; each is synced on return."""
    clients = [ReconnectingChatClient(name, server, cookie) for name, server, cookie in specs]
    await asyncio.wait_for(asyncio.gather(*(c.start(timeout) for c in clients)), timeout + 5)
    return clients


async def stop_all(clients) -> None:
    await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)


def assert_exactly_once_in_order(client: ReconnectingChatClient, conversation_id: str,
                                 by_seq: dict[int, str], upto: int | None = None) -> None:
    """``client`` got seqs 1..N once each, in order (N: ``upto``, else the last acked), and
    at each acked seq the very box the sender sealed (``by_seq``: seq → base64 box)."""
    upto = upto if upto is not None else max(by_seq)
    assert client.violations == [], f"{client.name}: {client.violations}"
    assert client.seqs(conversation_id) == list(range(1, upto + 1)), client.name
    boxes = client.boxes(conversation_id)
    assert {seq: boxes.get(seq) for seq in by_seq} == by_seq, client.name


def two_members() -> tuple:
    """``(alice, bob, group)``: two v2 users signed up through the client flow and a group
    of the two (``tests.support.v2chat.Group``: it seals and signs their messages). Uses
    the database: call it in a thread (``database_sync_to_async``)."""
    from tests.support.v2chat import V2User, group_of

    alice, bob = V2User.signup("alice"), V2User.signup("bob")
    return alice, bob, group_of(alice, bob)


async def login_cookie(user) -> str:
    """A fresh login session (its own device) for the v2 ``user``, as a Cookie header."""
    from channels.db import database_sync_to_async

    return user.cookie_header(await database_sync_to_async(user.new_login)())
