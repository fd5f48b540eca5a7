"""``securechat download`` runs in constant memory (issue 14, must-show 7).

The CLI's peak RSS (``ru_maxrss`` of the reaped child: exact, no sampling) downloading
a 256 MiB file exceeds its peak downloading a 1 MiB file by less than 32 MiB. Positive
control: the same download with the response body read whole before decrypting (a
buffered read) grows it by at least 200 MiB. Marked ``big``: it runs in ``make bench``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from messaging.models import MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.client.test_cli_messages import PASSWORD, CliUser

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.big, pytest.mark.slow,
              pytest.mark.usefixtures("fresh_rate_limits")]

MiB = 1024 * 1024
BIG = 256 * MiB
SMALL = 1 * MiB

BUFFERED_BOOT = cli_support.BLOCK_DJANGO + """
import contextlib
from client import http
_stream = http.Session.stream
@contextlib.contextmanager
def buffered(self, path, headers):
    with _stream(self, path, headers) as response:
        body = response.read()  # the whole body in memory before any byte is decrypted
        response.iter_bytes = lambda *args, **kwargs: iter([body])
        yield response
http.Session.stream = buffered
from client.cli import main
sys.exit(main(sys.argv[2:], _min_work_factor=int(sys.argv[1])))
"""


def write_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def download_peak_rss(user: CliUser, message: str, out: Path, boot: str = cli_support.BOOT
                      ) -> int:
    """Run ``download MESSAGE -o OUT`` as a child process; its peak RSS in bytes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", boot, str(cli_support.TEST_FLOOR), "--server", user.server.url,
         "--password-stdin", "download", message, "-o", str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=cli_support.REPO_ROOT, env=cli_support.cli_env(user.home), start_new_session=True)
    proc.stdin.write((PASSWORD + "\n").encode())
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, f"download {message} exited {proc.returncode}"
    return usage.ru_maxrss * 1024  # KiB on Linux


def test_a_256_mib_download_grows_the_clis_memory_by_less_than_32_mib(start_server,
                                                                     tmp_path):
    server = start_server("uvicorn")
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    small, big = write_file(tmp_path / "small.bin", SMALL), write_file(tmp_path / "big.bin", BIG)
    alice.ok("upload", str(small), "--to", bob.email)
    alice.ok("upload", str(big), "--to", bob.email)
    small_msg, big_msg = (f"{m.conversation_id}:{m.seq}"
                          for m in MessageV2.objects.order_by("seq"))

    base = download_peak_rss(bob, small_msg, tmp_path / "small-copy.bin")
    streamed = download_peak_rss(bob, big_msg, tmp_path / "big-copy.bin")
    assert sha256(tmp_path / "big-copy.bin") == sha256(big)
    buffered = download_peak_rss(bob, big_msg, tmp_path / "big-buffered.bin", BUFFERED_BOOT)
    assert sha256(tmp_path / "big-buffered.bin") == sha256(big)
    print(f"peak RSS: 1 MiB {base / MiB:.0f} MiB, 256 MiB streamed {streamed / MiB:.0f} MiB, "
          f"buffered {buffered / MiB:.0f} MiB")
    assert buffered - base >= 200 * MiB  # the control: a buffered read shows up
    assert streamed - base < 32 * MiB
