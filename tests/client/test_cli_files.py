"""``securechat upload / download / file-key`` against a live server (another process,
Django blocked; docs/cli.md "Files", protocol.md §21).

The server runs the X25519 key type so the standard ``age`` CLI can open what the
CLI uploaded. Files are a few MiB and PATCHes 1 MiB, so an upload is several PATCHes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command

import agecrypt
from client import filehash
from filestore.models import CipherUpload
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.client.cli_support import assert_one_error_line
from tests.support.live import LiveServer

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

EMAIL = "files@example.org"
PASSWORD = "correct horse battery staple"
PATCH = 1024 * 1024
MAX_FILE = 6 * 1024 * 1024


@pytest.fixture(scope="module")
def server(django_db_setup, redis_url, tmp_path_factory):
    """One server for the module (each test's data is flushed; the process stays)."""
    live = LiveServer(kind="uvicorn", workdir=tmp_path_factory.mktemp("server"),
                      extra_env={"SECURECHAT_KEY_TYPE": "x25519",
                                 "SECURECHAT_MAX_FILE_SIZE": str(MAX_FILE)})
    live.start()
    yield live
    live.stop()


@pytest.fixture
def home(server, tmp_path):
    """A user's home with an X25519 account signed up and logged in by the CLI."""
    home = tmp_path / "home"
    result = cli(home, server, "signup", "--email", EMAIL, "--key-type", "x25519")
    assert result.returncode == 0, result
    return home


def cli(home, server, *args, **kw):
    return cli_support.run_cli(home, "--server", server.url, "--password-stdin", *args,
                               stdin=PASSWORD + "\n", **kw)


def upload(home, server, path, *args):
    result = cli(home, server, "upload", str(path), "--patch-size", str(PATCH), *args)
    assert result.returncode == 0, result
    return dict(re.findall(r"^(\w+): (\S+)", result.stdout, re.M)), result


def random_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def blob_path(server, upload: CipherUpload) -> Path:
    return server.media_root / upload.blob_name


def resume_records(home) -> list[Path]:
    directory = home / ".config" / "securechat" / "uploads"
    return sorted(directory.iterdir()) if directory.exists() else []


def only_upload() -> CipherUpload:
    (upload,) = CipherUpload.objects.all()
    return upload


def test_upload_then_download_gives_the_same_bytes_and_the_signed_hash(server, home, tmp_path):
    plaintext = random_file(tmp_path / "report.bin", 3 * 1024 * 1024 + 1234)
    fields, _ = upload(home, server, tmp_path / "report.bin", "--show-key",
                       "--ref-out", str(tmp_path / "ref.json"))
    stored = only_upload()
    assert stored.pk == fields["upload_id"] and stored.state == CipherUpload.State.COMPLETE
    blob = blob_path(server, stored).read_bytes()
    assert len(blob) == int(fields["length"]) == stored.length
    # The hash the uploader computed while encrypting is the protocol's, over what the
    # server stored; the server's SHA-256 is of those same bytes.
    assert fields["file_hash"] == filehash.file_hash(blob).hex()
    assert stored.sha256 == hashlib.sha256(blob).hexdigest()
    assert (tmp_path / "ref.json").stat().st_mode & 0o777 == 0o600
    # The standard age CLI opens the stored blob with the identity file-key prints.
    key = cli_support.run_cli(home, "file-key", str(tmp_path / "ref.json"))
    assert key.returncode == 0 and key.stdout.strip() == fields["identity"]
    (tmp_path / "key.txt").write_text(key.stdout)
    age = subprocess.run(["age", "-d", "-i", str(tmp_path / "key.txt")], input=blob,
                         capture_output=True, check=True)
    assert age.stdout == plaintext
    # Nothing of the upload is left in the config directory once it completed.
    assert resume_records(home) == []

    out = tmp_path / "out" / "copy.bin"
    out.parent.mkdir()
    result = cli(home, server, "download", "--ref", str(tmp_path / "ref.json"), "-o", str(out))
    assert result.returncode == 0, result
    assert out.read_bytes() == plaintext and os.listdir(out.parent) == ["copy.bin"]
    # The same by id, key file and hash; an existing output needs --force.
    (tmp_path / "key.txt").chmod(0o600)
    by_id = ["download", fields["upload_id"], "--key-file", str(tmp_path / "key.txt"),
             "--hash", fields["file_hash"], "-o", str(out)]
    assert_one_error_line(cli(home, server, *by_id), "exists")
    assert cli(home, server, *by_id, "--force").returncode == 0
    assert out.read_bytes() == plaintext


def server_bytes(server) -> bytes:
    """Everything the server keeps: its files (blobs, logs, mail) and every database row."""
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    parts = [out.getvalue().encode()]
    for path in sorted(server.workdir.rglob("*")):
        if path.is_file():
            parts.append(path.read_bytes())
    return b"\n".join(parts)


def test_the_server_never_sees_the_files_name_its_key_or_its_content(server, home, tmp_path):
    marker = os.urandom(8).hex()
    path = tmp_path / f"plan-{marker}.txt"
    plaintext = random_file(path, 500_000)
    fields, _ = upload(home, server, path, "--show-key")
    stored = blob_path(server, only_upload()).read_bytes()
    everything = server_bytes(server)
    for needle in (marker.encode(), base64.b64encode(path.name.encode()),
                   fields["identity"].encode(), fields["identity"].lower().encode(),
                   plaintext[:32], plaintext[250_000:250_032], plaintext[-32:]):
        assert needle not in everything, needle
    # Positive controls: the probe reaches the rows (the address the CLI signed up with)
    # and the blobs (a slice of the ciphertext).
    assert EMAIL.encode() in everything and stored[-100:-68] in everything


BARRIER_BOOT = cli_support.BLOCK_DJANGO + """
import time
from client import files
_read = files.EncryptingStream.read
def _read_then_hang(self, n=-1):
    if self.tell() >= {after}:
        time.sleep(3600)  # the test kills this process here, mid-upload
    return _read(self, n)
files.EncryptingStream.read = _read_then_hang
from client.cli import main
sys.exit(main(sys.argv[2:], _min_work_factor=int(sys.argv[1])))
"""


def kill_mid_upload(home, server, path: Path) -> CipherUpload:
    """Start an upload, wait until the server has acknowledged its first PATCH (and the
    CLI hangs before sending the second), SIGKILL the CLI; the upload as it was left."""
    boot = BARRIER_BOOT.replace("{after}", str(PATCH))
    proc = subprocess.Popen(
        [sys.executable, "-c", boot, str(cli_support.TEST_FLOOR), "--server", server.url,
         "--password-stdin", "upload", str(path), "--patch-size", str(PATCH)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=cli_support.REPO_ROOT, env=cli_support.cli_env(home), start_new_session=True)
    proc.stdin.write((PASSWORD + "\n").encode())
    proc.stdin.close()
    deadline = time.monotonic() + 60
    try:
        while not CipherUpload.objects.filter(offset__gt=0).exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    left = only_upload()
    assert 0 < left.offset < left.length and left.state == CipherUpload.State.UPLOADING
    return left


def test_an_upload_killed_mid_transfer_resumes_from_the_servers_offset(server, home,
                                                                         tmp_path):
    plaintext = random_file(tmp_path / "big.bin", 3 * 1024 * 1024 + 77)
    left = kill_mid_upload(home, server, tmp_path / "big.bin")
    prefix_before = blob_path(server, left).read_bytes()[:left.offset]

    fields, result = upload(home, server, tmp_path / "big.bin", "--resume", "--show-key")
    assert "restarted" not in result.stdout
    done = only_upload()
    assert done.pk == left.pk == fields["upload_id"]
    assert int(fields["resumed_from"]) == left.offset
    blob = blob_path(server, done).read_bytes()
    # Same header and nonce, and the bytes sent before the kill are untouched.
    assert blob[:left.offset] == prefix_before
    assert agecrypt.decrypt(blob, agecrypt.parse_identities(fields["identity"])) == plaintext
    assert fields["file_hash"] == filehash.file_hash(blob).hex()


def test_a_resume_after_the_file_changed_in_a_sent_chunk_starts_over_under_a_new_key(
        server, home, tmp_path):
    path = tmp_path / "draft.bin"
    plaintext = bytearray(random_file(path, 3 * 1024 * 1024))
    left = kill_mid_upload(home, server, path)
    old_header = blob_path(server, left).read_bytes()[:left.header_len or 200]
    plaintext[1000] ^= 0x01  # inside chunk 0, which the server already has
    path.write_bytes(plaintext)

    fields, result = upload(home, server, path, "--resume", "--show-key")
    assert "restarted" in result.stdout and fields["resumed_from"] == "0"
    assert not CipherUpload.objects.filter(pk=left.pk).exists()  # terminated (tus DELETE)
    done = only_upload()
    blob = blob_path(server, done).read_bytes()
    assert not blob.startswith(old_header[:len(old_header)])  # a new identity and file key
    assert agecrypt.decrypt(blob, agecrypt.parse_identities(fields["identity"])) == plaintext


def test_an_upload_without_resume_ends_the_unfinished_one_and_starts_anew(server, home,
                                                                        tmp_path):
    path = tmp_path / "again.bin"
    plaintext = random_file(path, 3 * 1024 * 1024)
    left = kill_mid_upload(home, server, path)
    fields, result = upload(home, server, path, "--show-key")
    assert fields["resumed_from"] == "0" and "restarted" not in result.stdout
    done = only_upload()  # the unfinished one was terminated, not left to expire
    assert done.pk != left.pk and done.state == CipherUpload.State.COMPLETE
    blob = blob_path(server, done).read_bytes()
    assert agecrypt.decrypt(blob, agecrypt.parse_identities(fields["identity"])) == plaintext
    assert resume_records(home) == []


def test_a_server_offset_beyond_the_recorded_chunks_starts_over(server, home, tmp_path):
    """A server that reports an offset past every chunk the client recorded: start over."""
    path = tmp_path / "claimed.bin"
    plaintext = random_file(path, 3 * 1024 * 1024)
    left = kill_mid_upload(home, server, path)
    # Recorded: the chunks of the first two PATCHes; claim (almost) all of the file.
    CipherUpload.objects.filter(pk=left.pk).update(offset=left.length - 1)
    fields, result = upload(home, server, path, "--resume", "--show-key")
    assert "restarted" in result.stdout
    done = only_upload()
    assert done.pk != left.pk
    blob = blob_path(server, done).read_bytes()
    assert agecrypt.decrypt(blob, agecrypt.parse_identities(fields["identity"])) == plaintext


def test_a_flipped_byte_in_the_stored_file_is_a_forgery_and_leaves_no_output(server, home,
                                                                             tmp_path):
    random_file(tmp_path / "photo.bin", 300_000)
    upload(home, server, tmp_path / "photo.bin", "--ref-out", str(tmp_path / "ref.json"))
    stored = blob_path(server, only_upload())
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x40
    stored.write_bytes(data)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = cli(home, server, "download", "--ref", str(tmp_path / "ref.json"),
                 "-o", str(out_dir / "photo.bin"))
    assert result.returncode == 3, result
    assert_one_error_line(result, "forgery")
    assert os.listdir(out_dir) == []  # neither the output nor the temporary file


def test_a_valid_file_under_another_hash_is_a_forgery_and_leaves_no_output(server, home,
                                                                         tmp_path):
    """The stored file is intact and opens with its key, but it is not the one signed
    (e.g. re-encrypted by another member under the same header): the hash decides."""
    random_file(tmp_path / "doc.bin", 200_000)
    fields, _ = upload(home, server, tmp_path / "doc.bin", "--show-key")
    (tmp_path / "key.txt").write_text(fields["identity"] + "\n")
    (tmp_path / "key.txt").chmod(0o600)
    other_hash = fields["file_hash"][:-1] + ("0" if fields["file_hash"][-1] != "0" else "1")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = cli(home, server, "download", fields["upload_id"], "--key-file",
                 str(tmp_path / "key.txt"), "--hash", other_hash, "-o", str(out_dir / "doc"))
    assert result.returncode == 3, result
    assert_one_error_line(result, "forgery", "[file_hash_mismatch]")
    assert os.listdir(out_dir) == []


DOWNLOAD_BOOT = cli_support.BLOCK_DJANGO + """
import os, signal
from client import files, http
_stream = http.Session.stream
def _logged(self, path, headers):
    with open({log!r}, "a") as log:
        log.write(headers.get("Range", "-") + "\\n")
    return _stream(self, path, headers)
http.Session.stream = _logged
import agecrypt
_decrypt = agecrypt.FileCipher.decrypt_chunk
def _decrypt_then_die(self, index, ciphertext, last):
    if index == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)  # a power cut in the middle of the download
    return _decrypt(self, index, ciphertext, last)
agecrypt.FileCipher.decrypt_chunk = _decrypt_then_die
from client.cli import main
sys.exit(main(sys.argv[2:], _min_work_factor=int(sys.argv[1])))
"""


def test_an_interrupted_download_continues_with_range_from_its_whole_chunks(
        server, home, tmp_path, monkeypatch):
    plaintext = random_file(tmp_path / "movie.bin", 2 * 1024 * 1024 + 5)
    fields, _ = upload(home, server, tmp_path / "movie.bin",
                       "--ref-out", str(tmp_path / "ref.json"))
    log = tmp_path / "ranges.log"
    out = tmp_path / "out" / "movie.bin"
    out.parent.mkdir()
    args = ["download", "--ref", str(tmp_path / "ref.json"), "-o", str(out)]
    monkeypatch.setattr(cli_support, "BOOT", DOWNLOAD_BOOT.format(log=str(log), kill_at=20))
    killed = cli(home, server, *args)
    assert killed.returncode == -signal.SIGKILL and not out.exists()
    (part,) = out.parent.iterdir()  # the temporary file, beside the target
    assert part.name.startswith(".movie.bin.") and part.stat().st_size > 0
    monkeypatch.setattr(cli_support, "BOOT", DOWNLOAD_BOOT.format(log=str(log), kill_at=-1))
    log.write_text("")
    result = cli(home, server, *args)
    assert result.returncode == 0, result
    assert out.read_bytes() == plaintext and os.listdir(out.parent) == ["movie.bin"]
    probe, rest = log.read_text().split()  # header and nonce, then the missing chunks
    assert probe == "bytes=0-65551" and not part.exists()  # the part file became the output
    start = int(rest.removeprefix("bytes=").rstrip("-"))
    assert start > 65552 * 10  # not from the beginning: the whole chunks on disk were kept


def test_a_file_over_the_size_limit_gets_a_clear_413_and_nothing_is_kept(server, home,
                                                                        tmp_path):
    random_file(tmp_path / "huge.bin", MAX_FILE + 1)
    result = cli(home, server, "upload", str(tmp_path / "huge.bin"))
    assert_one_error_line(result, f"at most {MAX_FILE} bytes", "[file_too_large]")
    assert not CipherUpload.objects.exists()
    assert resume_records(home) == []
