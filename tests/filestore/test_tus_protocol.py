"""The tus 1.0.0 surface: every status a client can meet, and nothing changed on refusal.

OPTIONS advertises the protocol; POST creates (limits, metadata, access);
HEAD reports the committed offset and the metadata exactly as sent; PATCH
refuses a wrong content type (415), a wrong offset (409), a body past the
length (413), a second writer (423); DELETE terminates; expired or voided
uploads are gone (410); another user's upload does not exist (404).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from agecrypt import CHUNK_SIZE
from filestore.models import Upload
from tests.filestore.helpers import (
    UPLOADS,
    create_upload,
    login,
    make_pair,
    metadata_header,
    random_bytes,
)
from tests.support.accounts import make_user

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {**TUS, "Content-Type": "application/offset+octet-stream"}


@pytest.fixture
def server(start_server):
    return start_server("uvicorn")


@pytest.fixture
def pair(server):
    return make_pair(server)


def patch(member, server, path, offset, body, **headers):
    with member.http(server) as http:
        return http.patch(path, content=body,
                          headers={**OCTETS, "Upload-Offset": str(offset), **headers})


def head(member, server, path):
    with member.http(server) as http:
        return http.head(path, headers=TUS)


def nothing_stored(server) -> bool:
    blobs = server.media_root / "blobs"
    return not Upload.objects.exists() and not (blobs.exists() and any(blobs.rglob("*.age")))


def test_options_advertises_version_extensions_and_max_size(server):
    """OPTIONS answers without a session and lists version, extensions and the size limit."""
    response = httpx.options(server.url + UPLOADS)
    assert response.status_code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation", "termination", "expiration"}
    assert int(response.headers["Tus-Max-Size"]) > 0


@pytest.mark.dbsensitive
def test_head_returns_offset_length_and_metadata_exactly_as_sent(server, pair):
    """HEAD gives the committed offset (whole chunks only), the length, the raw
    Upload-Metadata (decrypted from the stored blob), Upload-Expires and no-store; the
    metadata exists nowhere in the clear."""
    raw = metadata_header(pair.conversation_id, "résumé final.pdf", "application/pdf") + \
        ",extra"
    with pair.alice.http(server) as http:
        response = http.post(UPLOADS, headers={**TUS, "Upload-Length": "200000",
                                               "Upload-Metadata": raw})
    assert response.status_code == 201, response.text
    path = response.headers["Location"]
    assert response.headers["Upload-Expires"]
    assert patch(pair.alice, server, path, 0, random_bytes(100_000)).headers[
        "Upload-Offset"] == str(CHUNK_SIZE)  # the partial tail is discarded
    response = head(pair.alice, server, path)
    assert response.status_code == 200
    assert response.headers["Upload-Offset"] == str(CHUNK_SIZE)
    assert response.headers["Upload-Length"] == "200000"
    assert response.headers["Upload-Metadata"] == raw
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Upload-Expires"]
    upload = Upload.objects.get()
    assert b"pdf" not in bytes(upload.metadata_blob)
    assert "pdf" not in str(Upload.objects.values().get())


def test_creation_refusals_are_clear_and_store_nothing(server, pair):
    """Missing length, deferred length, malformed or incomplete metadata, a conversation
    the caller is not in, and an unsupported protocol version are refused with JSON
    errors, and nothing is stored."""
    carol = make_user()
    from messaging.actions import do_start_conversation

    foreign = do_start_conversation(carol.user, pair.bob.test_user.email)
    cases = [
        ({"Upload-Metadata": metadata_header(pair.conversation_id)}, 400, "bad_request"),
        ({"Upload-Defer-Length": "1",
          "Upload-Metadata": metadata_header(pair.conversation_id)}, 400, "bad_request"),
        ({"Upload-Length": "-1",
          "Upload-Metadata": metadata_header(pair.conversation_id)}, 400, "bad_request"),
        ({"Upload-Length": "10", "Upload-Metadata": "conversation !!!"}, 400, "bad_metadata"),
        ({"Upload-Length": "10", "Upload-Metadata": "filename eC5iaW4="}, 400, "bad_metadata"),
        ({"Upload-Length": "10", "Upload-Metadata": metadata_header(foreign.pk)}, 404,
         "not_found"),
        ({"Upload-Length": "10", "Upload-Metadata": metadata_header(999999)}, 404,
         "not_found"),
    ]
    with pair.alice.http(server) as http:
        for headers, status, code in cases:
            response = http.post(UPLOADS, headers={**TUS, **headers})
            assert response.status_code == status, (headers, response.text)
            assert response.json()["error"] == code
            assert response.json()["detail"]
        response = http.post(UPLOADS, headers={"Upload-Length": "10",
                                               "Upload-Metadata": metadata_header(1)})
        assert response.status_code == 412
        assert response.headers["Tus-Version"] == "1.0.0"
    assert nothing_stored(server)


def test_auth_checks_of_the_raw_app(server, pair):
    """No session → 401; a foreign or missing Origin or a missing CSRF token → 403;
    a half-logged-in session (code step pending) → 403; nothing is stored."""
    from accounts import unlock
    from tests.support.accounts import session_for

    post = {**TUS, "Upload-Length": "10",
            "Upload-Metadata": metadata_header(pair.conversation_id)}
    assert httpx.post(server.url + UPLOADS, headers=post).status_code == 401
    good = pair.alice.headers(server)
    for change, code in [({"Origin": "http://evil.example"}, "bad_origin"),
                         ({"Origin": server.origin.replace("http:", "https:")}, "bad_origin"),
                         ({"X-CSRFToken": "x" * 32}, "csrf_failed")]:
        response = httpx.post(server.url + UPLOADS, headers={**good, **change, **post})
        assert response.status_code == 403, response.text
        assert response.json()["error"] == code
    no_origin = {k: v for k, v in good.items() if k != "Origin"}
    assert httpx.post(server.url + UPLOADS, headers={**no_origin, **post}).status_code == 403
    half = session_for(pair.alice.test_user, stage=unlock.STAGE_OTP)
    member = login(server, pair.alice.test_user)
    member.session = half
    with member.http(server) as http:
        response = http.post(UPLOADS, headers=post)
    assert response.status_code == 403
    assert response.json()["error"] == "second_factor_required"
    assert nothing_stored(server)


@pytest.mark.dbsensitive
def test_size_limit_and_quota_give_413_and_store_nothing(start_server):
    """Upload-Length above SECURECHAT_MAX_FILE_SIZE, or beyond the user's quota counting
    stored files and active uploads, is refused at creation with 413."""
    server = start_server("uvicorn", SECURECHAT_MAX_FILE_SIZE="1000000",
                          SECURECHAT_USER_QUOTA="1500000")
    pair = make_pair(server)
    meta = metadata_header(pair.conversation_id)
    with pair.alice.http(server) as http:
        response = http.post(UPLOADS, headers={**TUS, "Upload-Length": "1000001",
                                               "Upload-Metadata": meta})
        assert response.status_code == 413
        assert response.json()["error"] == "file_too_large"
        assert nothing_stored(server)
        assert http.post(UPLOADS, headers={**TUS, "Upload-Length": "1000000",
                                           "Upload-Metadata": meta}).status_code == 201
        response = http.post(UPLOADS, headers={**TUS, "Upload-Length": "500001",
                                               "Upload-Metadata": meta})
        assert response.status_code == 413
        assert response.json()["error"] == "quota_exceeded"
        assert http.post(UPLOADS, headers={**TUS, "Upload-Length": "500000",
                                           "Upload-Metadata": meta}).status_code == 201
    assert Upload.objects.count() == 2


def test_other_users_and_unknown_uploads_are_404(server, pair):
    """Bob cannot see, write or delete Alice's upload: 404, as for ids that do not exist."""
    path = create_upload(pair.alice, server, pair.conversation_id, 10)
    unknown = UPLOADS + "0" * 32
    for target in (path, unknown, UPLOADS + "not-a-uuid", path + "/extra"):
        assert head(pair.bob, server, target).status_code == 404
        response = patch(pair.bob, server, target, 0, b"x")
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
        with pair.bob.http(server) as http:
            assert http.delete(target, headers=TUS).status_code == 404
    assert Upload.objects.get().offset == 0


