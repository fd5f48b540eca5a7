"""Real server processes for tests: uvicorn or daphne on a free port.

A server runs ``securechat`` with the test settings against the test
database that pytest-django created (a file for SQLite, ``test_…`` on
PostgreSQL), the test Redis, its own MEDIA_ROOT and a file mail outbox, so
tests can read verification links the way a user reads email.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 30
# The server's websocket maximum size: the protocol's frame limit, as in the Makefile and
# deploy/ (settings.SECURECHAT_WS_MAX_FRAME_BYTES; tests/securechat/test_ws_memory.py).
WS_MAX_SIZE = 64 * 1024


# Ports for what the tests start: below the kernel's ephemeral range (32768 up, where the
# local ports of outgoing connections come from) and, under pytest-xdist, a block of its
# own per worker, so that two test processes never pick one port between its check and its
# use. Handed out in turn from a random start: a process never repeats one soon.
PORT_BLOCK = 3000
FIRST_PORT = 20000
_worker_index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_block_start = FIRST_PORT + _worker_index * PORT_BLOCK
_first_offset = random.randrange(PORT_BLOCK)
_next_ports = (_block_start + (_first_offset + turn) % PORT_BLOCK for turn in itertools.count())


def free_port() -> int:
    """A port of this process's block that nothing holds now."""
    for _ in range(PORT_BLOCK):
        port = next(_next_ports)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_block_start}-{_block_start + PORT_BLOCK - 1}")


def database_env() -> dict[str, str]:
    """Environment pointing a server process at the current (test) database."""
    from django.db import connection

    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return {"SQLITE_PATH": str(settings_dict["NAME"]), "DATABASE_URL": ""}
    url = urlsplit(os.environ["DATABASE_URL"])
    return {"DATABASE_URL": urlunsplit(url._replace(path="/" + settings_dict["NAME"]))}


def postgres_admin_url() -> str:
    """The maintenance database of the PostgreSQL server the suite uses (``PG_URL``, as in
    the Makefile), for tests that make their own role or database there, or proxy it."""
    url = urlsplit(os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432/securechat"))
    return urlunsplit(url._replace(path="/postgres"))


@dataclass
class LiveServer:
    """One server process. ``start()`` waits until the health endpoint answers."""

    kind: str  # "uvicorn" or "daphne"
    workdir: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)  # appended to the server command
    app: str = "securechat.asgi:application"  # the ASGI application uvicorn serves
    # Serve through the §9 recorder (tests/support/recorder.py) into ``record_path``.
    record: bool = False
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    @property
    def origin(self) -> str:
        return self.url

    @property
    def media_root(self) -> Path:
        return self.workdir / "media"

    @property
    def mail_dir(self) -> Path:
        return self.workdir / "mail"

    @property
    def record_path(self) -> Path:
        """The recorder's JSON lines (``record=True``); outside MEDIA_ROOT."""
        return self.workdir / "record.jsonl"

    def environment(self) -> dict[str, str]:
        from django.conf import settings

        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "tests.settings",
                "SECRET_KEY": settings.SECRET_KEY,
                # The server must open the TOTP seeds the test process sealed.
                "SECURECHAT_TOTP_KEY": settings.SECURECHAT_TOTP_KEY,
                "SECURECHAT_ORIGINS": self.origin,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "MEDIA_ROOT": str(self.media_root),
                "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                "EMAIL_FILE_PATH": str(self.mail_dir),
                "REDIS_URL": settings.REDIS_URL,
                "SECURECHAT_CHANNEL_PREFIX": settings.CHANNEL_LAYER_PREFIX,
                "SECURECHAT_SCRYPT_WORK_FACTOR": str(settings.SECURECHAT_SCRYPT_WORK_FACTOR),
                "SECURECHAT_KEY_TYPE": settings.SECURECHAT_KEY_TYPE,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(database_env())
        if self.record:
            env["SECURECHAT_TEST_RECORD_FILE"] = str(self.record_path)
        env.update(self.extra_env)
        return {k: v for k, v in env.items() if v is not None}

    def command(self) -> list[str]:
        if self.kind == "uvicorn":
            app = "tests.support.recorder:application" if self.record else self.app
            return [sys.executable, "-m", "uvicorn", app,
                    "--host", "127.0.0.1", "--port", str(self.port), "--ws", "websockets-sansio",
                    "--ws-max-size", str(WS_MAX_SIZE), "--log-level", "info", *self.extra_args]
        if self.kind == "daphne":
            return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                    "--websocket-max-message-size", str(WS_MAX_SIZE),
                    "--websocket-max-frame-size", str(WS_MAX_SIZE),
                    *self.extra_args, "tests.support.recorder:daphne_application"
                    if self.record else "securechat.asgi_daphne:application"]
        raise ValueError(f"unknown server kind {self.kind!r}")

    def start(self) -> LiveServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.media_root.mkdir(exist_ok=True)
        self.mail_dir.mkdir(exist_ok=True)
        self.log_path = self.workdir / f"{self.kind}-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            self.command(), cwd=REPO_ROOT, env=self.environment(),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited early:\n{self.log()}")
            try:
                httpx.get(self.url + "/api/v1/health", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(
            f"{self.kind} did not answer in {STARTUP_TIMEOUT_SECONDS}s:\n{self.log()}")

    def clear_files(self) -> None:
        """Deletes every file under MEDIA_ROOT and the mail outbox (directories stay): a
        server shared by a module's tests starts each test as a new one would."""
        for directory in (self.media_root, self.mail_dir):
            for path in sorted(directory.rglob("*"), reverse=True):
                if path.is_file() or path.is_symlink():
                    path.unlink()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup runs, like a power cut."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()


@dataclass
class RedisServer:
    """A throwaway ``redis-server`` on a free port, never the machine's shared one.

    Fault tests stop and restart it (same port, empty: ``--save ''``, no AOF) to
    play a Redis outage. ``with RedisServer() as redis_server:`` starts it and
    stops it at the end.
    """

    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> RedisServer:
        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited on port {self.port}")
            try:
                redis.from_url(self.url, socket_timeout=1).ping()
                return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            self.process.wait(10)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
