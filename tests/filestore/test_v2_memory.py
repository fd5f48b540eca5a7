"""The ciphertext mode streams: uploading and downloading 96 MiB grows the server's RSS by
far less than the file (DESIGN.md §6, §10).

The file is a real age header and nonce followed by random payload bytes of a valid
length: the server checks the header's shape and the length, never the tags, so the
test need not encrypt 96 MiB. A server that buffered the body or the response would
grow by at least the file's size, far past the bound.
"""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest

import agecrypt
from agecrypt.stream import payload_size
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.filestore.v2_support import OCTETS, create, path_of, upload_id, v2_member
from tests.support.probes import PeakRss

pytestmark = pytest.mark.usefixtures("fresh_rate_limits")

SIZE = 96 * 1024 * 1024
BOUND = 32 * 1024 * 1024
PIECE = 1024 * 1024


def fake_age_file(plaintext_len: int):
    """``(header+nonce, total length, payload generator factory)``: a valid shape."""
    identity = agecrypt.HybridIdentity.generate()
    head = agecrypt.encrypt(b"", [identity.recipient()])[:-16]  # drop the empty chunk
    total = len(head) + payload_size(plaintext_len)

    def body():
        yield head
        remaining = total - len(head)
        seed = hashlib.sha256(b"memory").digest() * (PIECE // 32)
        while remaining:
            piece = seed[:min(PIECE, remaining)]
            remaining -= len(piece)
            yield piece
    return total, body


def test_96_mib_up_and_down_in_bounded_server_memory(start_server):
    server = start_server("uvicorn")
    alice = v2_member(server)
    total, body = fake_age_file(SIZE)
    path = path_of(create(alice, server, total).headers["Location"])
    expected = hashlib.sha256()
    for piece in body():
        expected.update(piece)
    with PeakRss(server.pid) as upload_rss:
        with alice.http(server) as http:
            r = http.patch(path, content=body(), headers={**OCTETS, "Upload-Offset": "0"},
                           timeout=120)
    assert r.status_code == 204, r.text
    time.sleep(0.1)
    got = hashlib.sha256()
    with PeakRss(server.pid) as download_rss:
        with httpx.stream("GET", server.url + f"/api/v1/files/{upload_id(path)}",
                          headers=alice.headers(server), timeout=120) as response:
            assert response.status_code == 200
            for piece in response.iter_bytes(PIECE):
                got.update(piece)
    assert got.hexdigest() == expected.hexdigest()
    print(f"server RSS growth: upload {upload_rss.growth}, download {download_rss.growth}")
    assert upload_rss.growth < BOUND, f"upload grew the server by {upload_rss.growth} bytes"
    assert download_rss.growth < BOUND, f"download grew it by {download_rss.growth} bytes"
