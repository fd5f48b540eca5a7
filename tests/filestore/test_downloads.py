"""Decrypting downloads: access, Range, damaged blobs, signatures and safe headers.

A flipped bit in a stored chunk cuts the transfer (the client never sees a
clean end or wrong bytes); Range requests read across chunk boundaries,
suffix ranges work and unsatisfiable ranges get 416; a message whose
signature fails is refused (409) while its age file stays available from
``/raw``; hostile file names come back as a safe ``attachment`` and uploaded
HTML is never served as HTML.
"""

from __future__ import annotations

import urllib.parse

import httpx
import pytest

from agecrypt import CHUNK_SIZE, ENC_CHUNK_SIZE
from filestore.models import StoredFile
from messaging.models import Message
from tests.filestore.helpers import file_message_id, make_pair, random_bytes, tus_upload
from tests.support.accounts import make_user


@pytest.fixture
def server(start_server):
    return start_server("uvicorn")


@pytest.fixture
def pair(server):
    return make_pair(server)


def upload(pair, server, data, **kw) -> str:
    return file_message_id(tus_upload(pair.alice, server, pair.conversation_id, data, **kw))


def header_len(blob: bytes) -> int:
    return blob.index(b"\n", blob.index(b"\n---") + 1) + 1 + 16


def test_flipped_bit_in_a_middle_chunk_truncates_the_transfer(server, pair):
    """One bit flipped in chunk 20 of 40: the client receives only bytes that are a prefix of
    the file and the connection ends early (never a clean end, never a wrong byte). A Range
    that stays before the damage is still served in full."""
    data = random_bytes(40 * CHUNK_SIZE + 99)
    message_id = upload(pair, server, data)
    blob = server.media_root / StoredFile.objects.get(message_id=message_id).blob_name
    raw = bytearray(blob.read_bytes())
    raw[header_len(raw) + 20 * ENC_CHUNK_SIZE + 1000] ^= 0x08
    blob.write_bytes(bytes(raw))
    received = bytearray()
    with pair.bob.http(server) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            with http.stream("GET", f"/api/v1/files/{message_id}") as response:
                assert response.status_code == 200
                for piece in response.iter_raw():
                    received += piece
        assert len(received) < len(data)
        assert bytes(received) == data[:len(received)]
        response = http.get(f"/api/v1/files/{message_id}",
                            headers={"Range": f"bytes=0-{20 * CHUNK_SIZE - 1}"})
        assert response.status_code == 206
        assert response.content == data[:20 * CHUNK_SIZE]


def test_positive_control_undamaged_blob_streams_to_a_clean_end(server, pair):
    """The same download without the flipped bit ends cleanly with every byte."""
    data = random_bytes(40 * CHUNK_SIZE + 99)
    message_id = upload(pair, server, data)
    with pair.bob.http(server) as http:
        with http.stream("GET", f"/api/v1/files/{message_id}") as response:
            body = b"".join(response.iter_raw())
    assert body == data


def test_range_requests(server, pair):
    """Single ranges across chunk boundaries, open-ended and suffix ranges give 206 with the
    right Content-Range; ranges past the end give 416 with bytes */size; several ranges
    are ignored (200, whole file)."""
    size = 3 * CHUNK_SIZE + 500
    data = random_bytes(size)
    message_id = upload(pair, server, data)
    url = f"/api/v1/files/{message_id}"
    cases = [
        ("bytes=65530-65545", 65530, 65546),
        (f"bytes={CHUNK_SIZE - 1}-{2 * CHUNK_SIZE}", CHUNK_SIZE - 1, 2 * CHUNK_SIZE + 1),
        ("bytes=0-0", 0, 1),
        (f"bytes={size - 1}-", size - 1, size),
        ("bytes=150000-", 150000, size),
        ("bytes=-700", size - 700, size),
        (f"bytes=-{size + 50}", 0, size),
        (f"bytes=100-{size + 1000}", 100, size),
    ]
    with pair.bob.http(server) as http:
        for header, start, end in cases:
            response = http.get(url, headers={"Range": header})
            assert response.status_code == 206, header
            assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{size}"
            assert response.content == data[start:end], header
        for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
            response = http.get(url, headers={"Range": header})
            assert response.status_code == 416, header
            assert response.headers["Content-Range"] == f"bytes */{size}"
        response = http.get(url, headers={"Range": "bytes=0-1,5-6"})
        assert response.status_code == 200
        assert response.content == data


def test_truncated_blob_is_refused_before_any_byte(server, pair):
    """A blob missing its last bytes is refused (409) even for a Range at its start: the
    final chunk is verified first, so Content-Range never states a wrong size."""
    data = random_bytes(3 * CHUNK_SIZE + 10)
    message_id = upload(pair, server, data)
    blob = server.media_root / StoredFile.objects.get(message_id=message_id).blob_name
    blob.write_bytes(blob.read_bytes()[:-5])
    with pair.bob.http(server) as http:
        response = http.get(f"/api/v1/files/{message_id}", headers={"Range": "bytes=0-9"})
    assert response.status_code == 409
    assert response.json()["error"] == "file_damaged"


