"""The DESIGN.md §9 probes: look for secrets everywhere a server could keep or pass them.

``Probe(secrets).search(haystacks)`` looks for every secret in every
``(place, bytes)`` haystack, in each form of :func:`forms` — raw (and, for
text, lower and upper case), hex (lower, upper), standard and URL-safe base64
at the three byte alignments (the secret starting at offset 0, 1 or 2 mod 3
of a longer encoded stream: only the characters that depend on the secret
alone, so it is found wherever it sits; and the padded tail of a stream the
secret ends), percent-encoded (upper and lower hex, ``+`` for space) and
JSON-escaped (ASCII-only and UTF-8). Each :class:`ProbeFinding` names the secret,
the place and the forms that matched. ``leaks(text, secrets)`` is the same
search over one page or log text, for the operations tests.

The haystacks come from the places a server keeps or passes bytes:

- :func:`record_haystacks`: the recorder file (tests/support/recorder.py),
  per connection: path, query, every request and response header, the
  reassembled request and response bodies, every websocket frame both ways;
- :func:`database_haystacks`: the SQLite file and its ``-wal`` (free pages
  included), or a ``pg_dump`` of the test database on PostgreSQL (also with its bytea
  values and COPY escapes decoded);
- :class:`RedisMonitor`: ``MONITOR`` on the server's Redis during the flow,
  its escaped arguments decoded back to bytes;
- :func:`tree_haystacks`: every file under MEDIA_ROOT (or any directory);
- :func:`log_haystacks`: the server's log (run it at DEBUG); findings name the line;
- :func:`open_file_haystacks`: every regular file the server process holds
  open (``/proc/PID/fd``, deleted ones included), read through the descriptor;
  :class:`OpenFileSampler` does the same every 20 ms during the flow, for
  temporary files that are closed again before the end.

:func:`planted` builds the bytes that carry a secret in one form, for the
positive controls that plant each form in each place.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import stat
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus, urlsplit

from tests.support.recorder import conversations, read_record

MIN_NEEDLE = 8  # shorter needles would match by chance in megabytes of database
ALIGNMENTS = (0, 1, 2)
B64 = {"base64": base64.b64encode, "base64url": base64.urlsafe_b64encode}


def _raw(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def _b64_core(encode, secret: bytes, offset: int) -> bytes:
    """The characters of ``encode(prefix ‖ secret ‖ suffix)`` that only the secret decides,
    for a prefix of ``offset`` bytes (mod 3) and any suffix."""
    text = encode(bytes(offset) + secret)
    first = -(-offset * 8 // 6)  # the first character wholly inside the secret
    last = (offset + len(secret)) * 8 // 6  # characters before the secret's end
    return text[first:last]


def _b64_padded(encode, secret: bytes, offset: int) -> bytes:
    """The tail of a stream that ends with the secret, padding included."""
    text = encode(bytes(offset) + secret)
    return text[-(-offset * 8 // 6):]


def forms(secret: str | bytes) -> dict[str, bytes]:
    """Form name -> the bytes that form leaves in a haystack."""
    raw = _raw(secret)
    out = {"raw": raw, "hex": raw.hex().encode(), "HEX": raw.hex().upper().encode()}
    if isinstance(secret, str):
        out["raw lowercase"] = secret.lower().encode("utf-8")
        out["raw uppercase"] = secret.upper().encode("utf-8")
    for name, encode in B64.items():
        for offset in ALIGNMENTS:
            out[f"{name} at offset {offset}, unpadded"] = _b64_core(encode, raw, offset)
            out[f"{name} at offset {offset}, padded"] = _b64_padded(encode, raw, offset)
    out["percent-encoded"] = quote(raw, safe="").encode()
    out["percent-encoded, path"] = quote(raw).encode()  # "/" kept, as in a URL path
    out["percent-encoded, lower hex"] = re.sub(
        rb"%[0-9A-F]{2}", lambda m: m.group().lower(), out["percent-encoded"])
    out["form-encoded"] = quote_plus(raw, safe="").encode()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None  # JSON carries text only: binary secrets travel encoded
    if text is not None:
        out["JSON-escaped"] = json.dumps(text)[1:-1].encode()
        out["JSON-escaped, UTF-8"] = json.dumps(text, ensure_ascii=False)[1:-1].encode()
        out["JSON-escaped, slashes"] = out["JSON-escaped"].replace(b"/", b"\\/")
    return {name: needle for name, needle in out.items() if len(needle) >= MIN_NEEDLE}


def planted(secret: str | bytes, form: str) -> bytes:
    """Bytes that carry ``secret`` in ``form`` inside a larger stream (for positive controls):
    base64 forms are encoded together with random neighbours at the named offset."""
    raw = _raw(secret)
    for name, encode in B64.items():
        for offset in ALIGNMENTS:
            if form == f"{name} at offset {offset}, unpadded":
                return b"=" + encode(os.urandom(3 + offset) + raw + os.urandom(5)) + b"="
            if form == f"{name} at offset {offset}, padded":
                return b"=" + encode(os.urandom(3 + offset) + raw) + b";"
    return b"<" + forms(secret)[form] + b">"


@dataclass(frozen=True)
class ProbeFinding:
    secret: str
    place: str
    forms: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.secret!r} in {self.place} as {' / '.join(self.forms)}"


class Probe:
    """Searches haystacks for every form of every secret (``label -> str | bytes``)."""

    def __init__(self, secrets: dict[str, str | bytes]) -> None:
        self.needles: list[tuple[str, bytes, tuple[str, ...]]] = []
        for label, secret in secrets.items():
            if len(_raw(secret)) < 12:
                raise ValueError(f"secret {label!r} is too short to probe for reliably")
            by_needle: dict[bytes, list[str]] = {}
            for name, needle in forms(secret).items():
                by_needle.setdefault(needle, []).append(name)
            self.needles += [(label, n, tuple(names)) for n, names in by_needle.items()]

    def search(self, haystacks: Iterable[tuple[str, bytes]]) -> list[ProbeFinding]:
        found: dict[tuple[str, str], list[str]] = {}
        for place, data in haystacks:
            for label, needle, names in self.needles:
                at = data.find(needle)
                if at < 0:
                    continue
                where = place
                if place.startswith("server log"):
                    line = data.count(b"\n", 0, at) + 1
                    where = f"{place} line {line}"
                found.setdefault((label, where), []).extend(names)
        return [ProbeFinding(label, where, tuple(names)) for (label, where), names in found.items()]


def leaks(haystack: str | bytes, secrets: dict[str, str | bytes]) -> list[str]:
    """Labels of the secrets found in one page or log text, in any form (sorted)."""
    data = haystack.encode("utf-8") if isinstance(haystack, str) else bytes(haystack)
    return sorted({finding.secret for finding in Probe(secrets).search([("text", data)])})


def without(findings: list[ProbeFinding],
            allowed: dict[str, tuple[str, ...]]) -> list[ProbeFinding]:
    """``findings`` minus those of a secret in a place it may be (label -> place prefixes)."""
    return [f for f in findings if not f.place.startswith(allowed.get(f.secret, ()) or "\0")]


# --- where the bytes are ---------------------------------------------------------------


def record_haystacks(path: Path) -> list[tuple[str, bytes]]:
    """Every part of every connection the recorder saw, named by request and part."""
    out = []
    for conv in conversations(read_record(path)):
        for where, data in conv.pieces():
            if data:
                out.append((f"recorder: {conv.label} {where} (connection {conv.conn})", data))
    return out


def read_database_file(path: Path) -> bytes:
    """The bytes of a SQLite file this process may have open, read by a child process.

    Opening and closing the file here would drop every POSIX lock this process holds
    on it (fcntl locks belong to the process, not the descriptor): SQLite's own
    connection would then believe it is alone, delete the ``-wal`` and ``-shm`` files at
    its next close, and go on reading an orphaned WAL while the live servers write a new
    one (seen: users a server had just made missing from the test process).
    """
    return subprocess.run(["cat", str(path)], capture_output=True, check=True,
                          timeout=120).stdout


def database_haystacks() -> list[tuple[str, bytes]]:
    """The test database as stored: the SQLite file and ``-wal``, or a PostgreSQL dump."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        out = []
        for suffix in ("", "-wal", "-journal"):
            path = Path(f"{name}{suffix}")
            if path.exists():
                out.append((f"database file {path.name}", read_database_file(path)))
        return out
    url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + name).geturl()
    dump = subprocess.run(["pg_dump", "--no-owner", "--dbname", url], capture_output=True,
                          check=True, timeout=120).stdout
    return [("database dump (pg_dump)", dump),
            ("database dump (bytea decoded)", _BYTEA.sub(lambda m: bytes.fromhex(
                m.group(1).decode()), dump)),
            ("database dump (COPY text unescaped)", _COPY_ESCAPE.sub(
                lambda m: _COPY_CHARS[m.group(1)], dump))]


