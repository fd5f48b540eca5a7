"""Bodies are refused before they are spooled (issue 17; securechat/body_limits.py).

- Live: an unauthenticated 40 MiB POST to the login endpoint, declared by Content-Length or
  streamed chunked, gets 413 ``too_big`` while the client is still sending, and the server
  process never holds a temporary file (its open file descriptors and its TMPDIR are
  watched during the upload). Positive control: the same POST to the same application
  without the guard is spooled to a temporary file in TMPDIR, which the probe sees.
- In process: the limit per route comes from the one table in settings, a body within it
  reaches Django whole, a body over it never reaches Django, and Django's own limits equal
  the largest entry.
"""

from __future__ import annotations

import json
import os
import select
import socket
from pathlib import Path

import pytest
from django.conf import settings

from securechat.body_limits import BodySizeGuard, body_limit_for
from tests.support.live import LiveServer

MiB = 1024 * 1024
LOGIN = "/api/v1/auth/login"


class TempFileWatch:
    """What a process holds open under the temporary directories, and what TMPDIR contains."""

    def __init__(self, pid: int, tmpdir: Path):
        self.pid, self.tmpdir = pid, tmpdir
        self.seen: set[str] = set()

    def look(self) -> None:
        fd_dir = Path(f"/proc/{self.pid}/fd")
        for fd in os.listdir(fd_dir):
            if int(fd) <= 2:
                continue  # stdin, and the server's log as stdout/stderr
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue  # closed meanwhile
            # Unnamed temporary files (O_TMPFILE) show as "<dir>/#123 (deleted)".
            if target.startswith((str(self.tmpdir), "/tmp", "/var/tmp")):
                self.seen.add(target)
        self.seen.update(str(p) for p in self.tmpdir.iterdir())


def post_streaming(port: int, path: str, total: int, *, chunked: bool,
                   watch: TempFileWatch) -> tuple[int, dict]:
    """POST ``total`` bytes in 64 KiB pieces, looking at the server between pieces; stop
    sending as soon as an answer arrives. Returns the status and the JSON body."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                 f"Content-Type: application/json\r\n{framing}\r\n\r\n".encode())
    piece = b"x" * (64 * 1024)
    if chunked:
        piece = b"%x\r\n%s\r\n" % (len(piece), piece)
    sent = 0
    with sock:
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            watch.look()
            if readable:
                break  # the server answered before the body was complete
            try:
                sock.sendall(piece)
            except OSError:
                break  # the server closed its side; its answer is waiting
            sent += 64 * 1024
        if chunked and sent >= total:
            sock.sendall(b"0\r\n\r\n")
        watch.look()
        return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    length = int(headers.get("content-length", 0))
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return int(lines[0].split()[1]), json.loads(body) if body else {}


@pytest.fixture
def server_with_tmpdir(transactional_db, redis_url, tmp_path):
    """Factory: a uvicorn serving ``app`` with its own TMPDIR; stopped after the test."""
    servers = []

    def start(app: str = "securechat.asgi:application") -> tuple[LiveServer, Path]:
        workdir = tmp_path / f"server-{len(servers)}"
        tmpdir = workdir / "tmp"
        tmpdir.mkdir(parents=True)
        server = LiveServer("uvicorn", workdir, app=app, extra_env={"TMPDIR": str(tmpdir)})
        servers.append(server)
        return server.start(), tmpdir

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_40_mib_login_post_is_refused_before_any_spooling(server_with_tmpdir, chunked):
    server, tmpdir = server_with_tmpdir()
    watch = TempFileWatch(server.pid, tmpdir)
    status, body = post_streaming(server.port, LOGIN, 40 * MiB, chunked=chunked, watch=watch)
    assert (status, body["error"], body["limit"]) == (413, "too_big", 64 * 1024)
    assert watch.seen == set()


def test_control_without_the_guard_django_spools_the_body(server_with_tmpdir):
    """Positive control: the probe sees the temporary file Django writes the body to."""
    server, tmpdir = server_with_tmpdir("tests.support.unguarded_asgi:application")
    watch = TempFileWatch(server.pid, tmpdir)
    status, _ = post_streaming(server.port, LOGIN, 40 * MiB, chunked=False, watch=watch)
    assert status != 413
    assert any(seen.startswith(str(tmpdir)) for seen in watch.seen), watch.seen


# --- In process --------------------------------------------------------------------------

def test_limits_come_from_one_table_and_django_limits_equal_the_largest():
    assert body_limit_for(LOGIN) == settings.SECURECHAT_BODY_LIMITS["default"] == 64 * 1024
    messages = "/api/v1/v2/conversations/" + "ab" * 16 + "/messages"
    assert body_limit_for(messages) == 96 * 1024
    assert body_limit_for(messages + "/" + "cd" * 32 + "/unsend") == 64 * 1024
    largest = max(settings.SECURECHAT_BODY_LIMITS.values())
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == largest
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE >= largest  # a body let through stays in memory


async def run_guard(path: str, pieces: list[bytes], declared: int | None = None):
    """Feed ``pieces`` through the guard to a recording app: (sent messages, body seen, read)."""
    seen = {}
    reads = []

    async def inner(scope, receive, send):
        message = await receive()
        seen["body"] = message["body"]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    queue = [{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1}
             for i, p in enumerate(pieces)]

    async def receive():
        reads.append(1)
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    await BodySizeGuard(inner)(scope, receive, send)
    return sent, seen.get("body"), len(reads)


async def test_a_body_within_the_limit_reaches_django_whole():
    sent, body, _ = await run_guard("/api/v1/v2/conversations/" + "ab" * 16 + "/messages",
                                    [b"a" * 45_000, b"b" * 45_000])
    assert sent[0]["status"] == 204 and body == b"a" * 45_000 + b"b" * 45_000


async def test_an_oversized_body_never_reaches_django():
    """Declared too big: 413 with nothing read. Streamed: 413 once past the limit, the rest
    unread. Control: one byte less passes."""
    sent, body, reads = await run_guard(LOGIN, [b"x" * 10], declared=64 * 1024 + 1)
    assert (sent[0]["status"], body, reads) == (413, None, 0)
    error = json.loads(sent[1]["body"])
    assert error == {"error": "too_big", "detail": error["detail"], "limit": 64 * 1024}
    sent, body, reads = await run_guard(LOGIN, [b"x" * 40_000] * 5)
    assert (sent[0]["status"], body, reads) == (413, None, 2)
    sent, body, _ = await run_guard(LOGIN, [b"x" * 32 * 1024] * 2)
    assert sent[0]["status"] == 204 and len(body) == 64 * 1024
