"""Interrupted uploads: a killed server resumes, a torn write voids, no chunk is written twice.

The server process is SIGKILLed (or exits through the test-only fault hook
``SECURECHAT_TEST_CRASH_AT_CHUNK``, filestore/faults.py) in the middle of a
PATCH, restarted on the same port, database and MEDIA_ROOT, and the same
tuspy uploader continues. Chunks that reached the disk and verify are
adopted (the offset moves past them, so they are never written again); a
chunk that cannot be verified voids the upload (410) and the client starts
over under a new file key.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time

import httpx
import pytest
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

from agecrypt import CHUNK_SIZE, ENC_CHUNK_SIZE
from filestore.models import Upload
from filestore.storage import blob_path
from tests.filestore.helpers import UPLOADS, file_message_id, make_pair, random_bytes, sha256
from tests.filestore.throttle import ThrottlingProxy

pytestmark = pytest.mark.dbsensitive  # leases, conditional updates, recovery records


class CountingStream(io.BytesIO):
    """A file whose reads are counted (what the client sends after the resume)."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.counting = False
        self.read_bytes = 0

    def read(self, n=-1):
        data = super().read(n)
        if self.counting:
            self.read_bytes += len(data)
        return data


def head(member, server, url) -> httpx.Response:
    with member.http(server) as http:
        return http.head(url, headers={"Tus-Resumable": "1.0.0"})


def upload_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def blob_file(url: str, server):
    upload = Upload.objects.get(pk=upload_id(url))
    return server.media_root / upload.blob_name