@pytest.mark.dbsensitive
def test_failed_signature_refuses_the_download_but_serves_raw(server, pair):
    """A file message whose signature does not verify: 409 for the decrypted download,
    the stored age file from /raw unchanged."""
    data = random_bytes(1000)
    message_id = upload(pair, server, data)
    message = Message.objects.get(pk=message_id)
    signature = bytearray(message.signature)
    signature[0] ^= 1
    Message.objects.filter(pk=message_id).update(signature=bytes(signature))
    blob = (server.media_root / StoredFile.objects.get(message_id=message_id).blob_name)
    with pair.bob.http(server) as http:
        response = http.get(f"/api/v1/files/{message_id}")
        assert response.status_code == 409
        assert response.json()["error"] == "signature_invalid"
        raw = http.get(f"/api/v1/files/{message_id}/raw")
    assert raw.status_code == 200
    assert raw.content == blob.read_bytes()


@pytest.mark.dbsensitive
def test_access_other_users_unknown_and_unsent_files_are_404(server, pair, settings):
    """A non-member, an unknown id and a malformed id get the same 404 (decrypted and raw);
    an unsent file message is 404 and its blob is deleted."""
    carol = make_user()
    from tests.filestore.helpers import login

    outsider = login(server, carol)
    message_id = upload(pair, server, random_bytes(5000))
    for member, target in [(outsider, message_id), (pair.bob, "0" * 32),
                           (pair.bob, "not-an-id")]:
        with member.http(server) as http:
            for suffix in ("", "/raw"):
                response = http.get(f"/api/v1/files/{target}{suffix}")
                assert response.status_code == 404
                assert response.json() == {"error": "not_found", "detail": "No such file."}
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get(f"/api/v1/files/{message_id}").status_code == 401
    from messaging.actions import do_unsend_message

    blob = server.media_root / StoredFile.objects.get(message_id=message_id).blob_name
    settings.MEDIA_ROOT = server.media_root  # the unsend runs in this process
    do_unsend_message(pair.alice.test_user.user, pair.conversation_id, message_id)
    with pair.bob.http(server) as http:
        assert http.get(f"/api/v1/files/{message_id}").status_code == 404
        assert http.get(f"/api/v1/files/{message_id}/raw").status_code == 404
    assert not blob.exists()


HOSTILE_NAMES = {
    "traversal": ("../../etc/passwd", "passwd"),
    "nul": ("evil\x00.txt.exe", "evil.txt.exe"),
    "long-utf8": ("é" * 2048 + ".pdf", None),
    "rtl-override": ("invoice\u202egpj.exe", "invoicegpj.exe"),
    "html": ("page.html", "page.html"),
}


@pytest.mark.parametrize("case", list(HOSTILE_NAMES))
def test_hostile_file_names_get_a_safe_attachment_header(server, pair, case):
    """Path separators, NUL and control characters, bidi overrides and very long names are
    cleaned in Content-Disposition (ASCII fallback + RFC 5987 UTF-8 name); HTML is served
    as an attachment of type application/octet-stream, nosniff and sandboxed."""
    name, expected = HOSTILE_NAMES[case]
    data = b"<html><script>alert(1)</script></html>"
    message_id = upload(pair, server, data, name=name, filetype="text/html")
    with pair.bob.http(server) as http:
        response = http.get(f"/api/v1/files/{message_id}")
    assert response.status_code == 200
    assert response.content == data
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; ")
    assert disposition.isascii()
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    utf8 = urllib.parse.unquote(disposition.split("filename*=UTF-8''", 1)[1])
    for forbidden in ("/", "\\", "\x00", "\u202e", '"'):
        assert forbidden not in fallback and forbidden not in utf8
    assert all(ch.isprintable() for ch in utf8)
    assert len(utf8) <= 150
    if expected is not None:
        assert utf8 == expected
    else:
        assert utf8.endswith(".pdf")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers.get_list("Content-Security-Policy") == ["sandbox; default-src 'none'"]


def test_safe_types_keep_their_type(server, pair):
    """A PNG is served as image/png (on the allowlist); SVG falls back to octet-stream."""
    png = upload(pair, server, b"\x89PNG\r\n\x1a\n" + random_bytes(100), name="a.png",
                 filetype="image/png")
    svg = upload(pair, server, b"<svg/>", name="a.svg", filetype="image/svg+xml")
    with pair.bob.http(server) as http:
        assert http.get(f"/api/v1/files/{png}").headers["Content-Type"] == "image/png"
        assert http.get(f"/api/v1/files/{svg}").headers["Content-Type"] == \
            "application/octet-stream"
