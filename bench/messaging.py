"""Messaging benchmark (DESIGN.md §10): end-to-end chat vs a bare echo consumer.

Run from the repository root:

    .venv/bin/python bench/messaging.py            # 20 conversations x 150 messages
    .venv/bin/python bench/messaging.py --quick    # 10 conversations x 50 messages
    .venv/bin/python bench/messaging.py --profile  # also a cProfile of the server's event loop

The script starts its own redis-server on a free port, a throwaway SQLite
database (migrated), creates 2 users per conversation with real keys and
login sessions, and one uvicorn process with ``SECURECHAT_BENCH_ECHO=1`` (so
the bench-only echo consumer is mounted next to the chat consumer) and a
socket rate limit high enough not to throttle the run.

Both workloads use N conversations x 2 websocket clients (the `websockets`
library) in this process. In each conversation one member sends, keeping at
most WINDOW messages in flight; latency is from just before the send to the
moment the other member has the frame: for chat, the decrypted plaintext
(after encryption, signing, the database commit, the Redis push, decryption
and verification), for echo, the echoed text. Throughput is delivered
messages per second over the whole run. Delivered must equal sent.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WINDOW = 8
IDLE_MESSAGES = 200  # one conversation, one message in flight: latency without queueing




def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def setup_environment(workdir: Path, redis_url: str, port: int) -> dict:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "securechat.settings",
        "SECURECHAT_VAR_DIR": str(workdir),
        "SQLITE_PATH": str(workdir / "bench.sqlite3"),
        "DATABASE_URL": "",
        "REDIS_URL": redis_url,
        "SECURECHAT_CHANNEL_PREFIX": "securechat-bench",
        "SECURECHAT_SCRYPT_WORK_FACTOR": "10",
        "SECURECHAT_ORIGINS": f"http://127.0.0.1:{port}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURECHAT_BENCH_ECHO": "1",
        "SECURECHAT_WS_RATE_PER_SECOND": "100000",
        "SECURECHAT_WS_RATE_BURST": "100000",
        "LOG_LEVEL": "WARNING",
    })
    return env


def make_pairs(count: int):
    """Users, conversations and login sessions, made by the real actions."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.utils import timezone

    from messaging.actions import do_start_conversation
    from tests.support.accounts import make_user, session_for

    pairs = []
    for _ in range(count):
        a, b = make_user(), make_user()
        for u in (a, b):
            u.user.email_verified_at = timezone.now()
            u.user.save()
        conversation = do_start_conversation(a.user, b.email)
        pairs.append((conversation.pk, session_for(a).cookie_header,
                      session_for(b).cookie_header))
    return pairs


async def run_pairs(url_for, origin, pairs, per_pair, payload_for, parse, kind,
                    window_size=WINDOW):
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    delivered = 0
    sent = 0

    async def one(index, pair):
        nonlocal delivered, sent
        cid, cookie_a, cookie_b = pair
        async with connect(url_for(index), origin=origin,
                           additional_headers={"Cookie": cookie_a}, max_size=2**22) as a, \
                connect(url_for(index), origin=origin,
                        additional_headers={"Cookie": cookie_b}, max_size=2**22) as b:
            if kind == "chat":
                for ws in (a, b):
                    await ws.send(json.dumps({"type": "sync", "since": {}, "req_id": "s"}))
                    while json.loads(await ws.recv())["type"] != "synced":
                        pass
            started: dict[int, float] = {}
            window = asyncio.Semaphore(window_size)
            done = asyncio.Event()
            got = 0

            async def drain_a():
                async for _ in a:  # acks and own copies: read and drop
                    pass

            async def receive_b():
                nonlocal got, delivered
                async for raw in b:
                    number = parse(raw)
                    if number is None or number not in started:
                        continue
                    latencies.append(time.perf_counter() - started.pop(number))
                    got += 1
                    delivered += 1
                    window.release()
                    if got == per_pair:
                        done.set()
                        return

            tasks = [asyncio.create_task(drain_a()), asyncio.create_task(receive_b())]
            for i in range(per_pair):
                try:
                    await asyncio.wait_for(window.acquire(), 60)
                except TimeoutError:
                    break  # counted as lost: delivered < sent
                started[i] = time.perf_counter()
                await a.send(payload_for(cid, i))
                sent += 1
            try:
                await asyncio.wait_for(done.wait(), 120)
            except TimeoutError:
                pass
            for t in tasks:
                t.cancel()

    begin = time.perf_counter()
    await asyncio.gather(*(one(i, p) for i, p in enumerate(pairs)))
    elapsed = time.perf_counter() - begin
    return latencies, delivered, sent, elapsed


RUN = {"tag": "r0"}


def chat_payload(cid, i):
    return json.dumps({"type": "send", "conversation": cid,
                       "text": f"bench {RUN['tag']} {i} " + "x" * 40,
                       "client_id": f"{RUN['tag']}-{i}", "req_id": i})


def chat_parse(raw):
    frame = json.loads(raw)
    if frame.get("type") != "message" or frame.get("signature") != "valid":
        return None
    words = frame["text"].split()
    return int(words[2]) if words[1] == RUN["tag"] else None


def echo_payload(cid, i):
    return json.dumps({"n": i, "tag": RUN["tag"], "text": f"bench message {i} " + "x" * 40})


