"""Ciphertext-mode uploads (v2 sessions) against a live uvicorn server.

The client makes the age file (agecrypt, to a one-time identity the server
never sees); the server stores the bytes, checks the header's shape and the
length, records the SHA-256 and serves the file back with Range. Each refusal
is paired with the accepted case it differs from, so a check that stopped
refusing fails the test.
"""

from __future__ import annotations

import subprocess

import pytest

from filestore.models import CipherUpload
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.filestore.v2_support import (
    age_file,
    create,
    download,
    patch,
    path_of,
    sha256,
    tus_upload,
    upload_id,
    v2_member,
)

pytestmark = pytest.mark.usefixtures("fresh_rate_limits")


def record(path: str) -> CipherUpload:
    return CipherUpload.objects.get(pk=upload_id(path))


def blobs(server) -> list:
    root = server.media_root / "blobs" / "v2"
    return sorted(root.rglob("*.age")) if root.exists() else []


def test_one_patch_round_trip_decrypts_with_the_age_cli(start_server, tmp_path):
    """X25519 deployment: one PATCH, the download has the same SHA-256 as what was sent
    and as the recorded one, and ``age -d -i`` with the one-time identity decrypts it."""
    server = start_server("uvicorn", SECURECHAT_KEY_TYPE="x25519")
    alice = v2_member(server)
    plaintext = b"v2 round trip " + bytes(range(256)) * 1500
    data, identity = age_file(plaintext, "x25519")
    path = tus_upload(alice, server, data)
    assert len(upload_id(path)) == 32  # 128 random bits, hex
    assert record(path).state == "complete" and record(path).sha256 == sha256(data)
    response = download(alice, server, path)
    assert response.status_code == 200
    assert sha256(response.content) == sha256(data)
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    (tmp_path / "file.age").write_bytes(response.content)
    (tmp_path / "key.txt").write_text(str(identity) + "\n")
    out = subprocess.run(["age", "-d", "-i", str(tmp_path / "key.txt"), str(tmp_path / "file.age")],
                         capture_output=True, check=True)
    assert out.stdout == plaintext


def test_small_patches_split_the_header_and_range_requests(start_server):
    """Hybrid deployment: PATCHes of 100 bytes (the header arrives over 17 of them) then
    larger ones; the file comes back whole and by Range (206, suffix, 416)."""
    server = start_server("uvicorn")
    alice = v2_member(server)
    plaintext = bytes(range(256)) * 600
    data, identity = age_file(plaintext)
    response = create(alice, server, len(data))
    assert response.status_code == 201, response.text
    path = path_of(response.headers["Location"])
    offset = 0
    for size in [100] * 20 + [7000] * 40:
        piece = data[offset:offset + size]
        if not piece:
            break
        r = patch(alice, server, path, offset, piece)
        assert r.status_code == 204, r.text
        offset = int(r.headers["Upload-Offset"])
    assert offset == len(data) and record(path).sha256 == sha256(data)
    whole = download(alice, server, path)
    assert agecrypt_decrypt(whole.content, identity) == plaintext
    part = download(alice, server, path, Range="bytes=10-99")
    assert part.status_code == 206 and part.content == data[10:100]
    assert part.headers["Content-Range"] == f"bytes 10-99/{len(data)}"
    tail = download(alice, server, path, Range="bytes=-50")
    assert tail.status_code == 206 and tail.content == data[-50:]
    past = download(alice, server, path, Range=f"bytes={len(data)}-")
    assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{len(data)}"


def agecrypt_decrypt(data: bytes, identity) -> bytes:
    import agecrypt

    return agecrypt.decrypt(data, [identity])