# pg_dump writes bytea as \\x<hex> in COPY text (the backslash escaped) and escapes
# backslash, newline, tab and carriage return in text columns: undo both, or a value
# stored in bytea or containing a backslash would hide from every form but hex.
_BYTEA = re.compile(rb"\\\\?x((?:[0-9a-f]{2})+)")
_COPY_ESCAPE = re.compile(rb"\\([\\ntr])")
_COPY_CHARS = {b"\\": b"\\", b"n": b"\n", b"t": b"\t", b"r": b"\r"}


def tree_haystacks(root: Path, place: str = "media") -> list[tuple[str, bytes]]:
    return [(f"{place} file {p.relative_to(root)}", p.read_bytes())
            for p in sorted(Path(root).rglob("*")) if p.is_file()]


def log_haystacks(path: Path) -> list[tuple[str, bytes]]:
    return [(f"server log {Path(path).name}", Path(path).read_bytes())]


def _read_open_file(fd: Path, target: str) -> bytes:
    """A file another process holds open, read through its descriptor; a SQLite file
    (the database, its ``-wal`` or ``-shm``) by a child process, as
    :func:`read_database_file` explains."""
    if target.split(" (deleted)")[0].endswith((".sqlite3", ".sqlite3-wal", ".sqlite3-shm",
                                               ".db", "-wal", "-shm", "-journal")):
        return read_database_file(fd)
    with open(fd, "rb") as f:
        return f.read()


