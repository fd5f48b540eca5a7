"""The tus 1.0.0 surface: every status a client can meet, and nothing changed on refusal.

OPTIONS advertises the protocol without a session; creation refuses a missing,
negative or deferred length and another protocol version (412) and stores
nothing; the raw app applies the session, Origin, CSRF and login-stage checks
(401/403). HEAD reports the committed offset and the length
(never metadata, which this mode refuses) with no-store and the expiry; PATCH refuses
another content type (415) and a wrong offset (409), and a body past the declared
length (413) without committing past the end; other methods get the JSON 405 with
Allow; DELETE terminates (row and blob gone, 404 after); an expired upload is 410 and
``purge_uploads --yes`` removes it; daphne refuses creation with a clear message.
The refusals of content (not age, wrong stanza, metadata, size, quota, another
user's upload, a second writer) are in test_v2_refusals.py.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from filestore.models import CipherUpload
from tests.accounts import enrol_totp, fresh_rate_limits  # noqa: F401
from tests.filestore.v2_support import (
    TUS,
    UPLOADS,
    V2Member,
    age_file,
    create,
    patch,
    path_of,
    upload_id,
    v2_member,
)

pytestmark = pytest.mark.usefixtures("fresh_rate_limits")


@pytest.fixture
def server(start_shared_server):
    """One uvicorn for the module's tests (rows and files are emptied after each)."""
    return start_shared_server("uvicorn")


@pytest.fixture
def alice(server):
    return v2_member(server)


def created(member, server, length: int) -> str:
    response = create(member, server, length)
    assert response.status_code == 201, response.text
    assert response.headers["Upload-Expires"]
    return path_of(response.headers["Location"])


def head(member, server, path):
    with member.http(server) as http:
        return http.head(path, headers=TUS)


def record(path: str) -> CipherUpload:
    return CipherUpload.objects.get(pk=upload_id(path))


def nothing_stored(server) -> bool:
    blobs = server.media_root / "blobs"
    return not CipherUpload.objects.exists() and not (blobs.exists()
                                                      and any(blobs.rglob("*.age")))


def test_options_advertises_version_extensions_and_max_size(server):
    """OPTIONS answers without a session and lists version, extensions and the size limit."""
    response = httpx.options(server.url + UPLOADS)
    assert response.status_code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation", "termination", "expiration"}
    assert int(response.headers["Tus-Max-Size"]) > 0


def test_creation_refusals_are_clear_and_store_nothing(server, alice):
    """A missing, negative or deferred length and a missing protocol version are refused
    with JSON errors, and nothing is stored; the same request done right is created."""
    cases = [({}, 400, "bad_request"),
             ({"Upload-Length": "-1"}, 400, "bad_request"),
             ({"Upload-Length": "12x"}, 400, "bad_request"),
             ({"Upload-Defer-Length": "1"}, 400, "bad_request"),
             ({"Upload-Defer-Length": "1", "Upload-Length": "1000"}, 400, "bad_request")]
    with alice.http(server) as http:
        for headers, status, code in cases:
            response = http.post(UPLOADS, headers={**TUS, **headers})
            assert response.status_code == status, (headers, response.text)
            assert response.json()["error"] == code and response.json()["detail"]
        response = http.post(UPLOADS, headers={"Upload-Length": "1000"})
        assert response.status_code == 412
        assert response.headers["Tus-Version"] == "1.0.0"
        assert response.json()["error"] == "unsupported_version"
    assert nothing_stored(server)
    assert create(alice, server, 1000).status_code == 201  # positive control


def half_logged_in(server) -> V2Member:
    """A session whose password step passed and whose code step is pending: a user with
    an authenticator logs in again (client-derived auth_key) on a new client."""
    import base64

    from django.test import Client

    from client import derivation
    from tests.support.v2chat import PASSWORD, TEST_FLOOR, V2User, b64url, post_json

    user = V2User.signup("half")
    User.objects.filter(pk=user.id).update(email_verified_at=timezone.now())
    enrol_totp(user.user)
    phone = Client()
    r = post_json(phone, "/api/v1/auth/prelogin", {"email": user.email}).json()
    keys = derivation.derive_keys(user.email, base64.urlsafe_b64decode(r["account_salt"] + "=="),
                                  PASSWORD, r["work_factor"], min_work_factor=TEST_FLOOR)
    login = post_json(phone, "/api/v1/auth/login",
                      {"email": user.email, "auth_key": b64url(keys.auth_key)})
    assert login.status_code == 200 and login.json()["otp_required"] is True, login.content
    cookie = f"{settings.SESSION_COOKIE_NAME}={phone.cookies[settings.SESSION_COOKIE_NAME].value}"
    r = httpx.get(server.url + "/api/v1/csrf", headers={"Cookie": cookie})
    return V2Member(user.email, f"{cookie}; csrftoken={r.cookies['csrftoken']}",
                    r.json()["csrf_token"])


