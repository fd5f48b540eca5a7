"""Interrupted uploads: a SIGKILLed server and a full disk both leave the
upload resumable from its recorded offset, and the recorded SHA-256 is the whole file's.

After the restart the server has no running hash in memory: it recomputes it from the
stored prefix, so a wrong recomputation shows as a wrong recorded SHA-256.
"""

from __future__ import annotations

import hashlib
import threading

import pytest
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

from filestore import faults
from filestore.models import CipherUpload
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.filestore.throttle import ThrottlingProxy
from tests.filestore.v2_support import (
    TUS,
    UPLOADS,
    CountingStream,
    age_file,
    create,
    download,
    patch,
    path_of,
    sha256,
    upload_id,
    v2_member,
    wait_until,
)

pytestmark = [pytest.mark.usefixtures("fresh_rate_limits"), pytest.mark.dbsensitive]


def recorded_offset(path: str) -> int:
    return CipherUpload.objects.values_list("offset", flat=True).get(pk=upload_id(path))


def test_sigkill_mid_upload_then_resume_gives_the_same_sha256(start_server):
    """SIGKILL while 0 < recorded offset < length; after a restart tuspy resumes from the
    server's offset, sends only the rest, and both the download and the recorded SHA-256
    equal the file's."""
    server = start_server("uvicorn")
    alice = v2_member(server)
    plaintext = hashlib.shake_256(b"resume").digest(20 * 1024 * 1024)
    data, identity = age_file(plaintext)
    proxy = ThrottlingProxy(server.port, bytes_per_second=6 * 1024 * 1024)
    stream = CountingStream(data)
    tus = alice.tus(server)
    tus.url = proxy.url + UPLOADS
    uploader = tus.uploader(file_stream=stream, chunk_size=len(data) + 1, retries=0)
    errors = []

    def run():
        try:
            uploader.upload()
        except (TusCommunicationError, TusUploadFailed) as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    path = path_of(wait_until(lambda: uploader.url, what="upload creation"))
    offset_at_kill = wait_until(lambda: recorded_offset(path) or None, timeout=60,
                                what="a recorded offset")
    server.kill()
    worker.join(60)
    assert not worker.is_alive() and errors
    assert 0 < offset_at_kill < len(data)
    blob = server.media_root / CipherUpload.objects.get(pk=upload_id(path)).blob_name
    assert blob.stat().st_size >= offset_at_kill  # possibly unrecorded bytes past it
    server.start()
    proxy.close()
    tus.url = server.url + UPLOADS
    uploader.client = tus
    uploader.url = server.url + path
    resumed_at = uploader.offset = uploader.get_offset()
    assert resumed_at == recorded_offset(path) >= offset_at_kill
    stream.counting = True
    uploader.upload()
    assert stream.read_bytes == len(data) - resumed_at < len(data)
    assert CipherUpload.objects.get(pk=upload_id(path)).sha256 == sha256(data)
    response = download(alice, server, path)
    assert sha256(response.content) == sha256(data)
    import agecrypt

    assert agecrypt.decrypt(response.content, [identity]) == plaintext


def test_a_full_disk_answers_507_and_the_upload_resumes(start_server, tmp_path):
    """While the disk is full a PATCH is 507 and HEAD reports the recorded offset; once
    space is back the client resumes from there and the SHA-256 is the whole file's."""
    flag = tmp_path / "disk-full"
    server = start_server("uvicorn", **{faults.DISK_FULL_ENV: str(flag)})
    alice = v2_member(server)
    data, _ = age_file(b"d" * 3_000_000)
    path = path_of(create(alice, server, len(data)).headers["Location"])
    first = 1_500_000
    assert patch(alice, server, path, 0, data[:first]).status_code == 204
    flag.touch()
    r = patch(alice, server, path, first, data[first:])
    assert r.status_code == 507 and r.json()["error"] == "storage_error"
    with alice.http(server) as http:
        offset = int(http.head(path, headers=TUS).headers["Upload-Offset"])
    assert offset == first == recorded_offset(path)
    flag.unlink()
    r = patch(alice, server, path, offset, data[offset:])
    assert r.status_code == 204 and int(r.headers["Upload-Offset"]) == len(data)
    assert CipherUpload.objects.get(pk=upload_id(path)).sha256 == sha256(data)
    assert sha256(download(alice, server, path).content) == sha256(data)
