"""Helpers the benchmarks share: a free port, a process RSS sampler, file pieces, and
a throwaway server environment (bench/files.py, bench/cli_files.py) and one uvicorn
serving it (the browser benches)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

PIECE = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RssSampler:
    """``with sampler:`` samples a process's RSS every 20 ms; ``peak`` is the highest seen
    since entering (starting from the RSS at entry)."""

    def __init__(self, pid: int):
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except Exception:  # noqa: BLE001 - the process may be gone at the end
                return
            time.sleep(0.02)

    def rss(self) -> int:
        return self.proc.memory_info().rss

    def __enter__(self):
        self.peak = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop.clear()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def file_pieces(path: Path, digest):
    """The file in PIECE-sized reads, each fed to ``digest`` as it goes."""
    with open(path, "rb") as f:
        while True:
            data = f.read(PIECE)
            if not data:
                return
            digest.update(data)
            yield data


def server_env(work: Path, origin: str, **extra: str) -> dict[str, str]:
    """Settings for a throwaway server process on SQLite under ``work``: no Redis, a fresh
    secret key, quiet logs; ``extra`` adds or overrides."""
    return {
        "DJANGO_SETTINGS_MODULE": "securechat.settings",
        "SECURECHAT_VAR_DIR": str(work / "var"),
        "SQLITE_PATH": str(work / "db.sqlite3"),
        "DATABASE_URL": "",
        "MEDIA_ROOT": str(work / "media"),
        "SECRET_KEY": "bench-" + os.urandom(16).hex(),
        "SECURECHAT_ORIGINS": origin,
        "ALLOWED_HOSTS": "127.0.0.1",
        "REDIS_URL": "",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def wait_for_health(origin: str, tries: int = 300) -> None:
    import httpx

    for _ in range(tries):
        try:
            httpx.get(origin + "/api/v1/health", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"the server at {origin} did not answer")


@contextlib.contextmanager
def uvicorn_serving(work: Path, port: int, env: dict[str, str]):
    """One uvicorn on ``port`` with ``env`` over this process's environment (its log in
    ``work``), answering health checks inside the block, stopped (SIGINT) after it."""
    root = Path(__file__).resolve().parent.parent
    with open(work / "server.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "securechat.asgi:application", "--host",
             "127.0.0.1", "--port", str(port), "--log-level", "warning", "--ws",
             "websockets-sansio"],
            cwd=root, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_health(f"http://127.0.0.1:{port}")
            yield server
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