def echo_parse(raw):
    frame = json.loads(raw)
    return frame["n"] if frame.get("tag") == RUN["tag"] else None


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def stored_bytes(workdir: Path):
    import sqlite3

    db = sqlite3.connect(workdir / "bench.sqlite3")
    row = db.execute("SELECT count(*), avg(length(body)), avg(length(signature)), "
                     "avg(length(recipient_fingerprints)), avg(length(client_id)) "
                     "FROM messaging_message").fetchone()
    db.close()
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--conversations", type=int)
    parser.add_argument("--messages", type=int)
    args = parser.parse_args()
    conversations = args.conversations or (10 if args.quick else 20)
    per_pair = args.messages or (50 if args.quick else 150)

    workdir = Path(tempfile.mkdtemp(prefix="securechat-bench-"))
    redis_port, port = free_port(), free_port()
    redis_proc = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind",
                                   "127.0.0.1", "--save", "", "--appendonly", "no"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = setup_environment(workdir, f"redis://127.0.0.1:{redis_port}/0", port)
    os.environ.update(env)
    server = None
    try:
        wait_port(redis_port)
        pairs = make_pairs(conversations)
        prof_path = workdir / "server.prof"
        command = [sys.executable, "-m", "uvicorn", "securechat.asgi:application", "--host",
                   "127.0.0.1", "--port", str(port), "--ws", "websockets-sansio",
                   "--ws-max-size", "65536", "--log-level", "warning"]
        if args.profile:
            command[1:1] = ["-m", "cProfile", "-o", str(prof_path)]
        server_log = open(workdir / "server.log", "wb")  # noqa: SIM115
        server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                                  stdout=server_log, stderr=subprocess.STDOUT)
        wait_port(port)
        origin = f"http://127.0.0.1:{port}"
        results = {}
        runs = [("echo", pairs, per_pair, WINDOW), ("chat", pairs, per_pair, WINDOW),
                ("echo", pairs, per_pair, WINDOW),
                ("echo-idle", pairs[:1], IDLE_MESSAGES, 1),
                ("chat-idle", pairs[:1], IDLE_MESSAGES, 1)]
        for number, (kind, chosen, count, window_size) in enumerate(runs):
            RUN["tag"] = f"r{number}"
            if kind.startswith("echo"):
                outcome = asyncio.run(run_pairs(
                    lambda i: f"ws://127.0.0.1:{port}/ws/bench-echo/room{i}/", origin,
                    chosen, count, echo_payload, echo_parse, "echo", window_size))
            else:
                outcome = asyncio.run(run_pairs(
                    lambda i: f"ws://127.0.0.1:{port}/ws/", origin, chosen, count,
                    chat_payload, chat_parse, "chat", window_size))
            results.setdefault(kind, []).append(outcome)
        count, body, sig, fps, cid = stored_bytes(workdir)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGINT)
            server.wait(30)
        redis_proc.terminate()
        redis_proc.wait(10)

    def summary(kind):
        runs = results[kind]
        lat = [x for r in runs for x in r[0]]
        delivered = sum(r[1] for r in runs)
        sent = sum(r[2] for r in runs)
        rate = statistics.median(r[1] / r[3] for r in runs)
        return lat, delivered, sent, rate

    e_lat, e_del, e_sent, e_rate = summary("echo")
    c_lat, c_del, c_sent, c_rate = summary("chat")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
          f"Python {platform.python_version()}")
    print(f"Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"Command: .venv/bin/python bench/messaging.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"Workload: {conversations} conversations x 2 clients, {per_pair} messages per "
          f"conversation per run, window {WINDOW}, one uvicorn process, Redis pub/sub layer, "
          f"SQLite (WAL)\n")
    print("| workload | sent | delivered | msg/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| bare echo consumer (2 runs, around the chat run) | {e_sent} | {e_del} | "
          f"{e_rate:,.0f} | {pct(e_lat, .5):.1f} | {pct(e_lat, .99):.1f} |")
    print(f"| chat (encrypt, sign, commit, push, decrypt, verify) | {c_sent} | {c_del} | "
          f"{c_rate:,.0f} | {pct(c_lat, .5):.1f} | {pct(c_lat, .99):.1f} |")
    ratio_rate = c_rate / e_rate
    ratio_p50 = pct(c_lat, .5) / pct(e_lat, .5)
    ei_lat, ei_del, ei_sent, ei_rate = summary("echo-idle")
    ci_lat, ci_del, ci_sent, ci_rate = summary("chat-idle")
    print(f"| bare echo, 1 conversation, 1 in flight | {ei_sent} | {ei_del} | {ei_rate:,.0f} | "
          f"{pct(ei_lat, .5):.1f} | {pct(ei_lat, .99):.1f} |")
    print(f"| chat, 1 conversation, 1 in flight | {ci_sent} | {ci_del} | {ci_rate:,.0f} | "
          f"{pct(ci_lat, .5):.1f} | {pct(ci_lat, .99):.1f} |")
    print(f"\nIdle p50 chat/echo: {pct(ci_lat, .5) / pct(ei_lat, .5):.2f}")
    print(f"Throughput chat/echo: {ratio_rate:.2f} (goal >= 0.5); p50 chat/echo: "
          f"{ratio_p50:.2f} (goal <= 2); loss: {c_sent - c_del} chat, {e_sent - e_del} echo "
          f"(goal 0)")
    print(f"Stored per message ({count} rows, 2 recipients, "
          f"{os.environ.get('SECURECHAT_KEY_TYPE', 'hybrid')} keys): body (age file) "
          f"{body:.0f} B, signature {sig:.0f} B, recipient fingerprints {fps:.0f} B, "
          f"client_id {cid:.0f} B")
    if args.profile and prof_path.exists():
        import pstats

        print("\nServer event-loop profile (cProfile, cumulative, top 25):")
        pstats.Stats(str(prof_path)).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
