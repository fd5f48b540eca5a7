"""The file message document of ``client.filemessage`` (docs/protocol.md "File
messages"): its optional ``thumbnail`` round-trips, and a malformed one is ignored —
the message still parses, as the browser's engine ignores it too — never an error."""

from __future__ import annotations

import base64
import json

import pytest

from client import filemessage
from client.messagebox import BoxFormatError

JPEG = b"\xff\xd8\xff\xe0" + bytes(200)
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(100)
DOC = filemessage.FileDocument("photo.png", "image/png", 1000, 1100, "ab" * 16,
                               "AGE-SECRET-KEY-1QQQ", bytes(32))


def parsed(**fields) -> filemessage.FileDocument:
    value = json.loads(filemessage.encode(DOC))
    value.update(fields)
    return filemessage.parse(value)


@pytest.mark.parametrize("thumbnail", [JPEG, WEBP, b"\xff\xd8\xff" + bytes(8 * 1024 - 3)])
def test_a_jpeg_or_webp_thumbnail_round_trips(thumbnail):
    doc = filemessage.FileDocument(**{**DOC.__dict__, "thumbnail": thumbnail})
    value = json.loads(filemessage.encode(doc))
    assert base64.b64decode(value["thumbnail"]) == thumbnail
    assert filemessage.parse(value) == doc


def test_without_a_thumbnail_the_document_has_no_thumbnail_field():
    assert "thumbnail" not in json.loads(filemessage.encode(DOC))
    assert filemessage.parse(json.loads(filemessage.encode(DOC))).thumbnail is None


@pytest.mark.parametrize("bad", [
    42, None, "", "not base64!", base64.b64encode(b"<svg onload=alert(1)>").decode(),
    base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(50)).decode(),
    base64.b64encode(b"\xff\xd8\xff" + bytes(8 * 1024)).decode(),  # one byte too many
])
def test_a_malformed_thumbnail_is_ignored_and_the_file_message_still_parses(bad):
    doc = parsed(thumbnail=bad)
    assert doc.thumbnail is None
    assert (doc.name, doc.upload_id) == (DOC.name, DOC.upload_id)


def test_a_malformed_file_message_is_still_refused_with_a_thumbnail():
    with pytest.raises(BoxFormatError):
        parsed(upload_id="nope", thumbnail=base64.b64encode(JPEG).decode())
