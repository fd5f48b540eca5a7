"""No plaintext of an upload ever touches the disk (DESIGN.md §6, §9).

During a throttled tus upload the test reads, again and again, every regular
file the server process has open (``/proc/<pid>/fd``, which includes unlinked
temporary files), everything under its MEDIA_ROOT and the system temp
directory (top level), looking for a distinctive random marker in raw, hex and base64
form. Positive control: the same probe, run while the same file goes to a
plain Django upload view (``request.FILES``) on a second server, finds it —
Django spools the body to a temporary file.
"""

from __future__ import annotations

import base64
import io
import os
import tempfile
import threading
from pathlib import Path

import httpx

from tests.filestore.helpers import UPLOADS, make_pair, sha256
from tests.filestore.throttle import ThrottlingProxy

MARKER = os.urandom(48)
FILE = MARKER * (6 * 1024 * 1024 // len(MARKER))
READ_LIMIT = 256 * 1024 * 1024


def needles() -> list[bytes]:
    rotations = [(MARKER * 2)[s:s + len(MARKER)] for s in range(3)]
    return [MARKER, MARKER.hex().encode(), MARKER.hex().upper().encode(),
            *(base64.b64encode(r) for r in rotations)]


def _contains(path, found: list[str], label: str) -> None:
    try:
        with open(path, "rb") as f:
            data = f.read(READ_LIMIT)
    except OSError:
        return
    if any(n in data for n in needles()):
        found.append(label)


def probe(pid: int, roots: list[Path]) -> list[str]:
    """Every place the marker shows up right now: open fds of ``pid`` and files under roots."""
    found: list[str] = []
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        fds = list(fd_dir.iterdir())
    except OSError:
        fds = []
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("/") and (os.path.isfile(fd)):
            _contains(fd, found, f"fd {fd.name} -> {target}")
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                _contains(path, found, str(path))
    # The system temp directory, top level: where Python's tempfile puts spooled bodies.
    for path in Path(tempfile.gettempdir()).iterdir():
        if path.is_file():
            _contains(path, found, str(path))
    return found


def watch(pid: int, roots: list[Path], worker: threading.Thread) -> tuple[list[str], int]:
    hits, rounds = [], 0
    while worker.is_alive():
        hits += probe(pid, roots)
        rounds += 1
    hits += probe(pid, roots)
    return hits, rounds + 1


def test_tus_upload_leaves_no_plaintext_in_open_files_media_or_tmp(start_server):
    """While a throttled tus upload runs, no open file of the server, no file under
    MEDIA_ROOT and no file in the temp directory holds the plaintext marker."""
    server = start_server("uvicorn")
    pair = make_pair(server)
    proxy = ThrottlingProxy(server.port, bytes_per_second=3 * 1024 * 1024)
    tus = pair.alice.tus(server)
    tus.url = proxy.url + UPLOADS
    done = []

    def run():
        uploader = tus.uploader(file_stream=io.BytesIO(FILE),
                                chunk_size=len(FILE) + 1, retries=0,
                                metadata={"conversation": str(pair.conversation_id),
                                          "filename": "marker.bin"})
        uploader.upload()
        done.append(uploader.url)

    worker = threading.Thread(target=run)
    worker.start()
    hits, rounds = watch(server.pid, [server.media_root], worker)
    worker.join()
    proxy.close()
    assert done, "the upload must finish"
    assert rounds >= 3, "the probe must run during the upload"
    assert hits == []
    # The upload really happened and is readable by the recipient.
    from tests.filestore.helpers import file_message_id

    with pair.bob.http(server) as http:
        body = http.get(f"/api/v1/files/{file_message_id(done[0])}").content
    assert sha256(body) == sha256(FILE)


def test_positive_control_probe_finds_a_plain_django_upload(start_server):
    """The same probe finds the marker while the file goes to a request.FILES view."""
    server = start_server("uvicorn", DJANGO_SETTINGS_MODULE="tests.filestore.spool_settings")
    proxy = ThrottlingProxy(server.port, bytes_per_second=3 * 1024 * 1024)
    result = []

    def run():
        response = httpx.post(proxy.url + "/test/plain-django-upload",
                              files={"file": ("marker.bin", FILE)}, timeout=120)
        result.append(response)

    worker = threading.Thread(target=run)
    worker.start()
    hits, _ = watch(server.pid, [server.media_root], worker)
    worker.join()
    proxy.close()
    assert result and result[0].status_code == 200
    assert result[0].json()["size"] == len(FILE)
    assert hits, "the probe must find the plaintext Django spooled"
