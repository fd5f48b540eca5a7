"""Uploads with tuspy and downloads through a live uvicorn server, end to end.

Every size that matters for the 64 KiB STREAM chunking (empty, one byte, one
whole chunk, one byte past it, many chunks plus a short tail) goes up with
tuspy both in small PATCHes and as one whole-file PATCH (tuspy's default),
and comes back bit-identical to both members of the conversation. The stored
blob is a standard age file: the recipient exports their identity (the
password-wrapped age file of ``POST /api/v1/me/identity/export``), opens it
with their password using pyrage, and decrypts ``/raw`` with the result using
the ``age`` CLI (X25519 keys) or npm ``age-encryption`` (hybrid post-quantum
keys).
"""

from __future__ import annotations

import subprocess

import pyrage
import pytest

from filestore.models import StoredFile, Upload
from tests.filestore.helpers import file_message_id, make_pair, random_bytes, sha256, tus_upload
from tests.support.live import REPO_ROOT

SIZES = [0, 1, 65_536, 65_537, 10 * 1024 * 1024 + 3]
SIZE_IDS = ["0B", "1B", "64KiB", "64KiB+1", "10MiB+3"]
JS_DIR = REPO_ROOT / "tests" / "agecrypt" / "js"


@pytest.fixture
def server(start_server):
    return start_server("uvicorn")


@pytest.mark.dbsensitive
@pytest.mark.parametrize("mode", ["whole-file", "small-patches"])
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_tuspy_upload_downloads_identically_for_both_members(server, size, mode):
    """A file uploaded with tuspy downloads decrypted with the same SHA-256 for both members."""
    pair = make_pair(server)
    data = random_bytes(size)
    chunk = None if mode == "whole-file" else 100_000  # not a multiple of 64 KiB on purpose
    url = tus_upload(pair.alice, server, pair.conversation_id, data, chunk_size=chunk)
    message_id = file_message_id(url)
    stored = StoredFile.objects.get(message_id=message_id)
    assert stored.size == size
    for member in (pair.alice, pair.bob):
        with member.http(server) as http:
            response = http.get(f"/api/v1/files/{message_id}")
        assert response.status_code == 200, response.text
        assert int(response.headers["Content-Length"]) == size
        assert sha256(response.content) == sha256(data)
    assert Upload.objects.get(message_id=message_id).state == Upload.State.COMPLETE


def _raw(member, server, message_id) -> bytes:
    with member.http(server) as http:
        response = http.get(f"/api/v1/files/{message_id}/raw")
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"age-encryption.org/v1\n")
    return response.content


def exported_identity(member, server) -> bytes:
    """The member's identity file as they get it: export, then open with their password."""
    with member.http(server) as http:
        response = http.post("/api/v1/me/identity/export",
                             json={"password": member.test_user.password})
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"age-encryption.org/v1\n-> scrypt ")
    return pyrage.passphrase.decrypt(response.content, member.test_user.password)


def test_raw_blob_decrypts_with_the_age_cli_for_x25519_keys(start_server, settings, tmp_path):
    """With SECURECHAT_KEY_TYPE=x25519, the recipient's exported identity opens /raw with
    `age -d`."""
    settings.SECURECHAT_KEY_TYPE = "x25519"
    server = start_server("uvicorn", SECURECHAT_KEY_TYPE="x25519")
    pair = make_pair(server)
    assert str(pair.bob.test_user.identity_file.recipient()).startswith("age1")
    data = random_bytes(3 * 65_536 + 17)
    message_id = file_message_id(tus_upload(pair.alice, server, pair.conversation_id, data))
    identity = tmp_path / "bob-identity.txt"
    identity.write_bytes(exported_identity(pair.bob, server))
    blob = tmp_path / "file.age"
    blob.write_bytes(_raw(pair.bob, server, message_id))
    out = subprocess.run(["age", "-d", "-i", str(identity), str(blob)], capture_output=True,
                         check=True, timeout=60).stdout
    assert sha256(out) == sha256(data)


def test_raw_blob_decrypts_with_npm_age_encryption_for_hybrid_keys(server, tmp_path):
    """With hybrid (ML-KEM-768 + X25519) keys, npm age-encryption opens /raw with the
    recipient's exported identity."""
    pair = make_pair(server)
    assert str(pair.bob.test_user.identity_file.recipient()).startswith("age1pq1")
    data = random_bytes(2 * 65_536 + 5)
    message_id = file_message_id(tus_upload(pair.alice, server, pair.conversation_id, data))
    blob = _raw(pair.bob, server, message_id)
    assert b"\n-> mlkem768x25519 " in blob
    identity = tmp_path / "bob-identity.txt"
    identity.write_bytes(exported_identity(pair.bob, server))
    out = subprocess.run(["node", str(JS_DIR / "decrypt.mjs"), str(identity)], input=blob,
                         capture_output=True, check=True, timeout=60, cwd=REPO_ROOT).stdout
    assert sha256(out) == sha256(data)
