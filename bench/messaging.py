"""Messaging benchmark (issue 13 "speed", DESIGN.md §5, §10): the version 2 store-and-forward
send path (``send2`` → ``ack2`` → ``message2``) against a bare echo consumer, same process,
same channel layer, same run.

Run from the repository root:

    .venv/bin/python bench/messaging.py                  # SQLite, then PostgreSQL
    .venv/bin/python bench/messaging.py --db sqlite --quick
    .venv/bin/python bench/messaging.py --profile        # + a cProfile of the send path

Setup (untimed): its own redis-server on a free port, a fresh database (a SQLite file,
or a throwaway PostgreSQL database on ``BENCH_PG_URL``), real v2 users signed up through
the client flow (``tests.support.v2chat``: ``client.derivation``, ``client.identity``),
conversations created with signed membership operations and epochs, and every message
box sealed and signed by ``client.messagebox`` before the clock starts: the client's
crypto is not in the timed path. One uvicorn process serves both the chat socket and the
bench-only echo consumer (``SECURECHAT_BENCH_ECHO=1``).

Workloads, each for chat and for echo:
- ``1:1``: N direct conversations, one sender each keeping WINDOW frames in flight;
- ``group``: one 10-member group, one sender (WINDOW in flight), 9 receivers;
- ``idle``: one direct conversation, one frame in flight.
Measured: delivered messages per second, p50/p99 from send to ack (chat) and from send to
delivery at each receiver; delivered must equal sent x receivers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import (  # noqa: E402
    free_port,
    percentile_ms,
    start_redis,
    utc_now,
    uvicorn_command,
    wait_port,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WINDOW = 8
GROUP_SIZE = 10
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")




def environment(workdir: Path, redis_url: str, port: int, database_url: str) -> dict:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "securechat.settings",
        "SECURECHAT_VAR_DIR": str(workdir),
        "SQLITE_PATH": str(workdir / "bench.sqlite3"),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECURECHAT_CHANNEL_PREFIX": "securechat-bench-v2",
        "SECURECHAT_CLIENT_WORK_FACTOR": "10",
        "SECURECHAT_SCRYPT_WORK_FACTOR": "10",
        "SECURECHAT_KEY_TYPE": os.environ.get("SECURECHAT_KEY_TYPE", "hybrid"),
        "SECURECHAT_ORIGINS": f"http://127.0.0.1:{port}",
        "ALLOWED_HOSTS": "127.0.0.1,testserver",
        "SECURECHAT_BENCH_ECHO": "1",
        "SECURECHAT_WS_RATE_PER_SECOND": "100000",
        "SECURECHAT_WS_RATE_BURST": "100000",
        "SECURECHAT_RATE_SIGNUP_ADDRESS": "0/3600",
        "SECURECHAT_RATE_PRELOGIN_ADDRESS": "0/300",
        "SECURECHAT_RATE_EPOCH_ACCOUNT": "0/300",
        "SECURECHAT_RATE_LOGIN_ADDRESS": "0/300",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOG_LEVEL": "WARNING",
    })
    return env


# --- Setup (untimed) ----------------------------------------------------------------------

@dataclass
class BenchConversation:
    """One conversation: its id, the sender's frames (sealed and signed already) and the
    session cookie of each member, the sender first."""

    id: str
    cookies: list[str]
    frames: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)


def cookie_header(user) -> str:
    return "; ".join(f"{n}={m.value}" for n, m in user.http.cookies.items())


def seal_frames(group, sender, count: int, tag: str) -> tuple[list[str], list[str]]:
    """``count`` send2 frames by ``sender`` and their message hashes (the client's work)."""
    import base64

    frames, hashes = [], []
    for i in range(count):
        body = group.message(sender, f"bench {tag} {i} " + "x" * 40)
        frames.append(json.dumps({"type": "send2", "req_id": i, "conversation": group.hex,
                                  **body}))
        hashes.append(hashlib.sha256(base64.b64decode(body["statement"])).hexdigest())
    return frames, hashes


def migrate() -> None:
    """Set Django up in this process (the stack's environment) and migrate its database."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_conversations(pairs: int, per_pair: int, idle: int, group_messages: int):
    """Users, conversations and every frame to send, made the way a client makes them."""
    migrate()
    from tests.support.v2chat import V2User, direct_of, group_of

    def direct(count, tag):
        alice, bob = V2User.signup("alice"), V2User.signup("bob")
        group = direct_of(alice, bob)
        frames, hashes = seal_frames(group, alice, count, tag)
        return BenchConversation(group.hex, [cookie_header(alice), cookie_header(bob)], frames,
                            hashes)

    one_to_one = [direct(per_pair, f"d{i}") for i in range(pairs)]
    idle_pair = direct(idle, "idle")
    members = [V2User.signup(f"member{i}") for i in range(GROUP_SIZE)]
    group = group_of(*members)
    frames, hashes = seal_frames(group, members[0], group_messages, "g")
    group_conv = BenchConversation(group.hex, [cookie_header(m) for m in members], frames, hashes)
    return one_to_one, idle_pair, group_conv


# --- The timed part -----------------------------------------------------------------------

@dataclass
class DeliveryResult:
    sent: int = 0
    expected: int = 0
    delivered: int = 0
    acks: list = field(default_factory=list)
    deliveries: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    elapsed: float = 0.0

    def rate(self) -> float:
        return self.delivered / self.elapsed if self.elapsed else 0.0


async def open_sockets(conversation: BenchConversation, url: str, origin: str,
                       echo: bool) -> list:
    """One websocket per member's cookie; on the chat socket each has had its first sync2
    (live pushes start with it)."""
    from websockets.asyncio.client import connect

    sockets = [await connect(url, origin=origin, additional_headers={"Cookie": cookie},
                             max_size=2**20) for cookie in conversation.cookies]
    if not echo:
        for ws in sockets:
            await ws.send(json.dumps({"type": "sync2", "req_id": "sync", "positions": {}}))
            while json.loads(await ws.recv())["type"] != "synced2":
                pass
    return sockets


class Window:
    """The frames of one conversation in flight: a slot frees when the last receiver has
    the message; ``done`` is set when every frame has reached every receiver."""

    def __init__(self, size: int, total: int, result: DeliveryResult):
        self.slots = asyncio.Semaphore(size)
        self.started: dict[int, float] = {}
        self.remaining: dict[int, int] = {}
        self.done = asyncio.Event()
        self.total, self.finished, self.result = total, 0, result

    def sent(self, i: int, receivers: int) -> None:
        self.remaining[i] = receivers
        self.started[i] = time.perf_counter()
        self.result.sent += 1
        self.result.expected += receivers

    def acked(self, i) -> None:
        self.result.acks.append(time.perf_counter() - self.started[i])

    def delivered(self, i: int) -> None:
        self.result.deliveries.append(time.perf_counter() - self.started[i])
        self.result.delivered += 1
        self.remaining[i] -= 1
        if self.remaining[i] == 0:
            self.slots.release()
            self.finished += 1
            if self.finished == self.total:
                self.done.set()


async def read_frames(ws, is_sender: bool, window: Window, index_of: dict, echo: bool):
    """Count what one socket receives: acks on the sender's, deliveries elsewhere (echo
    also returns the frame to its sender: that is its "ack")."""
    async for raw in ws:
        frame = json.loads(raw)
        if echo:
            if is_sender:
                window.acked(frame["n"])
            else:
                window.delivered(frame["n"])
        elif frame["type"] == "ack2" and is_sender:
            window.acked(frame["req_id"])
        elif frame["type"] == "error":
            window.result.errors.append(frame)
        elif (frame["type"] == "message2" and not is_sender
              and frame["item"].get("type") == "message"):
            i = index_of.get(frame["item"]["message_hash"])
            if i is not None:
                window.delivered(i)


async def run_one(conversation: BenchConversation, url: str, origin: str, window_size: int,
                  result: DeliveryResult, echo: bool) -> None:
    """The first cookie sends every frame (``window_size`` in flight); every other member
    receives."""
    sockets = await open_sockets(conversation, url, origin, echo)
    receivers = len(sockets) - 1
    window = Window(window_size, len(conversation.frames), result)
    index_of = {h: i for i, h in enumerate(conversation.hashes)}
    readers = [asyncio.create_task(read_frames(ws, ws is sockets[0], window, index_of, echo))
               for ws in sockets]
    for i, text in enumerate(conversation.frames):
        try:
            await asyncio.wait_for(window.slots.acquire(), 60)
        except TimeoutError:
            break  # counted as lost: delivered < expected
        if echo:
            text = json.dumps({"n": i, "frame": text})  # the same bytes, plus the index
        window.sent(i, receivers)
        await sockets[0].send(text)
    try:
        await asyncio.wait_for(window.done.wait(), 120)
    except TimeoutError:
        pass
    for task in readers:
        task.cancel()
    for ws in sockets:
        await ws.close()


async def run(conversations, port: int, window_size: int, echo: bool, tag: str) -> DeliveryResult:
    origin = f"http://127.0.0.1:{port}"
    result = DeliveryResult()

    def url(i):
        return (f"ws://127.0.0.1:{port}/ws/bench-echo/{tag}{i}/" if echo
                else f"ws://127.0.0.1:{port}/ws/")

    begin = time.perf_counter()
    await asyncio.gather(*(run_one(c, url(i), origin, window_size, result, echo)
                           for i, c in enumerate(conversations)))
    result.elapsed = time.perf_counter() - begin
    return result


# --- Profile of the send path (in this process, the code the database thread runs) --------

def profile_send_path(count: int) -> str:
    """cProfile of ``count`` send2 calls through ``messaging.v2.socket`` (what the
    consumer runs on its database thread), with the query count of one send."""
    import cProfile
    import io
    import pstats
    import threading

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.events import publish_loop
    from messaging.v2 import socket as v2_socket
    from tests.support.v2chat import V2User, direct_of

    # As in the consumer: pushes are scheduled on a running event loop, not awaited.
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    publish_loop.set(loop)

    alice, bob = V2User.signup("alice"), V2User.signup("bob")
    group = direct_of(alice, bob)
    frames = [json.loads(f) for f in seal_frames(group, alice, count + 2, "p")[0]]
    user = alice.user
    cache = v2_socket.SenderCache()  # the socket's own, as in the consumer

    def send(frame):
        return v2_socket.send2(user, frame, cache)

    send(frames[0])  # the socket's first send reads access and the key
    frames = frames[1:]
    with CaptureQueriesContext(connection) as queries:
        send(frames[0])
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    for frame in frames[1:]:
        send(frame)
    profiler.disable()
    elapsed = time.perf_counter() - began
    loop.call_soon_threadsafe(loop.stop)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(12)
    stats.sort_stats("cumulative").print_stats(r"messaging|checks|client|atomic|execute", 14)
    lines = [f"Send path in-process: {count} sends in {elapsed:.2f} s "
             f"({count / elapsed:,.0f}/s under cProfile); queries for one send: "
             f"{len(queries)}"]
    lines += [f"  {q['sql'][:150]}" for q in queries.captured_queries]
    return "\n".join(lines) + "\n" + out.getvalue()


def event_loop_profile(path: Path) -> str:
    """The server's event-loop thread over the whole run (echo and chat), by own time."""
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(15)
    return "Server event loop (cProfile of uvicorn's main thread, whole run):\n" + \
        out.getvalue()


