"""Files benchmark: the tus upload of a client-made age file and its download vs the plain
endpoints of the same server process.

Run from the repository root:

    .venv/bin/python bench/files.py                  # 1 GiB, 3 rounds
    .venv/bin/python bench/files.py --size-mib 256 --rounds 2 --profile

The client's encryption is outside the timed path (issue 14): one age file of the
given plaintext size is made first with agecrypt, to a fresh one-time identity, as a v2
client makes it. One uvicorn process (as ``make run`` serves it) on a throwaway SQLite
database and MEDIA_ROOT also serves the plain baseline endpoints of
``filestore/bench.py`` (same raw ASGI body reading, same async streaming response, no
authentication). Each round runs every variant once, interleaved, on the same bytes:
plain upload; tus upload as one PATCH (tuspy's and tus-js-client's default);
tus upload in 8 MiB PATCHes (the browser's PATCH size, static/js/v2/files/upload.js);
plain download; the ciphertext download (``GET /api/v1/files/<id>``). The server's RSS is
sampled every 20 ms; growth is the peak during a transfer minus the RSS before the first transfer.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import os
import platform
import shutil
import signal
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
    file_pieces,
    free_port,
    load_average,
    server_env,
    utc_now,
    uvicorn_command,
    wait_for_health,
)

BROWSER_PATCH = 8 * 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {**TUS, "Content-Type": "application/offset+octet-stream"}
VARIANTS = ("plain_up", "v2_up_one", "v2_up_8mib", "plain_down", "v2_down")
GOAL = 0.9


def v2_session_headers(work: Path, origin: str) -> dict[str, str]:
    """Sign a v2 user up through the client library against the server (the password
    stays here), mark the address verified, and return the session's request headers."""
    from accounts.models import User
    from client import account
    from client.http import Session

    email = "bench@files.example"
    (work / "client").mkdir(mode=0o700)
    with Session(origin, work / "client") as session:
        account.signup(session, email, "bench password of some length", "hybrid",
                       account.KnownAccounts(work / "client"))
        User.objects.filter(email=email).update(email_verified_at=_dt.datetime.now(_dt.UTC))
        token = session._csrf_token()
        cookies = "; ".join(f"{c.name}={c.value}" for c in session._http.cookies.jar)
    return {"Cookie": cookies, "X-CSRFToken": token, "Origin": origin}


