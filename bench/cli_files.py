"""CLI files benchmark: `securechat upload`/`download` vs the plain tus path, same server.

Run from the repository root:

    .venv/bin/python bench/cli_files.py                 # 256 MiB, 2 rounds
    .venv/bin/python bench/cli_files.py --size-mib 64 --rounds 1

One uvicorn process on a throwaway SQLite database and MEDIA_ROOT (work
factor 10, X25519). A user signs up through the CLI. Each round, interleaved:

- **plain upload**: a ready-made age file of the same plaintext, sent by tuspy
  in a subprocess with the CLI's PATCH size (8 MiB) to the same upload
  endpoint (no client encryption: the baseline of the transport);
- **CLI upload**: ``securechat upload FILE`` (process start, identity unlock,
  encryption while uploading, resume record writes);
- **plain download**: ``GET /api/v1/files/<id>`` streamed to a file by httpx
  in a subprocess (no decryption);
- **CLI download**: ``securechat download`` (decrypting, file_hash, rename).

Wall times include each subprocess's start. The CLI's peak RSS is sampled every
20 ms with psutil; its growth is against the same CLI's RSS at its first sample
(`--help`-sized process), reported beside the file size.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from _common import (  # noqa: E402
    PIECE,
    RssSampler,
    free_port,
    load_average,
    server_env,
    utc_now,
    uvicorn_serving,
)

import agecrypt  # noqa: E402
from client.http import Session  # noqa: E402

PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway bench account
BOOT = """
import sys
from client.cli import main
sys.exit(main(sys.argv[1:], _min_work_factor=10))
"""
PLAIN_UP = """
import sys
from tusclient import client
headers = dict(h.split(": ", 1) for h in sys.argv[3:])
up = client.TusClient(sys.argv[1], headers=headers).uploader(
    file_path=sys.argv[2], chunk_size=8 * 1024 * 1024, retries=0)
up.upload()
print(up.url)
"""
PLAIN_DOWN = """
import sys, httpx
headers = dict(h.split(": ", 1) for h in sys.argv[3:])
with httpx.stream("GET", sys.argv[1], headers=headers, timeout=600) as r, \\
        open(sys.argv[2], "wb") as out:
    assert r.status_code == 200, r.read()
    for data in r.iter_raw(1024 * 1024):
        out.write(data)
"""




def timed(cmd: list[str], env: dict, stdin: str = "") -> tuple[float, int, str]:
    """Run ``cmd``; (wall seconds, peak RSS bytes, stdout). Fails loudly on an error."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with RssSampler(proc.pid) as sampler:
        out, err = proc.communicate(stdin)
        elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[3:6]} failed ({proc.returncode}):\n{out}\n{err}")
    return elapsed, sampler.peak, out


