"""No message text at rest: not in the database file or its WAL, not through Redis.

Probes search raw, base64 (three alignments, standard and URL-safe) and hex
(both cases) forms, with positive controls proving each probe finds a marker
that is deliberately stored in plaintext.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
from pathlib import Path

import pytest
import redis
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection

from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.messaging.test_v2_live import opened_text
from tests.messaging.wsclient import ChatClient
from tests.support.v2chat import group_of

pytestmark = pytest.mark.usefixtures("fresh_rate_limits")


def cookie_header(user) -> str:
    return "; ".join(f"{name}={morsel.value}" for name, morsel in user.http.cookies.items())


def forms(marker: str) -> list[bytes]:
    raw = marker.encode()
    found = [raw, raw.hex().encode(), raw.hex().upper().encode()]
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\x00" * pad + raw)
            # Drop the characters that depend on the neighbouring bytes.
            start = {0: 0, 1: 2, 2: 3}[pad]
            found.append(text[start:len(text) - 4])
    return found


def hits(blob: bytes, marker: str) -> list[bytes]:
    return [form for form in forms(marker) if form and form in blob]


def database_bytes() -> bytes:
    path = Path(connection.settings_dict["NAME"])
    data = b""
    for candidate in (path, Path(str(path) + "-wal")):
        if candidate.exists():
            data += candidate.read_bytes()
    return data


class RedisCommandLog:
    """Every command Redis executes while running (MONITOR), as bytes."""

    def __init__(self):
        self.client = redis.from_url(settings.REDIS_URL)
        self.lines: list[bytes] = []
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        with self.client.monitor() as monitor:
            self.ready.set()
            connection_ = monitor.connection
            while not self.stop.is_set():
                try:
                    response = connection_.read_response(timeout=0.2)
                except redis.TimeoutError:
                    continue
                if response is not None:
                    self.lines.append(response if isinstance(response, bytes)
                                      else str(response).encode())

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(5)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        self.client.close()

    def data(self) -> bytes:
        return b"\n".join(self.lines)

    async def until_seen(self, marker: str, timeout: float = 15) -> None:
        """Wait until MONITOR has reported a command carrying ``marker``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while marker.encode() not in self.data():
            if asyncio.get_running_loop().time() > deadline:
                return  # the assertions below report what was seen
            await asyncio.sleep(0.05)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="reads the SQLite file")
async def test_no_message_text_in_the_database_file_wal_or_redis(trio):
    """A live version 2 conversation over websockets: the texts (sealed by the sending
    client) are nowhere in the DB file + WAL or in what Redis saw; the recipient opens them
    (they did travel); a plaintext control marker written to a throwaway table and one
    published to Redis are found by the same probes."""
    alice, bob, _carol = trio
    group = await database_sync_to_async(group_of)(alice, bob)
    texts = [f"plaintext-{secrets.token_hex(8)}-{i}" for i in range(5)]
    control_db = f"control-db-{secrets.token_hex(8)}"
    control_redis = f"control-redis-{secrets.token_hex(8)}"
    with RedisCommandLog() as monitor:
        sockets = {}
        for user in (alice, bob):
            sockets[user.id] = await ChatClient(cookie_header=cookie_header(user)).connect()
            await sockets[user.id].request({"type": "sync2", "positions": {}})
        for i, text in enumerate(texts):
            sender = alice if i % 2 == 0 else bob
            body = await database_sync_to_async(group.message)(sender, text)
            ack = await sockets[sender.id].request({"type": "send2", "conversation": group.hex,
                                                    **body})
            assert ack["type"] == "ack2", ack
        got = await sockets[bob.id].messages(group.hex, len(texts))
        assert [opened_text(group, f) for f in got] == texts  # what Bob's client reads
        # Positive controls: plaintext through Redis and into the database.
        redis.from_url(settings.REDIS_URL).publish("securechat-test-control", control_redis)
        await monitor.until_seen(control_redis)  # MONITOR lags on a busy machine

        def write_control():
            with connection.cursor() as cursor:
                cursor.execute("CREATE TABLE IF NOT EXISTS at_rest_control (x TEXT)")
                cursor.execute("INSERT INTO at_rest_control (x) VALUES (%s)", [control_db])

        await database_sync_to_async(write_control)()
        for socket in sockets.values():
            await socket.close()
    db = database_bytes()
    seen_by_redis = monitor.data()
    assert hits(db, control_db) and hits(seen_by_redis, control_redis)  # controls
    assert len(hits(db, control_db)) == 1 and len(hits(seen_by_redis, control_redis)) == 1
    assert any(b"PUBLISH" in line.upper() for line in monitor.lines)  # pushes went via Redis
    for text in texts:
        assert hits(db, text) == [], text
        assert hits(seen_by_redis, text) == [], text


def test_probe_forms_find_encoded_markers():
    """The base64 and hex probes find a marker embedded at every alignment (control)."""
    marker = "marker-" + secrets.token_hex(6)
    for pad in range(3):
        embedded = b"xx" + base64.b64encode(b"y" * pad + marker.encode()) + b"zz"
        assert hits(embedded, marker)
    assert hits(b"..." + marker.encode().hex().encode() + b"...", marker)
