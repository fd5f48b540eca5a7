"""What the ciphertext mode refuses, each next to the accepted case it differs from.

Refused and kept nothing: a body that is not age (415), a stanza of another
key type or a second stanza (400), any ``Upload-Metadata`` pair (400), a file
over the maximum size or the quota (413). Another user's upload does not exist
(404); a second PATCH while one runs is 423.
Terminating a complete upload frees the quota it held.
"""

from __future__ import annotations

import threading
import time

import pytest

import agecrypt
from filestore.models import CipherUpload
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.filestore.v2_support import (
    age_file,
    create,
    download,
    patch,
    path_of,
    tus_upload,
    upload_id,
    v2_member,
)

pytestmark = pytest.mark.usefixtures("fresh_rate_limits")


@pytest.fixture
def server(start_shared_server):
    """One uvicorn for the module's tests (rows and files are emptied after each)."""
    return start_shared_server("uvicorn")


def nothing_kept(server) -> bool:
    root = server.media_root / "blobs" / "v2"
    return not CipherUpload.objects.exists() and not (root.exists() and any(root.rglob("*.age")))


def blob_of(path: str) -> str:
    from filestore import cipher_store

    return cipher_store.blob_name_for(upload_id(path))


def created(member, server, length: int) -> str:
    response = create(member, server, length)
    assert response.status_code == 201, response.text
    return path_of(response.headers["Location"])


def test_header_check_refuses_non_age_and_wrong_stanzas_and_keeps_nothing(server):
    """Hybrid deployment: a non-age body is 415, an X25519 stanza or two hybrid stanzas
    400, a truncated file at completion 400, each with the upload gone; the right file
    (control) is accepted."""
    alice = v2_member(server)
    good, _ = age_file(b"x" * 5000)
    x25519, _ = age_file(b"x" * 5000, "x25519")
    two = agecrypt.encrypt(b"x" * 5000, [agecrypt.HybridIdentity.generate().recipient(),
                                         agecrypt.HybridIdentity.generate().recipient()])
    not_age = b"%PDF-1.7\n" + b"\0" * 5000
    for body, status in [(not_age, 415), (x25519, 400), (two, 400)]:
        path = created(alice, server, len(body))
        r = patch(alice, server, path, 0, body)
        assert r.status_code == status, r.text
        assert nothing_kept(server)
        assert patch(alice, server, path, 0, body).status_code == 404
    # A whole header but a length no age file has (a final chunk shorter than its tag):
    # refused at completion.
    short = good[:len(good) - 5010]
    path = created(alice, server, len(short))
    r = patch(alice, server, path, 0, short)
    assert r.status_code == 400 and r.json()["error"] == "bad_length"
    assert nothing_kept(server)
    path = created(alice, server, len(good))
    assert patch(alice, server, path, 0, good).status_code == 204


def test_a_wrong_first_byte_is_refused_before_the_header_is_complete(server):
    """The version line is checked from the first bytes: 10 bytes suffice to refuse."""
    alice = v2_member(server)
    path = created(alice, server, 1000)
    assert patch(alice, server, path, 0, b"age-encryp").status_code == 204  # a prefix: wait
    assert patch(alice, server, path, 10, b"XXX").status_code == 415
    assert nothing_kept(server)


def test_upload_metadata_is_refused_and_nothing_created(server):
    """Any Upload-Metadata pair is refused (a name must never reach the server), even
    one that names no file; the same creation without it succeeds."""
    alice = v2_member(server)
    for value in ["filename aW52b2ljZS5wZGY=", "conversation MQ==", "x"]:
        r = create(alice, server, 1000, **{"Upload-Metadata": value})
        assert r.status_code == 400 and r.json()["error"] == "metadata_refused"
    assert nothing_kept(server)
    assert create(alice, server, 1000).status_code == 201


def test_maximum_size_and_quota_at_creation(start_server):
    """413 for a file over SECURECHAT_MAX_FILE_SIZE and for one that would pass the quota
    (complete and in-progress v2 uploads count); the ones that fit are accepted."""
    server = start_server("uvicorn", SECURECHAT_MAX_FILE_SIZE="20000",
                          SECURECHAT_USER_QUOTA="30000")
    alice = v2_member(server)
    assert create(alice, server, 20001).status_code == 413
    data, _ = age_file(b"q" * 15000)
    done = tus_upload(alice, server, data)  # complete: counts
    assert create(alice, server, 12000).status_code == 201  # in progress: counts
    r = create(alice, server, 30000 - len(data) - 12000 + 1)
    assert r.status_code == 413 and r.json()["error"] == "quota_exceeded"
    assert create(alice, server, 30000 - len(data) - 12000).status_code == 201
    # Terminating the complete upload frees its share (nothing references it yet).
    assert create(alice, server, len(data)).status_code == 413
    with alice.http(server) as http:
        assert http.delete(done, headers={"Tus-Resumable": "1.0.0"}).status_code == 204
    assert not (server.media_root / blob_of(done)).exists()
    assert create(alice, server, len(data)).status_code == 201


def test_another_users_upload_does_not_exist(server):
    """HEAD, PATCH, DELETE and the download of Alice's upload are 404 for Bob, 200s for her."""
    alice, bob = v2_member(server), v2_member(server)
    data, _ = age_file(b"mine" * 1000)
    done = tus_upload(alice, server, data)
    pending = created(alice, server, len(data))
    with bob.http(server) as http:
        assert http.head(pending, headers={"Tus-Resumable": "1.0.0"}).status_code == 404
        assert http.delete(pending, headers={"Tus-Resumable": "1.0.0"}).status_code == 404
    assert patch(bob, server, pending, 0, data[:100]).status_code == 404
    assert download(bob, server, done).status_code == 404
    assert download(bob, server, "/x/" + "0" * 32).status_code == 404
    assert download(alice, server, done).status_code == 200
    assert download(alice, server, pending).status_code == 404  # not complete yet


def test_a_second_patch_while_one_runs_is_423_and_delete_terminates(server):
    """A slow PATCH holds the upload; a concurrent one is 423 and stores nothing; after
    it ends, DELETE removes the row and the blob."""
    alice = v2_member(server)
    data, _ = age_file(b"s" * 200_000)
    path = created(alice, server, len(data))
    release = threading.Event()
    results = []

    def slow_body():
        yield data[:50_000]
        release.wait(20)
        yield data[50_000:60_000]

    def run():
        results.append(patch(alice, server, path, 0, slow_body()))

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not CipherUpload.objects.filter(
            pk=upload_id(path)).exclude(lease_owner="").exists():
        time.sleep(0.05)
    second = patch(alice, server, path, 0, data[:1000])
    release.set()
    worker.join(30)
    assert second.status_code == 423
    assert results[0].status_code == 204 and results[0].headers["Upload-Offset"] == "60000"
    with alice.http(server) as http:
        assert http.delete(path, headers={"Tus-Resumable": "1.0.0"}).status_code == 204
    assert nothing_kept(server)