def test_auth_checks_of_the_raw_app(server, alice):
    """No session → 401; a foreign or missing Origin or a wrong CSRF token → 403; a
    half-logged-in session (code step pending) → 403; nothing is stored. The same
    request with the right headers is created (positive control)."""
    post = {**TUS, "Upload-Length": "1000"}
    no_session = httpx.post(server.url + UPLOADS, headers=post)
    assert no_session.status_code == 401 and no_session.json()["error"] == "not_logged_in"
    good = alice.headers(server)
    for change, code in [({"Origin": "http://evil.example"}, "bad_origin"),
                         ({"Origin": server.origin.replace("http:", "https:")}, "bad_origin"),
                         ({"X-CSRFToken": "x" * 32}, "csrf_failed")]:
        response = httpx.post(server.url + UPLOADS, headers={**good, **change, **post})
        assert response.status_code == 403, response.text
        assert response.json()["error"] == code
    no_origin = {k: v for k, v in good.items() if k != "Origin"}
    assert httpx.post(server.url + UPLOADS, headers={**no_origin, **post}).status_code == 403
    with half_logged_in(server).http(server) as http:
        response = http.post(UPLOADS, headers=post)
    assert response.status_code == 403
    assert response.json()["error"] == "second_factor_required"
    assert nothing_stored(server)
    assert httpx.post(server.url + UPLOADS, headers={**good, **post}).status_code == 201


def test_head_reports_offset_length_expiry_and_no_metadata(server, alice):
    data, _ = age_file(b"h" * 100_000)
    path = created(alice, server, len(data))
    assert patch(alice, server, path, 0, data[:5000]).headers["Upload-Offset"] == "5000"
    response = head(alice, server, path)
    assert response.status_code == 200
    assert response.headers["Upload-Offset"] == "5000"
    assert response.headers["Upload-Length"] == str(len(data))
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Upload-Expires"]
    assert "Upload-Metadata" not in response.headers


def test_wrong_content_type_and_wrong_offset_write_nothing(server, alice):
    data, _ = age_file(b"w" * 100_000)
    path = created(alice, server, len(data))
    response = patch(alice, server, path, 0, data[:4000],
                     **{"Content-Type": "application/octet-stream"})
    assert response.status_code == 415
    response = patch(alice, server, path, 10, data[10:4000])
    assert response.status_code == 409 and response.json()["error"] == "offset_mismatch"
    assert head(alice, server, path).headers["Upload-Offset"] == "0"
    assert record(path).offset == 0
    # Positive control: the right type at the right offset is taken.
    assert patch(alice, server, path, 0, data[:4000]).status_code == 204


def test_a_body_past_the_length_is_413_and_nothing_past_the_end_commits(server, alice):
    data, _ = age_file(b"p" * 150_000)
    path = created(alice, server, len(data))
    response = patch(alice, server, path, 0, data + b"extra")  # declared Content-Length
    assert response.status_code == 413
    assert head(alice, server, path).headers["Upload-Offset"] == "0"

    def chunked():
        body = data + b"x" * 40_000
        for i in range(0, len(body), 30_000):
            yield body[i:i + 30_000]

    response = patch(alice, server, path, 0, chunked())
    assert response.status_code == 413 and response.json()["error"] == "past_length"
    offset = int(head(alice, server, path).headers["Upload-Offset"])
    assert offset <= len(data)
    assert record(path).state == CipherUpload.State.UPLOADING
    blob = server.media_root / record(path).blob_name
    assert blob.stat().st_size <= len(data) and blob.read_bytes() == data[:blob.stat().st_size]


def test_wrong_methods_get_the_json_405_with_allow_and_change_nothing(server, alice):
    path = created(alice, server, 1000)
    with alice.http(server) as http:
        on_collection = http.request("PUT", UPLOADS, headers=TUS)
        on_upload = http.request("POST", path, headers=TUS)
        on_upload_get = http.get(path, headers=TUS)
    assert on_collection.status_code == 405
    assert on_collection.headers["Allow"] == "POST, OPTIONS"
    assert on_collection.json()["error"] == "method_not_allowed"
    for response in (on_upload, on_upload_get):
        assert response.status_code == 405
        assert response.headers["Allow"] == "HEAD, PATCH, DELETE, OPTIONS"
        assert response.json()["error"] == "method_not_allowed"
    assert CipherUpload.objects.count() == 1 and record(path).offset == 0


def test_termination_deletes_the_upload_and_its_blob(server, alice):
    data, _ = age_file(b"t" * 100_000)
    path = created(alice, server, len(data))
    assert patch(alice, server, path, 0, data[:20_000]).status_code == 204
    blob = server.media_root / record(path).blob_name
    assert blob.exists()
    with alice.http(server) as http:
        assert http.delete(path, headers=TUS).status_code == 204
    assert head(alice, server, path).status_code == 404
    assert not blob.exists() and not CipherUpload.objects.exists()


@pytest.mark.dbsensitive
def test_an_expired_upload_is_410_and_the_purge_deletes_it(server, alice):
    from django.core.management import call_command

    data, _ = age_file(b"e" * 100_000)
    path = created(alice, server, len(data))
    assert patch(alice, server, path, 0, data[:10_000]).status_code == 204
    blob = server.media_root / record(path).blob_name
    CipherUpload.objects.filter(pk=upload_id(path)).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    assert head(alice, server, path).status_code == 410
    response = patch(alice, server, path, 10_000, data[10_000:20_000])
    assert response.status_code == 410 and response.json()["error"] == "upload_expired"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("django.conf.settings.MEDIA_ROOT", server.media_root)
        call_command("purge_uploads")
        assert CipherUpload.objects.exists() and blob.exists()  # dry run
        call_command("purge_uploads", "--yes")
    assert not CipherUpload.objects.exists() and not blob.exists()


def test_daphne_refuses_upload_creation_with_a_clear_message(start_server):
    server = start_server("daphne")
    member = v2_member(server)
    response = create(member, server, 1000)
    assert response.status_code == 503
    assert response.json()["error"] == "uploads_unavailable_under_daphne"
    assert "uvicorn" in response.json()["detail"]
    assert not CipherUpload.objects.exists()
