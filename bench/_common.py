"""Helpers the benchmarks share: a free port and waiting for it, a private redis-server,
the uvicorn command line, a throwaway server environment and one uvicorn serving it, a
process RSS sampler, file pieces, percentiles, and the machine line every report starts
with (CPU model, cores, load average)."""

from __future__ import annotations

import collections
import contextlib
import datetime
import functools
import http.server
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

PIECE = 1024 * 1024
# Debian's Chromium, driven by Playwright in the browser benches.
CHROMIUM = os.environ.get("SECURECHAT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    """Until something listens on ``port``; fails when ``process`` exits first or after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process for port {port} exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start_redis(port: int) -> subprocess.Popen:
    """A private redis-server on ``port`` without persistence (the caller stops it)."""
    return subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def uvicorn_command(port: int, *extra: str) -> list[str]:
    """uvicorn serving the site on ``port`` as ``make run`` does (its sans-I/O websockets),
    quiet; ``extra`` options are appended."""
    return [sys.executable, "-m", "uvicorn", "securechat.asgi:application", "--host",
            "127.0.0.1", "--port", str(port), "--log-level", "warning", "--ws",
            "websockets-sansio", *extra]


def percentile_ms(values, q: float) -> float:
    """The ``q`` quantile (0..1, nearest rank) of ``values`` in seconds, as milliseconds;
    NaN when there are none."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: a shared machine's benchmarks say how busy it
    was."""
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores, load average {load_average()}"


def utc_now() -> str:
    return f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC"


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


def launch_chromium(playwright):
    """Debian's Chromium through Playwright, as every browser bench runs it."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def serve_directory(root: Path, headers: dict[str, str] | None = None
                    ) -> http.server.ThreadingHTTPServer:
    """A quiet static server of ``root`` on a free port (in a daemon thread), adding
    ``headers`` to every answer; ``shutdown()`` it after use."""
    extra = headers or {}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def end_headers(self):
            for name, value in extra.items():
                self.send_header(name, value)
            super().end_headers()

        def log_message(self, format, *args):  # noqa: A002 - the base class's signature
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


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
            uvicorn_command(port), cwd=root, env={**os.environ, **env}, stdout=log,
            stderr=subprocess.STDOUT)
        try:
            wait_for_health(f"http://127.0.0.1:{port}")
            yield server
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)


def self_times(nodes: list[dict], rows: int = 12) -> str:
    """The top self-time functions of a CDP profile's nodes, as share of the busy samples."""
    hits = collections.Counter()
    for node in nodes:
        frame = node["callFrame"]
        name = frame["functionName"] or "(anonymous)"
        url = frame["url"]
        where = "(worker bundle)" if url.startswith("blob:") else url.rsplit("/", 1)[-1]
        hits[f"{name} {where}".strip()] += node.get("hitCount", 0)
    idle = hits.pop("(idle)", 0)
    busy = sum(hits.values()) or 1
    lines = [f"{count / busy:6.1%}  {name}" for name, count in hits.most_common(rows)]
    return f"(busy {busy / (busy + idle):.0%} of the samples)\n" + "\n".join(lines)
