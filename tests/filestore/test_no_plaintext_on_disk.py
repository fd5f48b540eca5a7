"""No plaintext of a file and no one-time identity ever reach the server (DESIGN.md §6, §9).

During a throttled tuspy upload of a client-encrypted file, the shared probes
(tests/support/probes.py) read, again and again, every regular file the
server process holds open (``/proc/<pid>/fd``, unlinked temporary files
included), every file under its MEDIA_ROOT and every file of the system temp
directory (top level) written during the flow; after it, also the database
(SQLite file and ``-wal``). They look for a distinctive random marker of the
plaintext and for the file's one-time identity, in every form
``probes.forms`` knows (raw, hex, base64 at each alignment, …). Positive
control: the same sampling, while the same plaintext goes to a plain Django
upload view (``request.FILES``) on a second server, finds the marker — Django
spools the body to a temporary file.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.filestore.throttle import ThrottlingProxy
from tests.filestore.v2_support import UPLOADS, age_file, download, path_of, sha256, v2_member
from tests.support.probes import OpenFileSampler, Probe, database_haystacks

pytestmark = pytest.mark.usefixtures("fresh_rate_limits")

MARKER = os.urandom(48)
PLAINTEXT = MARKER * (6 * 1024 * 1024 // len(MARKER))
RATE = 3 * 1024 * 1024
MAX_READ = 64 * 1024 * 1024  # other processes' big files in the temp dir are not ours
# Where the server spools: its TMPDIR (inherited), else /tmp; and this process's idea of it
# (tempfile caches the first answer), in case the two differ.
TEMP_DIRS = sorted({Path(os.environ.get("TMPDIR") or "/tmp"), Path(tempfile.gettempdir())})


class TreeSampler:
    """Reads, every 20 ms in a thread, each file under ``roots`` (and the top level of the
    temp directory) changed since it started; each (path, size) once."""

    def __init__(self, roots: list[Path]):
        self.roots, self.started = roots, time.time() - 1
        self.seen: dict[tuple[str, int], bytes] = {}
        self.rounds = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _files(self):
        for root in self.roots:
            yield from (p for p in root.rglob("*") if p.is_file())
        for directory in TEMP_DIRS:
            yield from (p for p in directory.iterdir() if p.is_file())

    def _run(self) -> None:
        while not self.stopped.wait(0.02):
            self._round()

    def _round(self) -> None:
        for path in self._files():
            try:
                stat = path.stat()
                if (stat.st_mtime < self.started or stat.st_size > MAX_READ
                        or (str(path), stat.st_size) in self.seen):
                    continue
                self.seen[(str(path), stat.st_size)] = path.read_bytes()
            except OSError:
                continue  # gone, or not ours to read
        self.rounds += 1

    def haystacks(self) -> list[tuple[str, bytes]]:
        self.stopped.set()
        self.thread.join(5)
        # One round after the flow: the last bytes may land after the thread's last round
        # (on a loaded machine a round reading the temp dir takes longer than the tail).
        self._round()
        return [(f"file {path}, {size} bytes", data) for (path, size), data in self.seen.items()]


def watched(server, flow) -> tuple[list, int]:
    """Run ``flow`` while sampling the server's open files, MEDIA_ROOT and the temp dir."""
    from django.db import connection

    # The database is probed whole afterwards; MEDIA_ROOT by the tree sampler.
    database = str(connection.settings_dict["NAME"])
    files = OpenFileSampler(server.pid, skip=[server.media_root, database])
    tree = TreeSampler([server.media_root])
    flow()
    return files.haystacks() + tree.haystacks(), tree.rounds


def test_tus_upload_leaves_no_plaintext_or_identity_anywhere_the_server_writes(start_server):
    server = start_server("uvicorn")
    alice = v2_member(server)
    data, identity = age_file(PLAINTEXT)
    probe = Probe({"plaintext marker": MARKER, "one-time identity": str(identity)})
    proxy = ThrottlingProxy(server.port, bytes_per_second=RATE)
    done = []

    def upload():
        tus = alice.tus(server)
        tus.url = proxy.url + UPLOADS
        uploader = tus.uploader(file_stream=io.BytesIO(data), chunk_size=len(data) + 1,
                                retries=0)
        uploader.upload()
        done.append(path_of(uploader.url))

    haystacks, rounds = watched(server, upload)
    proxy.close()
    assert done, "the upload must finish"
    assert rounds >= 3, "the probe must run during the upload"
    assert any(data[-4096:] in hay for _, hay in haystacks), "the probe must see the blob"
    assert probe.search(haystacks + database_haystacks()) == []
    # The upload really happened: the stored file is the client's age file.
    assert sha256(download(alice, server, done[0]).content) == sha256(data)


def test_positive_control_the_probe_finds_a_plain_django_upload(start_server):
    """The same sampling finds the marker while the file goes to a request.FILES view."""
    server = start_server("uvicorn", DJANGO_SETTINGS_MODULE="tests.filestore.spool_settings")
    proxy = ThrottlingProxy(server.port, bytes_per_second=RATE)
    result = []

    def post():
        result.append(httpx.post(proxy.url + "/test/plain-django-upload",
                                 files={"file": ("marker.bin", PLAINTEXT)}, timeout=120))

    haystacks, _ = watched(server, post)
    proxy.close()
    assert result and result[0].status_code == 200
    assert result[0].json()["size"] == len(PLAINTEXT)
    findings = Probe({"plaintext marker": MARKER}).search(haystacks)
    assert findings, "the probe must find the plaintext Django spooled"