def cli_server_env(work: Path, origin: str, size: int) -> dict[str, str]:
    """The throwaway server's settings: open sign-up, X25519, work factor 10, room for the
    bench's files."""
    return server_env(
        work, origin, SECURECHAT_SCRYPT_WORK_FACTOR="10", SECURECHAT_CLIENT_WORK_FACTOR="10",
        SECURECHAT_KEY_TYPE="x25519", SECURECHAT_REGISTRATION="open",
        SECURECHAT_MAX_FILE_SIZE=str(4 * size + 1), SECURECHAT_USER_QUOTA=str(64 * size),
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")


def make_files(work: Path, size: int) -> tuple[Path, Path, str]:
    """``size`` random bytes and the same bytes as a ready-made age file: (plaintext, age
    file, the plaintext's SHA-256)."""
    source = work / "source.bin"
    with open(source, "wb") as f:
        for _ in range(size // PIECE):
            f.write(os.urandom(PIECE))
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    identity = agecrypt.X25519Identity.generate()
    ready = work / "ready.age"
    with open(ready, "wb") as out, agecrypt.Encryptor(out, [identity.recipient()]) as enc, \
            open(source, "rb") as f:
        while data := f.read(PIECE):
            enc.write(data)
    return source, ready, expected


class Rounds:
    """The timed client processes of one run, against one server and one signed-up user."""

    def __init__(self, work: Path, origin: str, size: int):
        self.work, self.origin, self.size = work, origin, size
        home = work / "home"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DJANGO", "SECURECHAT", "DATABASE", "SQLITE"))}
        self.env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")})
        self.cli = [sys.executable, "-c", BOOT, "--server", origin, "--password-stdin"]
        self.config = home / ".config" / "securechat"
        self.results: dict[str, list[float]] = {
            k: [] for k in ("plain_up", "cli_up", "plain_down", "cli_down")}
        self.peaks: dict[str, int] = dict.fromkeys(self.results, 0)
        self.headers: list[str] = []

    def sign_up(self) -> None:
        timed([*self.cli, "signup", "--email", "bench@example.org", "--key-type", "x25519"],
              self.env, PASSWORD + "\n")
        with Session(self.origin, self.config) as session:
            self.headers = [f"{k}: {v}" for k, v in session.upload_headers().items()]

    def measure(self, key: str, cmd: list[str], stdin: str = "") -> str:
        seconds, peak, out = timed(cmd, self.env, stdin)
        self.results[key].append(seconds)
        self.peaks[key] = max(self.peaks[key], peak)
        return out

    def one_round(self, round_no: int, source: Path, ready: Path, expected: str) -> None:
        url = self.measure("plain_up", [sys.executable, "-c", PLAIN_UP,
                                        self.origin + "/api/v1/uploads/", str(ready),
                                        *self.headers])
        plain_id = url.strip().rsplit("/", 1)[-1]
        ref = self.work / f"ref{round_no}.json"
        self.measure("cli_up", [*self.cli, "upload", str(source), "--ref-out", str(ref)],
                     PASSWORD + "\n")
        self.measure("plain_down", [sys.executable, "-c", PLAIN_DOWN,
                                    f"{self.origin}/api/v1/files/{plain_id}",
                                    str(self.work / "plain.out"), *self.headers])
        out = self.work / "cli.out"
        self.measure("cli_down", [*self.cli, "download", "--ref", str(ref), "-o", str(out),
                                  "--force"])
        assert hashlib.sha256(out.read_bytes()).hexdigest() == expected
        print(f"round {round_no + 1}: " + ", ".join(
            f"{k} {self.size / v[-1] / 1e6:,.0f} MB/s" for k, v in self.results.items()),
            flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    size = args.size_mib * PIECE
    work = Path(tempfile.mkdtemp(prefix="securechat-bench-cli-files-"))
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = cli_server_env(work, origin, size)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO,
                   env={**os.environ, **env}, check=True)
    source, ready, expected = make_files(work, size)
    rounds = Rounds(work, origin, size)
    with uvicorn_serving(work, port, env):
        rounds.sign_up()
        for round_no in range(args.rounds):
            rounds.one_round(round_no, source, ready, expected)
    report(args, size, rounds.results, rounds.peaks)
    shutil.rmtree(work, ignore_errors=True)


def report(args, size: int, results: dict, peaks: dict) -> None:
    mbps = {k: size / statistics.median(v) / 1e6 for k, v in results.items()}
    mib = 1024 * 1024
    print()
    print(f"- Date: {utc_now()}; {platform.platform()}; "
          f"Python {platform.python_version()}; {os.cpu_count()} CPUs; load average "
          f"{load_average()}")
    print(f"- Command: `.venv/bin/python bench/cli_files.py --size-mib {args.size_mib} "
          f"--rounds {args.rounds}`; median of {args.rounds} interleaved rounds; "
          "wall time of each client process, start included")
    print()
    print("| what | CLI | plain tus / GET | ratio | peak client RSS (MiB), CLI / plain |")
    print("|---|---|---|---|---|")
    for label, cli_key, plain_key in (("upload", "cli_up", "plain_up"),
                                      ("download", "cli_down", "plain_down")):
        print(f"| {args.size_mib} MiB {label} through the CLI (MB/s) | {mbps[cli_key]:,.0f} | "
              f"{mbps[plain_key]:,.0f} | {mbps[cli_key] / mbps[plain_key]:.2f} | "
              f"{peaks[cli_key] / mib:.0f} / {peaks[plain_key] / mib:.0f} |")


if __name__ == "__main__":
    main()
