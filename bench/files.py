"""Files benchmark: encrypted tus upload and decrypting download vs plain endpoints.

Run from the repository root:

    .venv/bin/python bench/files.py              # 1 GiB, 3 rounds
    .venv/bin/python bench/files.py --size-mib 256 --rounds 2 --profile

One uvicorn process (as ``make run`` serves it) on a throwaway SQLite database
and MEDIA_ROOT, started with ``SECURECHAT_BENCH_PLAIN_ENDPOINTS=1`` so that the
same process also serves the plain baseline endpoints of
``filestore/bench.py`` (same raw ASGI body reading, same async streaming
response, no authentication, no cryptography). Each round runs every variant
once, interleaved: plain upload, encrypted tus upload (POST, then the whole
file in one PATCH, as tus-js-client and tuspy send by default), plain
download, decrypting download. The client streams from/to a file in 1 MiB
pieces and hashes what it sends and receives (the same work for both
variants). The server's RSS is sampled every 20 ms with psutil; growth is
the peak during a transfer minus the RSS before the first transfer.

``--profile`` runs the server under cProfile and prints where its time went.
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
    server_env,
    wait_for_health,
)


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
    env = server_env(work, origin, SECURECHAT_SCRYPT_WORK_FACTOR="10",
                     SECURECHAT_MAX_FILE_SIZE=str(4 * size + 1),
                     SECURECHAT_USER_QUOTA=str(64 * size),
                     SECURECHAT_BENCH_PLAIN_ENDPOINTS="1")
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import httpx

    from messaging.actions import do_start_conversation
    from tests.support.accounts import make_user, session_for

    alice, bob = make_user("alice@bench.example"), make_user("bob@bench.example")
    conversation = do_start_conversation(alice.user, bob.email)
    session = session_for(alice)

    source = work / "source.bin"
    with open(source, "wb") as f:
        for _ in range(size // PIECE):
            f.write(os.urandom(PIECE))
    expected = hashlib.sha256(source.read_bytes()).hexdigest() if size <= 2**31 else None

    cmd = [sys.executable, "-m", "uvicorn", "securechat.asgi:application", "--host",
           "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if args.profile:
        cmd = [sys.executable, "-m", "cProfile", "-o", str(work / "server.prof"), *cmd[1:]]
    process_env = {**os.environ, **env}
    server = subprocess.Popen(cmd, cwd=REPO, env=process_env)
    try:
        wait_for_health(origin)
        cookies = session.cookie_header
        csrf = httpx.get(origin + "/api/v1/csrf", headers={"Cookie": cookies})
        headers = {"Cookie": f"{cookies}; csrftoken={csrf.cookies['csrftoken']}",
                   "X-CSRFToken": csrf.json()["csrf_token"], "Origin": origin}
        client = httpx.Client(base_url=origin, headers=headers, timeout=600)
        sampler = RssSampler(server.pid)
        rss_start = sampler.rss()
        results: dict[str, list[float]] = {k: [] for k in
                                           ("plain_up", "enc_up", "plain_down", "enc_down")}
        peaks: dict[str, int] = dict.fromkeys(results, 0)
        import base64

        meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in
                        {"conversation": str(conversation.pk), "filename": "bench.bin",
                         "filetype": "application/octet-stream"}.items())
        for round_no in range(args.rounds):
            name = f"plain{round_no}"
            digest = hashlib.sha256()
            with sampler:
                t0 = time.perf_counter()
                r = client.put(f"/api/v1/uploads/_bench/plain/{name}",
                               content=file_pieces(source, digest),
                               headers={"Content-Length": str(size)})
                results["plain_up"].append(time.perf_counter() - t0)
            assert r.status_code == 200 and r.json()["size"] == size, r.text
            peaks["plain_up"] = max(peaks["plain_up"], sampler.peak)

            digest = hashlib.sha256()
            with sampler:
                t0 = time.perf_counter()
                r = client.post("/api/v1/uploads/", headers={
                    "Tus-Resumable": "1.0.0", "Upload-Length": str(size),
                    "Upload-Metadata": meta})
                assert r.status_code == 201, r.text
                location = r.headers["Location"]
                r = client.patch(location, content=file_pieces(source, digest), headers={
                    "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(size)})
                results["enc_up"].append(time.perf_counter() - t0)
            assert r.status_code == 204 and r.headers["Upload-Offset"] == str(size), r.text
            peaks["enc_up"] = max(peaks["enc_up"], sampler.peak)
            from filestore.models import Upload

            message_id = Upload.objects.get(pk=location.rsplit("/", 1)[-1]).message_id

            for key, url in (("plain_down", f"/api/v1/files/_bench/plain/{name}"),
                             ("enc_down", f"/api/v1/files/{message_id}")):
                digest = hashlib.sha256()
                received = 0
                with sampler:
                    t0 = time.perf_counter()
                    with client.stream("GET", url) as response:
                        assert response.status_code == 200, response.read()
                        for data in response.iter_raw(PIECE):
                            digest.update(data)
                            received += len(data)
                    results[key].append(time.perf_counter() - t0)
                assert received == size
                if expected:
                    assert digest.hexdigest() == expected, key
                peaks[key] = max(peaks[key], sampler.peak)
            print(f"round {round_no + 1}: " + ", ".join(
                f"{k} {size / results[k][-1] / 1e6:,.0f} MB/s" for k in results), flush=True)
            shutil.rmtree(work / "media" / "bench", ignore_errors=True)
            Upload.objects.filter(pk=location.rsplit("/", 1)[-1])
        client.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)

    mbps = {k: size / statistics.median(v) / 1e6 for k, v in results.items()}
    mib = 1024 * 1024
    print()
    print(f"- Date: {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC; {platform.platform()}; "
          f"Python {platform.python_version()}; {os.cpu_count()} CPUs")
    print(f"- Command: `.venv/bin/python bench/files.py --size-mib {args.size_mib} "
          f"--rounds {args.rounds}`; median of {args.rounds} interleaved rounds; "
          f"server RSS before the first transfer {rss_start / mib:.0f} MiB")
    print()
    print("| what | encrypted | plain baseline | ratio | goal | met? |")
    print("|---|---|---|---|---|---|")
    for label, enc, plain in (("upload", "enc_up", "plain_up"),
                              ("download", "enc_down", "plain_down")):
        ratio = mbps[enc] / mbps[plain]
        print(f"| {args.size_mib} MiB {label} through uvicorn (MB/s) | {mbps[enc]:,.0f} | "
              f"{mbps[plain]:,.0f} | {ratio:.2f} | ≥ 0.8 | {'yes' if ratio >= 0.8 else '**no**'} |")
    for label, enc, plain in (("upload", "enc_up", "plain_up"),
                              ("download", "enc_down", "plain_down")):
        growth, base = (peaks[enc] - rss_start) / mib, (peaks[plain] - rss_start) / mib
        print(f"| server peak RSS growth, {label} (MiB) | {growth:.0f} | {base:.0f} | — | "
              f"< 64 MiB | {'yes' if growth < 64 else '**no**'} |")
    if args.profile:
        import pstats

        print("\nServer profile (cumulative, top 25):")
        pstats.Stats(str(work / "server.prof")).sort_stats("tottime").print_stats(25)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