def make_age_file(work: Path, size: int) -> tuple[Path, str]:
    """A ready-made age file of ``size`` random plaintext bytes: (path, its SHA-256)."""
    import agecrypt

    identity = agecrypt.HybridIdentity.generate()
    path, digest = work / "upload.age", hashlib.sha256()
    with open(path, "wb") as out, agecrypt.Encryptor(out, [identity.recipient()]) as enc:
        for _ in range(size // PIECE):
            enc.write(os.urandom(PIECE))
    with open(path, "rb") as f:
        while data := f.read(PIECE):
            digest.update(data)
    return path, digest.hexdigest()


def patch_pieces(path: Path, start: int, length: int):
    with open(path, "rb") as f:
        f.seek(start)
        left = length
        while left:
            data = f.read(min(PIECE, left))
            left -= len(data)
            yield data


def v2_upload(client, source: Path, length: int, patch_size: int) -> str:
    """POST then PATCHes of ``patch_size``; the upload id."""
    r = client.post("/api/v1/uploads/", headers={**TUS, "Upload-Length": str(length)})
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    for start in range(0, length, patch_size):
        piece = min(patch_size, length - start)
        r = client.patch(location, content=patch_pieces(source, start, piece),
                         headers={**OCTETS, "Upload-Offset": str(start),
                                  "Content-Length": str(piece)})
        assert r.status_code == 204, r.text
    assert r.headers["Upload-Offset"] == str(length)
    return location.rstrip("/").rsplit("/", 1)[-1]


def download(client, url: str, expected: str, length: int) -> None:
    digest, received = hashlib.sha256(), 0
    with client.stream("GET", url) as response:
        assert response.status_code == 200, response.read()
        for data in response.iter_raw(PIECE):
            digest.update(data)
            received += len(data)
    assert received == length and digest.hexdigest() == expected, url


def one_round(client, sampler, source: Path, length: int, expected: str, name: str,
              results: dict, peaks: dict) -> None:
    def timed(key, work):
        with sampler:
            started = time.perf_counter()
            outcome = work()
            results[key].append(time.perf_counter() - started)
        peaks[key] = max(peaks[key], sampler.peak)
        return outcome

    r = timed("plain_up", lambda: client.put(
        f"/api/v1/uploads/_bench/plain/{name}", content=file_pieces(source, hashlib.sha256()),
        headers={"Content-Length": str(length)}))
    assert r.status_code == 200 and r.json()["size"] == length, r.text
    upload_id = timed("v2_up_one", lambda: v2_upload(client, source, length, length))
    second = timed("v2_up_8mib", lambda: v2_upload(client, source, length, BROWSER_PATCH))
    timed("plain_down", lambda: download(client, f"/api/v1/files/_bench/plain/{name}",
                                         expected, length))
    timed("v2_down", lambda: download(client, f"/api/v1/files/{upload_id}", expected,
                                      length))
    for done in (upload_id, second):
        assert client.delete(f"/api/v1/uploads/{done}", headers=TUS).status_code == 204


def print_table(args, results: dict, peaks: dict, rss_start: int, length: int) -> None:
    mbps = {k: length / statistics.median(v) / 1e6 for k, v in results.items()}
    mib = 1024 * 1024
    print(f"\n- Date: {utc_now()}; {platform.platform()}; "
          f"Python {platform.python_version()}; {os.cpu_count()} CPUs; load average "
          f"{load_average()}")
    print(f"- Command: `.venv/bin/python bench/files.py --size-mib {args.size_mib} "
          f"--rounds {args.rounds}`; median of {args.rounds} interleaved rounds; age file "
          f"{length:,} bytes; server RSS before the first transfer {rss_start / mib:.0f} MiB\n")
    print("| what | tus (age file) | plain baseline | ratio | goal | met? |")
    print("|---|---|---|---|---|---|")
    rows = (("upload through uvicorn, one PATCH", "v2_up_one", "plain_up"),
            ("upload through uvicorn, 8 MiB PATCHes", "v2_up_8mib", "plain_up"),
            ("download through uvicorn", "v2_down", "plain_down"))
    for label, key, base in rows:
        ratio = mbps[key] / mbps[base]
        print(f"| {args.size_mib} MiB {label} (MB/s) | {mbps[key]:,.0f} | {mbps[base]:,.0f} | "
              f"{ratio:.2f} | ≥ {GOAL} | {'yes' if ratio >= GOAL else '**no**'} |")
    for label, key, base in rows:
        growth, plain = (peaks[key] - rss_start) / mib, (peaks[base] - rss_start) / mib
        print(f"| server peak RSS growth, {label.split(' through')[0]}"
              f"{label.split('uvicorn')[1]} (MiB) | {growth:.0f} | {plain:.0f} | — | < 64 MiB | "
              f"{'yes' if growth < 64 else '**no**'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="securechat-bench-files-"))
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = server_env(work, origin, SECURECHAT_MAX_FILE_SIZE=str(2 * size),
                     SECURECHAT_USER_QUOTA=str(8 * size), SECURECHAT_BENCH_PLAIN_ENDPOINTS="1",
                     SECURECHAT_CLIENT_WORK_FACTOR="16")
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import httpx

    source, expected = make_age_file(work, size)
    length = source.stat().st_size
    cmd = uvicorn_command(port)
    if args.profile:
        cmd = [sys.executable, "-m", "cProfile", "-o", str(work / "server.prof"), *cmd[1:]]
    server = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **env})
    try:
        wait_for_health(origin)
        client = httpx.Client(base_url=origin, headers=v2_session_headers(work, origin),
                              timeout=600)
        sampler = RssSampler(server.pid)
        rss_start = sampler.rss()
        results: dict[str, list[float]] = {k: [] for k in VARIANTS}
        peaks: dict[str, int] = dict.fromkeys(VARIANTS, 0)
        for round_no in range(args.rounds):
            one_round(client, sampler, source, length, expected, f"v2plain{round_no}",
                      results, peaks)
            print(f"round {round_no + 1}: " + ", ".join(
                f"{k} {length / results[k][-1] / 1e6:,.0f} MB/s" for k in VARIANTS), flush=True)
            shutil.rmtree(work / "media" / "bench", ignore_errors=True)
        client.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
    print_table(args, results, peaks, rss_start, length)
    if args.profile:
        import pstats

        print("\nServer profile (own time, top 25):")
        pstats.Stats(str(work / "server.prof")).sort_stats("tottime").print_stats(25)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
