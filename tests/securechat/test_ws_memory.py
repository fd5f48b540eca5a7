"""Websocket memory (issue 17, M1): the server refuses a frame over the protocol's limit
before buffering it, and one login or user cannot open sockets without bound.

- 16 logged-in sockets each send one 16 MiB text frame to a live uvicorn started as the
  Makefile and the unit start it (``--ws-max-size`` = the 64 KiB frame limit): the
  server's resident memory stays within a few MiB of where it was. Positive control: the
  same attack on a server started with uvicorn's default (16 MiB) grows it by hundreds
  of MiB, so the measurement does see buffering.
- Every place that starts a server passes the same limit (Makefile, the unit, the
  operations guide, the test harness, daphne's runserver settings).
- Sockets over the per-session or per-user cap are closed with 4429; closing one frees
  a place (control: the sockets under the cap work).
"""

from __future__ import annotations

import asyncio
import contextlib
import re

import psutil
import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from tests.messaging.wsclient import ChatClient
from tests.support.accounts import make_user, session_for
from tests.support.clients import ws_connect
from tests.support.live import REPO_ROOT, WS_MAX_SIZE, LiveServer
from tests.support.probes import PeakRss

MiB = 1024 * 1024
SOCKETS = 16
FRAME_BYTES = 16 * MiB  # uvicorn's default maximum: accepted whole without the limit


async def send_one_big_frame(server: LiveServer, cookie_header: str, text: str) -> None:
    """Open a logged-in socket, send ``text`` as one frame, wait until the server closes."""
    async with ws_connect(server.ws_url, server.origin, cookie_header,
                          close_timeout=5) as ws:
        with contextlib.suppress(Exception):
            await ws.send(text)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.wait_closed(), 60)


async def rss_growth_under_big_frames(server: LiveServer, cookie_header: str) -> int:
    """Bytes the server's RSS rose above its idle level while the 16 sockets sent 16 MiB."""
    text = "x" * FRAME_BYTES
    # Warm-up: one small socket, so first-use imports and caches are not counted.
    await send_one_big_frame(server, cookie_header, "{}")
    idle = psutil.Process(server.pid).memory_info().rss
    with PeakRss(server.pid, interval=0.01, children=False) as rss:
        await asyncio.gather(*(send_one_big_frame(server, cookie_header, text)
                               for _ in range(SOCKETS)))
        await asyncio.sleep(0.5)
    return rss.peak - idle


@pytest.fixture
def many_socket_server(transactional_db, redis_url, tmp_path):
    """Factory for a uvicorn whose socket caps let one login open the 16 sockets."""
    servers = []

    def start(*extra_args: str) -> LiveServer:
        server = LiveServer("uvicorn", tmp_path / f"server-{len(servers)}", extra_args=list(
            extra_args), extra_env={"SECURECHAT_WS_MAX_SOCKETS_PER_SESSION": "64",
                                    "SECURECHAT_WS_MAX_SOCKETS_PER_USER": "64"})
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


async def test_big_frames_do_not_grow_server_memory(many_socket_server):
    """16 × 16 MiB frames: under 16 MiB of growth with the limit, over 128 MiB without."""
    session = await database_sync_to_async(session_for)(
        await database_sync_to_async(make_user)())
    limited = many_socket_server()  # the harness passes --ws-max-size like the Makefile
    growth = await rss_growth_under_big_frames(limited, session.cookie_header)
    print(f"RSS growth with the limit: {growth / MiB:.1f} MiB")
    limited.stop()
    assert growth < 16 * MiB, f"RSS grew {growth / MiB:.0f} MiB with the limit"

    # Positive control: uvicorn's default maximum (the last --ws-max-size wins).
    unlimited = many_socket_server("--ws-max-size", str(FRAME_BYTES))
    growth = await rss_growth_under_big_frames(unlimited, session.cookie_header)
    print(f"RSS growth without it: {growth / MiB:.1f} MiB")
    assert growth > 128 * MiB, f"control: RSS grew only {growth / MiB:.0f} MiB"


def test_every_server_command_uses_the_frame_limit():
    """The Makefile, the unit, the operations guide and the harness pass the same limit."""
    limit = settings.SECURECHAT_WS_MAX_FRAME_BYTES
    assert limit == WS_MAX_SIZE == 64 * 1024
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^WS_MAX_SIZE := (\d+)$", makefile, re.M).group(1) == str(limit)
    assert "--ws-max-size $(WS_MAX_SIZE)" in makefile
    for path in ("deploy/systemd/securechat@.service", "docs/operations.md"):
        text = (REPO_ROOT / path).read_text()
        # Each uvicorn command, up to its end (a line without a continuation backslash).
        commands = re.findall(r"-m uvicorn securechat\.asgi:application(?:[^\n]*\\\n)*[^\n]*",
                              text)
        assert commands, path
        assert all(f"--ws-max-size {limit}" in command for command in commands), path
        assert set(re.findall(r"--ws-max-size (\d+)", text)) == {str(limit)}, path
    harness = LiveServer("uvicorn", REPO_ROOT / "unused").command()
    assert harness[harness.index("--ws-max-size") + 1] == str(limit)
    daphne = LiveServer("daphne", REPO_ROOT / "unused").command()
    assert daphne[daphne.index("--websocket-max-message-size") + 1] == str(limit)
    assert settings.DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE == limit  # manage.py runserver
    assert settings.DAPHNE_WEBSOCKET_MAX_FRAME_SIZE == limit


async def open_socket(session) -> ChatClient:
    return await ChatClient(session).connect()


async def test_sockets_over_the_session_and_user_caps_close_4429(transactional_db, settings):
    """Cap 2 per session, 3 per user: the third socket of a session and the fourth of a user
    close 4429; the others answer pings; closing one lets a new one in."""
    settings.SECURECHAT_WS_MAX_SOCKETS_PER_SESSION = 2
    settings.SECURECHAT_WS_MAX_SOCKETS_PER_USER = 3
    user = await database_sync_to_async(make_user)()
    first = await database_sync_to_async(session_for)(user)
    second = await database_sync_to_async(session_for)(user)
    a1, a2 = await open_socket(first), await open_socket(first)
    over_session = await open_socket(first)
    assert await over_session.closed_with() == 4429
    b1 = await open_socket(second)
    over_user = await open_socket(second)
    assert await over_user.closed_with() == 4429
    for client in (a1, a2, b1):  # control: sockets within the caps work
        assert (await client.request({"type": "ping"}))["type"] == "pong"
    await a1.close()
    await asyncio.sleep(0.2)  # the consumer's cleanup releases the place
    again = await open_socket(first)
    assert (await again.request({"type": "ping"}))["type"] == "pong"
    for client in (a2, b1, again):
        await client.close()