def open_file_haystacks(pid: int) -> list[tuple[str, bytes]]:
    """Regular files the process holds open, read through its descriptors (deleted too)."""
    out = []
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in sorted(fd_dir.iterdir(), key=lambda p: int(p.name)):
        try:
            target = os.readlink(fd)
            if not stat.S_ISREG(os.stat(fd).st_mode):
                continue
            out.append((f"open file fd {fd.name} -> {target}", _read_open_file(fd, target)))
        except (FileNotFoundError, PermissionError, subprocess.CalledProcessError):
            continue  # closed while we looked
    return out


class OpenFileSampler:
    """Reads, every ``interval`` seconds in a thread, the regular files a process holds
    open that are not under ``skip`` (places probed whole anyway: the database, the log,
    MEDIA_ROOT) — so a temporary file opened and closed mid-flow is caught too. Each
    (target, size) is read once."""

    def __init__(self, pid: int, skip: Iterable[str | os.PathLike], interval: float = 0.02):
        self.pid, self.interval = pid, interval
        self.skip = tuple(str(Path(s)) for s in skip)
        self.seen: dict[tuple[str, int], bytes] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                fds = list(Path(f"/proc/{self.pid}/fd").iterdir())
            except FileNotFoundError:
                return  # the process ended
            for fd in fds:
                try:
                    target = os.readlink(fd)
                    size = os.stat(fd).st_size
                    if (not stat.S_ISREG(os.stat(fd).st_mode) or target.startswith(self.skip)
                            or (target, size) in self.seen):
                        continue
                    self.seen[(target, size)] = _read_open_file(fd, target)
                except (FileNotFoundError, PermissionError, ProcessLookupError,
                        subprocess.CalledProcessError):
                    continue

    def haystacks(self) -> list[tuple[str, bytes]]:
        self.stopped.set()
        self.thread.join(5)
        return [(f"open file (sampled) {target}, {size} bytes", data)
                for (target, size), data in self.seen.items()]


_MONITOR_ARG = re.compile(rb'"((?:[^"\\]|\\.)*)"')
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b",
            b'"': b'"', b"\\": b"\\"}


def unescape_monitor_line(line: bytes) -> bytes:
    """The arguments of one MONITOR line, as the bytes the client sent, joined by newlines
    (MONITOR prints each argument quoted, with ``\\xHH`` and C escapes)."""
    args = []
    for quoted in _MONITOR_ARG.findall(line):
        out, i = bytearray(), 0
        while i < len(quoted):
            if quoted[i:i + 1] == b"\\" and i + 1 < len(quoted):
                nxt = quoted[i + 1:i + 2]
                if nxt == b"x" and i + 3 < len(quoted):
                    out.append(int(quoted[i + 2:i + 4], 16))
                    i += 4
                    continue
                out += _ESCAPES.get(nxt, b"\\" + nxt)
                i += 2
                continue
            out += quoted[i:i + 1]
            i += 1
        args.append(bytes(out))
    return b"\n".join(args)


class RedisMonitor:
    """``MONITOR`` on its own connection, read in a thread from start to :meth:`stop`."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port or 6379), timeout=0.2)
        self.sock.sendall(b"MONITOR\r\n")
        self.data = bytearray()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            self.data += chunk

    def stop(self) -> bytes:
        if not self.stopped.is_set():
            self.stopped.set()
            self.thread.join(5)
            self.sock.close()
        return bytes(self.data)

    def haystacks(self) -> list[tuple[str, bytes]]:
        raw = self.stop()
        decoded = b"\n".join(unescape_monitor_line(line) for line in raw.split(b"\r\n"))
        return [("redis MONITOR (decoded arguments)", decoded), ("redis MONITOR (raw)", raw)]


class PeakRss:
    """Samples a process's resident memory (with its children's when ``children``) every
    ``interval`` seconds in a thread, from entering the block to leaving it: ``peak`` is
    the most seen, ``growth`` the peak above the RSS at entry."""

    def __init__(self, pid: int, *, interval: float = 0.02, children: bool = True):
        import psutil

        self.process = psutil.Process(pid)
        self.interval, self.children = interval, children
        self.peak = self.start = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        procs = [self.process, *(self.process.children(recursive=True) if self.children else ())]
        return sum(p.memory_info().rss for p in procs)

    def _run(self):
        import psutil

        while not self._stop.wait(self.interval):
            with contextlib.suppress(psutil.Error):  # a child may end between the two calls
                self.peak = max(self.peak, self.rss())

    def __enter__(self):
        self.start = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.start