def test_wrong_content_type_and_wrong_offset(server, pair):
    """PATCH with another Content-Type is 415; with an offset other than the committed one
    is 409; neither writes anything."""
    path = create_upload(pair.alice, server, pair.conversation_id, 3 * CHUNK_SIZE)
    response = patch(pair.alice, server, path, 0, b"x" * CHUNK_SIZE,
                     **{"Content-Type": "application/octet-stream"})
    assert response.status_code == 415
    response = patch(pair.alice, server, path, CHUNK_SIZE, b"x" * CHUNK_SIZE)
    assert response.status_code == 409
    assert response.json()["error"] == "offset_mismatch"
    assert head(pair.alice, server, path).headers["Upload-Offset"] == "0"
    upload = Upload.objects.get()
    blob = (server.media_root / upload.blob_name).read_bytes()
    assert len(blob) == blob.index(b"\n", blob.index(b"\n---")+ 1) + 1 + 16  # header + nonce


def test_body_past_upload_length_is_refused_and_nothing_beyond_is_committed(server, pair):
    """A declared Content-Length past the end is 413 before anything is written; a chunked
    body that runs past the end is 413 too, and only whole chunks before the end count."""
    size = 2 * CHUNK_SIZE + 10
    path = create_upload(pair.alice, server, pair.conversation_id, size)
    response = patch(pair.alice, server, path, 0, random_bytes(size + 1))
    assert response.status_code == 413
    assert head(pair.alice, server, path).headers["Upload-Offset"] == "0"

    def chunked():
        data = random_bytes(size + 5000)
        for i in range(0, len(data), 30_000):
            yield data[i:i + 30_000]

    response = patch(pair.alice, server, path, 0, chunked())
    assert response.status_code == 413
    assert response.json()["error"] == "past_length"
    offset = int(head(pair.alice, server, path).headers["Upload-Offset"])
    assert offset == 2 * CHUNK_SIZE < size
    assert Upload.objects.get().state == Upload.State.UPLOADING


