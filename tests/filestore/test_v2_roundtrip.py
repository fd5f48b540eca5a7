"""Uploads with tuspy and downloads through a live uvicorn server, end to end.

Every size that matters for the 64 KiB STREAM chunking (empty, one byte, one
whole chunk, one byte past it, many chunks plus a short tail) is encrypted by
the client to a one-time identity, goes up with tuspy both in small PATCHes
and as one whole-file PATCH (tuspy's default), and comes back bit-identical to
the uploader and to a member of a conversation whose file message names it;
the recorded SHA-256 is the file's. With hybrid (ML-KEM-768 + X25519) keys,
npm ``age-encryption`` opens the download with the one-time identity (the
``age`` CLI for X25519 is test_v2_uploads).
"""

from __future__ import annotations

import os
import subprocess

import pytest

import agecrypt
from filestore.models import CipherUpload
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.filestore.v2_support import (
    age_file,
    download,
    member_of,
    sha256,
    tus_upload,
    upload_id,
)
from tests.support.live import REPO_ROOT
from tests.support.v2chat import V2User, group_of

pytestmark = pytest.mark.usefixtures("fresh_rate_limits")

SIZES = [0, 1, 65_536, 65_537, 10 * 1024 * 1024 + 3]
SIZE_IDS = ["0B", "1B", "64KiB", "64KiB+1", "10MiB+3"]
JS_DIR = REPO_ROOT / "tests" / "agecrypt" / "js"


@pytest.fixture
def server(start_shared_server):
    """One uvicorn for the module's tests (rows and files are emptied after each)."""
    return start_shared_server("uvicorn")


@pytest.mark.dbsensitive
@pytest.mark.parametrize("mode", ["whole-file", "small-patches"])
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_tuspy_upload_downloads_identically_for_both_members(server, size, mode):
    alice, bob = V2User.signup("alice"), V2User.signup("bob")
    plaintext = os.urandom(size)
    data, identity = age_file(plaintext)
    chunk = None if mode == "whole-file" else 100_000  # not a multiple of 64 KiB on purpose
    path = tus_upload(member_of(server, alice), server, data, chunk_size=chunk)
    upload = CipherUpload.objects.get(pk=upload_id(path))
    assert (upload.state, upload.length, upload.sha256) == ("complete", len(data), sha256(data))
    assert group_of(alice, bob).send_file(alice, upload_id(path)).status_code == 201
    for member in (alice, bob):
        response = download(member_of(server, member), server, path)
        assert response.status_code == 200, response.text
        assert int(response.headers["Content-Length"]) == len(data)
        assert sha256(response.content) == sha256(data)
    assert agecrypt.decrypt(response.content, [identity]) == plaintext


def test_download_decrypts_with_npm_age_encryption_for_hybrid_keys(start_server, tmp_path):
    server = start_server("uvicorn", SECURECHAT_KEY_TYPE="hybrid")
    alice = V2User.signup("alice")
    plaintext = os.urandom(2 * 65_536 + 5)
    data, identity = age_file(plaintext, "hybrid")
    path = tus_upload(member_of(server, alice), server, data)
    blob = download(member_of(server, alice), server, path).content
    assert b"\n-> mlkem768x25519 " in blob
    key = tmp_path / "one-time-identity.txt"
    key.write_text(str(identity) + "\n")
    out = subprocess.run(["node", str(JS_DIR / "decrypt.mjs"), str(key)], input=blob,
                         capture_output=True, check=True, timeout=60, cwd=REPO_ROOT).stdout
    assert sha256(out) == sha256(plaintext)