# --- One database ---------------------------------------------------------------------------

@contextlib.contextmanager
def stack(db: str, profile: bool = False):
    """A fresh database (SQLite file or throwaway PostgreSQL database), its own Redis and,
    once ``start_server()`` is called, one uvicorn process: yields ``(port, start_server)``.
    The environment is this process's too (set up Django after entering); a profile of the
    server's event loop is in ``stack.profile_text`` afterwards when ``profile``."""
    workdir = Path(tempfile.mkdtemp(prefix="securechat-bench-v2-"))
    redis_port, port = free_port(), free_port()
    database_url, pg_name = "", None
    if db == "postgres":
        import psycopg

        pg_name = f"securechat_bench_v2_{os.getpid()}"
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{pg_name}"')
        database_url = PG_URL.rsplit("/", 1)[0] + "/" + pg_name
    redis_proc = start_redis(redis_port)
    env = environment(workdir, f"redis://127.0.0.1:{redis_port}/0", port, database_url)
    os.environ.update(env)
    servers = []
    server_profile = workdir / "server.prof"
    stack.profile_text = ""

    def start_server() -> None:
        log = open(workdir / "server.log", "wb")  # noqa: SIM115 - lives with the process
        command = uvicorn_command(port, "--ws-max-size", "65536", "--no-access-log")
        if profile:  # the server's main thread: its event loop (database threads excluded)
            command[1:1] = ["-m", "cProfile", "-o", str(server_profile)]
        servers.append(subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                                        stdout=log, stderr=subprocess.STDOUT))
        wait_port(port, servers[0])

    try:
        wait_port(redis_port)
        yield port, start_server
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGINT)
            server.wait(30)
        redis_proc.terminate()
        redis_proc.wait(10)
        if profile and server_profile.exists():
            stack.profile_text = event_loop_profile(server_profile)
        if pg_name:
            from django.db import connections

            connections.close_all()
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def bench_one(db: str, quick: bool, profile: bool) -> None:
    pairs, per_pair = (5, 60) if quick else (10, 150)
    idle = 100 if quick else 200
    group_messages = 60 if quick else 200
    results, profile_text = {}, ""
    with stack(db, profile) as (port, start_server):
        one_to_one, idle_pair, group = make_conversations(pairs, per_pair, idle,
                                                          group_messages)
        if profile:
            profile_text = profile_send_path(300)
        start_server()
        plan = [("echo 1:1", one_to_one, WINDOW, True), ("chat 1:1", one_to_one, WINDOW, False),
                ("echo group", [group], WINDOW, True), ("chat group", [group], WINDOW, False),
                ("echo idle", [idle_pair], 1, True), ("chat idle", [idle_pair], 1, False)]
        for number, (name, conversations, window_size, echo) in enumerate(plan):
            results[name] = asyncio.run(run(conversations, port, window_size, echo,
                                            f"r{number}-"))
    if stack.profile_text:
        profile_text += "\n" + stack.profile_text
    report(db, quick, results, pairs, per_pair, profile_text)