@pytest.mark.dbsensitive
def test_concurrent_patches_one_writes_the_other_gets_423(server, pair):
    """Two PATCHes at the same offset released together on separate connections: exactly
    one writes (204), the other is refused with 423 while the first holds the lease."""
    for _round in range(4):
        size = 4 * CHUNK_SIZE
        path = create_upload(pair.alice, server, pair.conversation_id, size)
        barrier = threading.Barrier(2)
        results = []

        def slow_body(data):
            for i in range(0, len(data), 16_384):
                yield data[i:i + 16_384]
                time.sleep(0.05)

        def contender(path=path, barrier=barrier, results=results, size=size):
            body = random_bytes(size)
            with pair.alice.http(server) as http:
                barrier.wait()
                response = http.patch(path, content=slow_body(body),
                                      headers={**OCTETS, "Upload-Offset": "0"})
            results.append(response.status_code)

        threads = [threading.Thread(target=contender) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(results) == [204, 423]
        assert head(pair.alice, server, path).headers["Upload-Offset"] == str(size)


def test_wrong_methods_get_the_json_405_with_allow_and_change_nothing(server, pair):
    """The raw upload app answers like every Django endpoint (one error mapping)."""
    path = create_upload(pair.alice, server, pair.conversation_id, 10)
    with pair.alice.http(server) as http:
        on_collection = http.request("PUT", UPLOADS, headers=TUS)
        on_upload = http.request("POST", path, headers=TUS)
        on_upload_get = http.get(path, headers=TUS)
    assert on_collection.status_code == 405
    assert on_collection.headers["Allow"] == "POST, OPTIONS"
    assert on_collection.json() == {"error": "method_not_allowed",
                                    "detail": "Use POST or OPTIONS here."}
    for response in (on_upload, on_upload_get):
        assert response.status_code == 405
        assert response.headers["Allow"] == "HEAD, PATCH, DELETE, OPTIONS"
        assert response.json()["error"] == "method_not_allowed"
        assert response.headers["Tus-Resumable"] == "1.0.0"
    assert Upload.objects.count() == 1 and Upload.objects.get().offset == 0


def test_termination_deletes_the_upload_and_its_blob(server, pair):
    """DELETE removes the upload and its blob; afterwards the upload is 404."""
    path = create_upload(pair.alice, server, pair.conversation_id, 3 * CHUNK_SIZE)
    patch(pair.alice, server, path, 0, random_bytes(CHUNK_SIZE))
    blob = server.media_root / Upload.objects.get().blob_name
    assert blob.exists()
    with pair.alice.http(server) as http:
        assert http.delete(path, headers=TUS).status_code == 204
    assert head(pair.alice, server, path).status_code == 404
    assert not blob.exists()
    assert not Upload.objects.exists()


@pytest.mark.dbsensitive
def test_expired_upload_is_410_and_the_purge_deletes_it(server, pair):
    """Past its expiry an upload answers 410 to HEAD and PATCH; purge_uploads dry-runs by
    default and deletes the row and blob with --yes."""
    from django.core.management import call_command

    path = create_upload(pair.alice, server, pair.conversation_id, 3 * CHUNK_SIZE)
    upload = Upload.objects.get()
    blob = server.media_root / upload.blob_name
    Upload.objects.filter(pk=upload.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert head(pair.alice, server, path).status_code == 410
    response = patch(pair.alice, server, path, 0, random_bytes(CHUNK_SIZE))
    assert response.status_code == 410
    assert response.json()["error"] == "upload_expired"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("django.conf.settings.MEDIA_ROOT", server.media_root)
        call_command("purge_uploads")
        assert Upload.objects.exists() and blob.exists()  # dry run
        call_command("purge_uploads", "--yes")
    assert not Upload.objects.exists()
    assert not blob.exists()


def test_daphne_refuses_upload_creation_with_a_clear_message(start_server):
    """Under daphne, POST is refused (503) with a message naming the reason and uvicorn."""
    server = start_server("daphne")
    pair = make_pair(server)
    with pair.alice.http(server) as http:
        response = http.post(UPLOADS, headers={
            **TUS, "Upload-Length": "10", "Upload-Metadata": metadata_header(pair.conversation_id)})
    assert response.status_code == 503
    assert response.json()["error"] == "uploads_unavailable_under_daphne"
    assert "uvicorn" in response.json()["detail"]
    assert nothing_stored(server)
