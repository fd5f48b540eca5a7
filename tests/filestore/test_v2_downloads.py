"""``GET /api/v1/files/<upload id>`` on a live uvicorn server: Range, headers, access,
and a damaged blob.

The server serves the stored age file as it is (it has no key): one range
(``a-b``, ``a-``, ``-n``) gives 206 with ``Content-Range``, a range that selects
nothing 416 with ``bytes */size``, several ranges or a malformed one the whole
file (200). Every answer is an attachment no browser renders. A member of a
conversation whose message names the upload downloads it; anyone else, an
unknown id and a request without a login get nothing. A blob whose bytes went
missing is never served as a clean, complete body.
"""

from __future__ import annotations

import httpx
import pytest

from filestore.models import CipherUpload
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.filestore.v2_support import (
    age_file,
    download,
    member_of,
    tus_upload,
    upload_id,
    v2_member,
)
from tests.support.v2chat import V2User, group_of

pytestmark = pytest.mark.usefixtures("fresh_rate_limits")

SAFE = {"Content-Type": "application/octet-stream", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'"}


@pytest.fixture
def server(start_shared_server):
    """One uvicorn for the module's tests (rows and files are emptied after each)."""
    return start_shared_server("uvicorn")


@pytest.fixture
def stored(server):
    """(member, upload path, age file bytes): a complete upload of 3 chunks and a tail."""
    alice = v2_member(server)
    data, _ = age_file(bytes(range(256)) * (3 * 256 + 7))
    return alice, tus_upload(alice, server, data), data


def test_range_requests(server, stored):
    alice, path, data = stored
    size = len(data)
    whole = download(alice, server, path)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert int(whole.headers["Content-Length"]) == size
    assert whole.headers["Content-Disposition"] == f'attachment; filename="{upload_id(path)}.age"'
    for name, value in SAFE.items():
        assert whole.headers[name] == value, name
    assert {"private", "no-store"} <= set(whole.headers["Cache-Control"].split(", "))
    cases = {"bytes=0-0": (0, 1), "bytes=70000-140000": (70000, 140001),
             f"bytes={size - 10}-": (size - 10, size), "bytes=-100": (size - 100, size),
             f"bytes=-{size + 50}": (0, size), f"bytes=100-{size + 999}": (100, size)}
    for header, (start, end) in cases.items():
        part = download(alice, server, path, Range=header)
        assert part.status_code == 206, header
        assert part.content == data[start:end], header
        assert part.headers["Content-Range"] == f"bytes {start}-{end - 1}/{size}", header
        assert int(part.headers["Content-Length"]) == end - start
        assert part.headers["X-Content-Type-Options"] == "nosniff"
    for header in (f"bytes={size}-", f"bytes={size + 5}-{size + 9}", "bytes=-0"):
        refused = download(alice, server, path, Range=header)
        assert refused.status_code == 416, header
        assert refused.headers["Content-Range"] == f"bytes */{size}"
        assert refused.json()["error"] == "range_not_satisfiable"
    for header in ("bytes=0-1,5-9", "bytes=9-2", "items=0-5", "bytes=-"):
        ignored = download(alice, server, path, Range=header)
        assert ignored.status_code == 200 and ignored.content == data, header


def test_access_members_only_and_the_same_404_for_everything_else(server):
    """Bob, a member of a conversation with a message naming the upload, downloads it;
    Carol (no such conversation) and an unknown id get the same 404; no login is 401."""
    alice, bob, carol = (V2User.signup(n) for n in ("alice", "bob", "carol"))
    data, _ = age_file(b"shared " * 5000)
    path = tus_upload(member_of(server, alice), server, data)
    group = group_of(alice, bob)
    assert download(member_of(server, bob), server, path).status_code == 404  # not yet named
    assert group.send_file(alice, upload_id(path)).status_code == 201
    assert download(member_of(server, bob), server, path).content == data
    denied = download(member_of(server, carol), server, path)
    unknown = download(member_of(server, carol), server, "/api/v1/uploads/" + "0" * 32)
    assert denied.status_code == unknown.status_code == 404
    assert denied.json() == unknown.json()
    assert denied.headers["X-Content-Type-Options"] == "nosniff"
    anonymous = httpx.get(f"{server.url}/api/v1/files/{upload_id(path)}")
    assert anonymous.status_code == 401 and anonymous.content != data


def test_a_damaged_blob_is_never_served_as_a_complete_file(server, stored):
    """A blob cut short on disk: the transfer ends early (a transfer error, never a clean
    200 of the stated length); a missing blob is 404."""
    alice, path, data = stored
    blob = server.media_root / CipherUpload.objects.get(pk=upload_id(path)).blob_name
    blob.write_bytes(data[:len(data) // 2])
    try:
        with alice.http(server) as http:
            response = http.get(f"/api/v1/files/{upload_id(path)}")
        complete = len(response.content) == int(response.headers["Content-Length"])
    except httpx.RemoteProtocolError:  # the server broke the transfer off
        complete = False
    assert not complete
    blob.unlink()
    gone = download(alice, server, path)
    assert gone.status_code == 404 and gone.json()["error"] == "not_found"