def p50_ratio(chat: DeliveryResult, echo: DeliveryResult) -> float:
    return percentile_ms(chat.deliveries, .5) / percentile_ms(echo.deliveries, .5)


def report(db, quick, results, pairs, per_pair, profile_text) -> None:
    label = "SQLite (WAL)" if db == "sqlite" else "PostgreSQL"
    print(f"\n### {label}\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
          f"Python {platform.python_version()}")
    print(f"Date: {utc_now()}")
    print(f"Command: .venv/bin/python bench/messaging.py --db {db}"
          f"{' --quick' if quick else ''}")
    print(f"Workload: 1:1 = {pairs} direct conversations x {per_pair} messages, window "
          f"{WINDOW}; group = 1 group of {GROUP_SIZE}, one sender, window {WINDOW}; idle = 1 "
          f"direct conversation, 1 in flight. One uvicorn process, Redis pub/sub layer, "
          f"{os.environ.get('SECURECHAT_KEY_TYPE')} keys.\n")
    print("| workload | sent | acked | delivered/expected | errors | deliveries/s | "
          "ack p50 ms | ack p99 ms | delivery p50 ms | delivery p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r.sent} | {len(r.acks)} | {r.delivered}/{r.expected} | "
              f"{len(r.errors)} | "
              f"{r.rate():,.0f} | {percentile_ms(r.acks, .5):.1f} | "
              f"{percentile_ms(r.acks, .99):.1f} | "
              f"{percentile_ms(r.deliveries, .5):.1f} | {percentile_ms(r.deliveries, .99):.1f} |")
    print()
    chat, echo = results["chat 1:1"], results["echo 1:1"]
    # The headline (as before the cutover): the 1:1 workload, N conversations x 2 clients.
    print(f"Throughput chat/echo: {chat.rate() / echo.rate():.2f} (goal >= 0.5); "
          f"p50 chat/echo: {p50_ratio(chat, echo):.2f} "
          f"(goal <= 2)")
    for kind in ("1:1", "group", "idle"):
        chat, echo = results[f"chat {kind}"], results[f"echo {kind}"]
        print(f"{kind}: Throughput chat/echo: {chat.rate() / echo.rate():.2f} (goal >= 0.5); "
              f"p50 chat/echo: {p50_ratio(chat, echo):.2f} "
              f"(goal <= 2); loss: {chat.expected - chat.delivered} chat, "
              f"{echo.expected - echo.delivered} echo (goal 0)")
    errors = [e for r in results.values() for e in r.errors][:3]
    if errors:
        print(f"First errors: {errors}")
    if profile_text:
        print("\n```text\n" + profile_text.rstrip() + "\n```")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.db != "both":
        bench_one(args.db, args.quick, args.profile)
        return
    for db in ("sqlite", "postgres"):  # one process each: Django is set up once per process
        command = [sys.executable, __file__, "--db", db]
        command += ["--quick"] * args.quick + ["--profile"] * args.profile
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