def wait_until(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_upload_then_resume_with_the_same_tuspy_client(start_server):
    """SIGKILL while the committed offset is strictly inside the file; after a restart the
    same tuspy uploader resumes, sends fewer bytes than the file, and the download matches."""
    server = start_server("uvicorn")
    pair = make_pair(server)
    size = 8 * 1024 * 1024 + 12_345
    data = random_bytes(size)
    proxy = ThrottlingProxy(server.port, bytes_per_second=2 * 1024 * 1024)
    stream = CountingStream(data)
    tus = pair.alice.tus(server)
    tus.url = proxy.url + UPLOADS
    uploader = tus.uploader(file_stream=stream, chunk_size=size + 1, retries=0,
                            metadata={"conversation": str(pair.conversation_id),
                                      "filename": "big.bin"})
    errors = []

    def run():
        try:
            uploader.upload()
        except (TusCommunicationError, TusUploadFailed) as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    url = wait_until(lambda: uploader.url, what="upload creation")
    path = url[url.index(UPLOADS):]

    def committed():
        response = head(pair.alice, server, path)
        offset = int(response.headers["Upload-Offset"])
        return offset if 0 < offset < size else None

    offset_at_kill = wait_until(committed, what="a committed offset inside the file")
    server.kill()
    worker.join(60)
    assert not worker.is_alive()
    assert errors, f"the interrupted PATCH must fail on the client (offset {uploader.offset})"
    server.start()
    proxy.close()

    tus.url = server.url + UPLOADS
    uploader.client = tus
    uploader.url = server.url + path
    resumed_at = uploader.offset = uploader.get_offset()  # HEAD verifies, adopts whole chunks
    assert offset_at_kill <= resumed_at < size
    assert resumed_at % CHUNK_SIZE == 0
    stream.counting = True
    uploader.upload()
    assert stream.read_bytes == size - resumed_at < size
    message_id = file_message_id(url)
    with pair.bob.http(server) as http:
        response = http.get(f"/api/v1/files/{message_id}")
    assert response.status_code == 200
    assert sha256(response.content) == sha256(data)


def _chunk_digests(blob: bytes, header_len: int) -> dict[int, bytes]:
    """SHA-256 of every chunk slot present (fully or partly) in a blob snapshot."""
    out = {}
    index = 0
    while header_len + index * ENC_CHUNK_SIZE < len(blob):
        start = header_len + index * ENC_CHUNK_SIZE
        out[index] = hashlib.sha256(blob[start:start + ENC_CHUNK_SIZE]).digest()
        index += 1
    return out


def _patch(member, server, path, offset, body) -> httpx.Response:
    with member.http(server) as http:
        return http.patch(path, content=body, headers={
            "Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream"})


def _create(member, server, conversation_id, size) -> str:
    from tests.filestore.helpers import create_upload

    return create_upload(member, server, conversation_id, size)


def test_crash_after_a_chunk_reached_disk_adopts_it_and_never_rewrites_it(start_server):
    """The fault hook exits right after chunk 5 is written, before any offset records it.
    On resume the server verifies and adopts chunks 0-5, so a client resending different
    bytes from offset 0 gets 409, and every snapshot of the blob extends the previous one:
    no offset ever held two ciphertexts."""
    server = start_server("uvicorn", SECURECHAT_TEST_CRASH_AT_CHUNK="5:written")
    pair = make_pair(server)
    size = 10 * CHUNK_SIZE + 100
    path = _create(pair.alice, server, pair.conversation_id, size)
    upload = Upload.objects.get(pk=upload_id(path))
    first = random_bytes(size)
    with pytest.raises(httpx.TransportError):
        _patch(pair.alice, server, path, 0, first)
    assert server.process.wait(10) == 70  # the hook's exit code
    snapshots = [blob_path_bytes(server, upload)]
    assert Upload.objects.get(pk=upload.pk).offset == 0  # nothing recorded as committed

    server.extra_env.pop("SECURECHAT_TEST_CRASH_AT_CHUNK")
    server.start()
    second = random_bytes(size)  # the client's file changed: different bytes
    response = _patch(pair.alice, server, path, 0, second)
    assert response.status_code == 409, response.text
    offset = int(head(pair.alice, server, path).headers["Upload-Offset"])
    assert offset == 6 * CHUNK_SIZE
    snapshots.append(blob_path_bytes(server, upload))
    response = _patch(pair.alice, server, path, offset, second[offset:])
    assert response.status_code == 204, response.text
    snapshots.append(blob_path_bytes(server, Upload.objects.get(pk=upload.pk)))

    header_len = snapshots[-1].index(b"\n---") + 1
    header_len = snapshots[-1].index(b"\n", header_len) + 1 + 16
    for earlier, later in zip(snapshots, snapshots[1:], strict=False):
        before, after = _chunk_digests(earlier, header_len), _chunk_digests(later, header_len)
        assert all(after[i] == digest for i, digest in before.items()), \
            "a chunk slot changed between snapshots"
    with pair.bob.http(server) as http:
        body = http.get(f"/api/v1/files/{file_message_id(path)}").content
    assert sha256(body) == sha256(first[:offset] + second[offset:])


def blob_path_bytes(server, upload) -> bytes:
    return (server.media_root / upload.blob_name).read_bytes()


def test_torn_chunk_voids_the_upload_with_410_and_a_new_upload_gets_a_new_key(start_server):
    """The fault hook exits half-way through writing chunk 5. That chunk cannot be verified,
    so resuming (with different bytes) gets 410 Gone, nothing is written again, and a new
    upload of the file succeeds under a different file key (another header)."""
    server = start_server("uvicorn", SECURECHAT_TEST_CRASH_AT_CHUNK="5:torn")
    pair = make_pair(server)
    size = 8 * CHUNK_SIZE + 7
    path = _create(pair.alice, server, pair.conversation_id, size)
    upload = Upload.objects.get(pk=upload_id(path))
    with pytest.raises(httpx.TransportError):
        _patch(pair.alice, server, path, 0, random_bytes(size))
    assert server.process.wait(10) == 70
    torn = blob_path_bytes(server, upload)
    header_len = torn.index(b"\n", torn.index(b"\n---") + 1) + 1 + 16
    assert len(torn) == header_len + 5 * ENC_CHUNK_SIZE + ENC_CHUNK_SIZE // 2

    server.extra_env.pop("SECURECHAT_TEST_CRASH_AT_CHUNK")
    server.start()
    response = _patch(pair.alice, server, path, 0, random_bytes(size))
    assert response.status_code == 410, response.text
    assert response.json()["error"] == "upload_voided"
    assert head(pair.alice, server, path).status_code == 410
    assert not (server.media_root / upload.blob_name).exists()
    assert Upload.objects.get(pk=upload.pk).state == Upload.State.VOIDED

    data = random_bytes(size)
    new_path = _create(pair.alice, server, pair.conversation_id, size)
    assert _patch(pair.alice, server, new_path, 0, data).status_code == 204
    new_blob = blob_path_bytes(server, Upload.objects.get(pk=upload_id(new_path)))
    assert new_blob[:header_len] != torn[:header_len]
    with pair.bob.http(server) as http:
        body = http.get(f"/api/v1/files/{file_message_id(new_path)}").content
    assert sha256(body) == sha256(data)


def test_blob_path_helper_stays_inside_media_root():
    """The blob path helper refuses names that leave MEDIA_ROOT/blobs (positive control
    for the paths the tests above read)."""
    with pytest.raises(ValueError):
        blob_path("blobs/../../etc/passwd")
    with pytest.raises(ValueError):
        blob_path("../outside.age")
