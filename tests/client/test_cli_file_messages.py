"""Files in conversations with the ``securechat`` CLI: ``send --file`` encrypts while it
uploads and sends a file message with its signed claim; the other member's ``read``
lists it, ``download --message`` saves exactly the bytes under a safe name, and
``file-key --message`` prints the one-time key ``age -d -i`` opens the stored file with.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from client import filemessage
from filestore.models import CipherUpload
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.browser.test_v2_file_messages import CASES
from tests.client.test_cli_messages import CliUser

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


@pytest.fixture
def server(start_server, settings):
    """An X25519 deployment (so the standard ``age`` CLI opens the stored file)."""
    settings.SECURECHAT_KEY_TYPE = "x25519"
    return start_server("uvicorn", SECURECHAT_KEY_TYPE="x25519")


def test_a_file_sent_in_a_conversation_is_read_downloaded_and_opened_by_age(
        server, tmp_path):
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    cid = alice.ok("new", bob.email).split()[2]
    hostile = tmp_path / "..evil\u202etxt.exe"
    data = os.urandom(300_000)
    hostile.write_bytes(data)
    sent = alice.ok("send", cid, "--file", str(hostile))
    assert "(300000 bytes)" in sent
    listing = bob.ok("read", alice.email)
    line = next(line for line in listing.splitlines() if "[file]" in line)
    seq = line.split()[0][1:]
    assert "\u202e" not in line and "evil" in line
    out = tmp_path / "inbox"
    out.mkdir()
    saved = bob.ok("download", "--message", f"{cid}:{seq}", "-o", str(out))
    assert "file_hash verified" in saved
    (landed,) = out.iterdir()
    assert landed.name == filemessage.safe_name(hostile.name) == "evil" + "txt.exe"
    assert hashlib.sha256(landed.read_bytes()).digest() == hashlib.sha256(data).digest()
    key = bob.ok("file-key", "--message", f"{cid}:{seq}").strip()
    assert key.startswith("AGE-SECRET-KEY-1")
    (tmp_path / "key.txt").write_text(key + "\n")
    upload = CipherUpload.objects.get()
    opened = subprocess.run(["age", "-d", "-i", str(tmp_path / "key.txt"),
                             str(server.media_root / upload.blob_name)],
                            capture_output=True, timeout=60)
    assert opened.returncode == 0 and opened.stdout == data
    # A text message is not a file: one clear line, nothing saved.
    text_seq = alice.ok("send", cid, "not a file").split()[1][1:]
    refused = bob.run("download", "--message", f"{cid}:{text_seq}", "-o", str(tmp_path / "x"))
    assert refused.returncode != 0 and "is not a file" in refused.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("name, safe", [
    ("../../.bashrc", "bashrc"), ("/etc/x", "x"), ("a\\b", "b"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"), ("..", "file"), ("\x00\x07", "file"),
    ("n" * 300 + ".pdf", "n" * 146 + ".pdf"), *CASES,
])
def test_safe_names_follow_the_browsers_rule(name, safe):
    """The CLI saves under the same name the browser would (the browser's table too)."""
    assert filemessage.safe_name(name) == safe
    assert len(filemessage.safe_name(name)) <= filemessage.MAX_NAME


@pytest.mark.parametrize("name, prefix, expected", [
    ("report.pdf", "", "report.pdf"),
    ("../../.bashrc", "12-", "12-bashrc"),
    ("\u00e9" * 150 + ".pdf", "", "\u00e9" * 118 + ".pdf"),  # 2 bytes each: 240 bytes
    ("\U0001f600" * 150, "7-", "7-" + "\U0001f600" * 59),  # 4 bytes each, no extension
    ("\u202e", "", "file"),
])
def test_local_names_fit_a_file_systems_255_bytes(name, prefix, expected):
    """The safe name behind a prefix, shortened to 240 bytes of UTF-8 (extension kept)."""
    local = filemessage.local_name(name, prefix)
    assert local == expected
    assert len(local.encode()) <= filemessage.MAX_NAME_BYTES
