"""``securechat upload FILE --to EMAIL|--conversation ID``: encrypt while uploading, then
send the file message; resumable after a SIGKILL by running the same command again, with
the nonce rules of DESIGN.md §6 (docs/cli.md "Files").

The kill tests put a throttling proxy between the CLI and the server, so the upload is
really in flight when the CLI dies: the server has recorded 0 < offset < length.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from agecrypt.stream import CHUNK_SIZE, ENC_CHUNK_SIZE, NONCE_SIZE
from filestore.models import CipherUpload
from messaging.models import MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.client.cli_support import assert_one_error_line
from tests.client.test_cli_messages import PASSWORD, CliUser
from tests.filestore.throttle import ThrottlingProxy
from tests.filestore.v2_support import wait_until
from tests.support.live import LiveServer, free_port

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

PATCH = 1024 * 1024
RATE = 1024 * 1024  # bytes per second through the proxy: a 4 MiB upload takes seconds


@pytest.fixture
def server(start_server):
    return start_server("uvicorn")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def file_seq(user: CliUser, conversation: str) -> str:
    """The seq of the last file message ``read`` lists."""
    lines = [line for line in user.ok("read", conversation).splitlines() if "[file]" in line]
    return lines[-1].split()[0][1:]


def fetch(user: CliUser, message: str, out: Path) -> Path:
    out.mkdir()
    user.ok("download", message, "-o", str(out))
    (saved,) = out.iterdir()
    return saved


def test_upload_to_an_address_starts_the_conversation_and_sends_the_file(server, tmp_path):
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    path = random_file(tmp_path / "minutes.pdf", 200_000)
    sent = alice.ok("upload", str(path), "--to", bob.email)
    assert re.match(r"sent #\d+ to [0-9a-f]{12}: minutes.pdf \(200000 bytes\)", sent), sent
    cid = MessageV2.objects.get().conversation_id
    saved = fetch(bob, f"{cid}:{file_seq(bob, alice.email)}", tmp_path / "bob-in")
    assert saved.name == "minutes.pdf" and sha256(saved) == sha256(path)

    # --conversation ID: the same conversation, a second file, no new conversation.
    other = random_file(tmp_path / "photo.jpg", 70_000)
    alice.ok("upload", str(other), "--conversation", cid[:10])
    assert {m.conversation_id for m in MessageV2.objects.all()} == {cid}
    saved = fetch(bob, f"{cid}:{file_seq(bob, cid)}", tmp_path / "bob-in-2")
    assert saved.name == "photo.jpg" and sha256(saved) == sha256(other)


def test_bad_upload_requests_are_one_error_line_and_send_nothing(server, tmp_path):
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    path = random_file(tmp_path / "a.bin", 1000)
    assert_one_error_line(alice.run("upload", str(tmp_path / "missing"), "--to", bob.email),
                          "is not a file")
    assert_one_error_line(alice.run("upload", str(path), "--to", bob.email, "--show-key"),
                          "--ref-out, --show-key and --resume are for a bare upload")
    assert_one_error_line(alice.run("upload", str(path), "--to", bob.email,
                                    "--conversation", "abc"), "not allowed with")
    assert_one_error_line(alice.run("upload", str(path), "--conversation", "f" * 12),
                          "no conversation of yours matches")
    assert not CipherUpload.objects.exists() and not MessageV2.objects.exists()


class TrackingProxy(ThrottlingProxy):
    """The throttling proxy, counting the client connections it still forwards."""

    def __init__(self, *args, **kwargs):
        self.forwarding = 0
        super().__init__(*args, **kwargs)

    def _up(self, src, dst) -> None:
        with self._lock:
            self.forwarding += 1
        try:
            super()._up(src, dst)
        finally:
            with self._lock:
                self.forwarding -= 1


@pytest.fixture
def proxied(transactional_db, redis_url, tmp_path):
    """A server and a throttling proxy in front of it, whose origin the server accepts
    (the CLI behind the proxy sends ``Origin: <the proxy>``)."""
    port = free_port()
    proxy = TrackingProxy(port, bytes_per_second=RATE)
    server = LiveServer(kind="uvicorn", workdir=tmp_path / "server", port=port, extra_env={
        "SECURECHAT_ORIGINS": f"http://127.0.0.1:{port},{proxy.url}"})
    server.start()
    yield server, proxy
    server.stop()
    proxy.close()


def kill_mid_upload(alice: CliUser, path: Path, to: str,
                    proxy: TrackingProxy) -> tuple[int, CipherUpload]:
    """Run ``upload PATH --to TO`` and SIGKILL it once the server has recorded the first
    PATCH and the second is on its way (so its chunks are in the resume record); wait until
    the proxy delivered what the dead CLI had sent and the server let go of the upload.
    Returns the server's offset at the kill and the upload as it was left."""
    proc = subprocess.Popen(
        [sys.executable, "-c", cli_support.BOOT, str(cli_support.TEST_FLOOR),
         "--server", alice.server.url, "--password-stdin", "upload", str(path), "--to", to,
         "--patch-size", str(PATCH)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        cwd=cli_support.REPO_ROOT, env=cli_support.cli_env(alice.home), start_new_session=True)
    proc.stdin.write((PASSWORD + "\n").encode())
    proc.stdin.close()
    try:
        def recorded():
            assert proc.poll() is None, proc.stderr.read()
            return CipherUpload.objects.filter(offset__gt=0).first()
        first = wait_until(recorded, timeout=120, what="the first recorded PATCH")
        sent_then = proxy.sent_upstream
        wait_until(lambda: proc.poll() is None and proxy.sent_upstream > sent_then + 64 * 1024,
                   timeout=60, what="the second PATCH under way")
        at_kill = CipherUpload.objects.get(pk=first.pk)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert 0 < at_kill.offset < at_kill.length, "not killed strictly mid-transfer"
    assert at_kill.state == CipherUpload.State.UPLOADING
    wait_until(lambda: proxy.forwarding == 0, timeout=60, what="the proxy to drain")
    wait_until(lambda: CipherUpload.objects.filter(pk=at_kill.pk, lease_owner="").exists(),
               timeout=60, what="the server to end the cut PATCH")
    left = CipherUpload.objects.get(pk=at_kill.pk)
    assert left.offset < left.length and not MessageV2.objects.exists()
    return at_kill.offset, left


def behind_proxy(tmp_path, proxy, name: str) -> CliUser:
    return CliUser(SimpleNamespace(url=proxy.url), tmp_path, name)


def test_upload_killed_mid_transfer_completes_when_run_again(proxied, tmp_path):
    server, proxy = proxied
    alice, bob = behind_proxy(tmp_path, proxy, "alice"), CliUser(server, tmp_path, "bob")
    path = random_file(tmp_path / "dataset.bin", 4 * 1024 * 1024 + 321)
    _, left = kill_mid_upload(alice, path, bob.email, proxy)
    blob = server.media_root / left.blob_name
    sent_before = blob.read_bytes()[:left.offset]

    again = alice.ok("upload", str(path), "--to", bob.email, "--patch-size", str(PATCH))
    assert f"resumed at byte {left.offset})" in again and "restarted" not in again
    (done,) = CipherUpload.objects.all()
    assert done.pk == left.pk and done.state == CipherUpload.State.COMPLETE
    # One identity, key and nonce for the whole upload: the bytes sent before the kill
    # are the stored file's first bytes, and the recipient's copy is the original.
    assert blob.read_bytes()[:left.offset] == sent_before
    assert MessageV2.objects.count() == 1
    saved = fetch(bob, f"{MessageV2.objects.get().conversation_id}:"
                       f"{file_seq(bob, alice.email)}", tmp_path / "bob-in")
    assert sha256(saved) == sha256(path)


def test_a_file_changed_after_the_servers_offset_is_uploaded_again_under_a_new_key(
        proxied, tmp_path):
    """The chunks of the PATCH in flight were recorded before they left; the server
    reports an offset below their end (here: the one it had at the kill). Changing one of
    those chunks must not resume (one chunk index would get two ciphertexts under one key
    and nonce): every recorded chunk is re-hashed and the CLI starts over, new identity."""
    server, proxy = proxied
    alice, bob = behind_proxy(tmp_path, proxy, "alice"), CliUser(server, tmp_path, "bob")
    path = random_file(tmp_path / "draft.bin", 4 * 1024 * 1024)
    offset, left = kill_mid_upload(alice, path, bob.email, proxy)
    CipherUpload.objects.filter(pk=left.pk).update(offset=offset)  # it under-reports
    old_prefix = (server.media_root / left.blob_name).read_bytes()[:left.header_len]
    payload = left.header_len + NONCE_SIZE
    changed = (offset - payload) // ENC_CHUNK_SIZE + 1  # wholly after the offset
    assert payload + changed * ENC_CHUNK_SIZE > offset
    assert payload + (changed + 1) * ENC_CHUNK_SIZE < 2 * PATCH  # inside PATCH two: recorded
    data = bytearray(path.read_bytes())
    data[changed * CHUNK_SIZE + 10] ^= 0x01
    path.write_bytes(data)

    again = alice.ok("upload", str(path), "--to", bob.email, "--patch-size", str(PATCH))
    assert "restarted" in again and "resumed" not in again
    (done,) = CipherUpload.objects.all()  # the old upload was terminated
    assert done.pk != left.pk and done.state == CipherUpload.State.COMPLETE
    assert not (server.media_root / done.blob_name).read_bytes().startswith(old_prefix)
    saved = fetch(bob, f"{MessageV2.objects.get().conversation_id}:"
                       f"{file_seq(bob, alice.email)}", tmp_path / "bob-in")
    assert sha256(saved) == sha256(path)


KILL_BEFORE_SEND_BOOT = cli_support.BLOCK_DJANGO + """
import os, signal
from client import conversations
def send_file(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # the upload is complete, the message not sent
conversations.Messenger.send_file = send_file
from client.cli import main
sys.exit(main(sys.argv[2:], _min_work_factor=int(sys.argv[1])))
"""


def test_killed_between_upload_and_message_the_rerun_sends_the_same_upload(
        server, tmp_path, monkeypatch):
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    path = random_file(tmp_path / "slides.key", 500_000)
    monkeypatch.setattr(cli_support, "BOOT", KILL_BEFORE_SEND_BOOT)
    assert alice.run("upload", str(path), "--to", bob.email).returncode == -signal.SIGKILL
    (uploaded,) = CipherUpload.objects.all()
    assert uploaded.state == CipherUpload.State.COMPLETE and not MessageV2.objects.exists()

    monkeypatch.undo()
    again = alice.ok("upload", str(path), "--to", bob.email)
    assert f"resumed at byte {uploaded.length})" in again  # nothing uploaded twice
    (sent,) = CipherUpload.objects.all()
    assert sent.pk == uploaded.pk and MessageV2.objects.count() == 1
    saved = fetch(bob, f"{MessageV2.objects.get().conversation_id}:"
                       f"{file_seq(bob, alice.email)}", tmp_path / "bob-in")
    assert sha256(saved) == sha256(path)
    records = alice.home / ".config" / "securechat" / "uploads"
    assert list(records.iterdir()) == []  # sent: no resume record is left
