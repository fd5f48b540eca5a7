"""Load benchmark (DESIGN.md §7, §10): two server processes, many sockets, a steady rate.

Run from the repository root:

    .venv/bin/python bench/load.py                 # 200 clients, 100 conversations, 50 msg/s, 60 s
    .venv/bin/python bench/load.py --quick         # 40 clients, 20 conversations, 20 msg/s, 15 s
    .venv/bin/python bench/load.py --postgres postgres://postgres@127.0.0.1:5432/postgres

What it does, all on 127.0.0.1 and all of it stopped at the end:

1. starts its own ``redis-server`` on a free port (no persistence);
2. makes a throwaway database: a SQLite file in a temporary directory, or with
   ``--postgres URL`` a fresh database ``securechat_load_<random>`` on that server
   (dropped at the end); it migrates it itself and never touches ``var/``;
3. creates version 2 users (``tests.support.accounts.make_user``: keys made with
   ``client/``, the real signup action), one direct conversation per pair
   (``messaging.actions.do_start_conversation``) and a login session per client (the
   session the login views build: ``tests.support.accounts.session_for``). scrypt's work
   factor is lowered to 2^10 (``SECURECHAT_SCRYPT_WORK_FACTOR=10``) so that set-up is
   quick; it only costs at signup and login, not per message;
4. starts two uvicorn processes (``securechat.asgi``, production settings module) on
   two ports, sharing Redis and the database;
5. connects the clients: the two members of each conversation on different processes
   (so every delivery crosses processes through Redis), each sends ``sync`` first;
6. for ``--seconds``, every client sends at a steady rate on a fixed schedule (open
   loop: a slow server does not slow the senders down), the two members alternating so
   the conversation carries ``--rate`` messages per second in total;
7. waits for the tail (at most 120 s), then reports sent, acked, delivered (the other
   member received the decrypted, verified plaintext), latency from just before the
   send to that delivery (p50/p99/max), throughput, and each server's RSS and CPU time.

Delivered must equal sent: the script exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from _common import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCRYPT_WORK_FACTOR = "10"
PASSWORD = "load benchmark password"  # noqa: S105 - throwaway benchmark users
TAIL_SECONDS = 120




def wait_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process on port {port} exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


# --- Set-up ------------------------------------------------------------------------------

def create_postgres_database(url: str) -> str:
    """A fresh database on the server of ``url``; returns its URL."""
    import psycopg

    name = f"securechat_load_{secrets.token_hex(4)}"
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def drop_postgres_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(workdir: Path, redis_url: str, database_url: str | None,
                ports: list[int]) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "securechat.settings",
        "SECURECHAT_ENV": "development",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURECHAT_VAR_DIR": str(workdir),
        "MEDIA_ROOT": str(workdir / "media"),
        "SQLITE_PATH": str(workdir / "load.sqlite3"),
        "DATABASE_URL": database_url or "",
        "REDIS_URL": redis_url,
        "SECURECHAT_CHANNEL_PREFIX": "securechat-load",
        "SECURECHAT_SCRYPT_WORK_FACTOR": SCRYPT_WORK_FACTOR,
        "SECURECHAT_ORIGINS": ",".join(f"http://127.0.0.1:{p}" for p in ports),
        "ALLOWED_HOSTS": "127.0.0.1",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    })
    return env


@dataclass
class Conversation:
    id: int
    cookies: tuple[str, str]  # member A's and member B's session cookies


def make_conversations(count: int) -> list[Conversation]:
    """Two users per conversation, made by the real actions; one login session each."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from messaging.actions import do_start_conversation
    from tests.support.accounts import make_user, session_for

    conversations = []
    for i in range(count):
        members = []
        for side in "ab":
            # version 2 accounts: keys made here with client/, signed up by the real action
            members.append(make_user(f"load{i}{side}@example.com", password=PASSWORD))
        conversation = do_start_conversation(members[0].user, members[1].email)
        conversations.append(Conversation(conversation.pk, tuple(
            session_for(m).cookie_header for m in members)))
    return conversations


def start_server(port: int, env: dict, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "securechat.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--ws", "websockets-sansio", "--ws-max-size", "65536",
         "--log-level", "warning",
         "--no-access-log"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    wait_port(port, process)
    return process


# --- The load ----------------------------------------------------------------------------

@dataclass
class Stats:
    sent: int = 0
    acked: int = 0
    errors: list = field(default_factory=list)
    delivered: int = 0
    duplicates: int = 0
    own_copies: int = 0
    latencies: list = field(default_factory=list)
    pending: dict = field(default_factory=dict)  # (conversation, text) -> send time
    closed: list = field(default_factory=list)


class Client:
    """One websocket: sends on a schedule, counts what the other member sent it."""

    def __init__(self, conversation: Conversation, side: int, port: int, stats: Stats):
        self.conversation = conversation
        self.side = side
        self.port = port
        self.stats = stats
        self.ws = None
        self.seen: set[int] = set()
        self.synced = asyncio.Event()
        self.reader: asyncio.Task | None = None
        self.closing = False

    async def connect(self):
        from websockets.asyncio.client import connect

        self.ws = await connect(
            f"ws://127.0.0.1:{self.port}/ws/", origin=f"http://127.0.0.1:{self.port}",
            additional_headers={"Cookie": self.conversation.cookies[self.side]},
            open_timeout=30, max_size=2**22)
        self.reader = asyncio.create_task(self.read())
        await self.ws.send(json.dumps({"type": "sync", "since": {}, "req_id": "sync"}))
        await asyncio.wait_for(self.synced.wait(), 60)

    async def read(self):
        from websockets.exceptions import ConnectionClosed

        stats = self.stats
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message":
                    text = frame.get("text") or ""
                    if not text.startswith(f"c{self.conversation.id} s"):
                        continue
                    if frame.get("signature") != "valid":
                        stats.errors.append(("signature", frame.get("signature")))
                        continue
                    if frame["seq"] in self.seen:
                        stats.duplicates += 1
                        continue
                    self.seen.add(frame["seq"])
                    if text.startswith(f"c{self.conversation.id} s{self.side} "):
                        stats.own_copies += 1
                        continue
                    started = stats.pending.pop((self.conversation.id, text), None)
                    if started is not None:
                        stats.latencies.append(time.perf_counter() - started)
                        stats.delivered += 1
                elif kind == "ack":
                    stats.acked += 1
                elif kind == "synced":
                    self.synced.set()
                elif kind == "error":
                    stats.errors.append((frame.get("error"), frame.get("detail")))
        except ConnectionClosed:
            pass
        if not self.closing:
            stats.closed.append(self.ws.close_code)

    async def send_on_schedule(self, begin: float, interval: float, offset: float,
                               until: float):
        """Open loop: the k-th send is due at begin + offset + k * interval."""
        k = 0
        loop = asyncio.get_running_loop()
        while True:
            due = begin + offset + k * interval
            if due >= until:
                return
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            text = f"c{self.conversation.id} s{self.side} {k} " + "x" * 40
            self.stats.pending[(self.conversation.id, text)] = time.perf_counter()
            self.stats.sent += 1
            await self.ws.send(json.dumps({
                "type": "send", "conversation": self.conversation.id, "text": text,
                "client_id": f"s{self.side}-{k}", "req_id": k}))
            k += 1

    async def close(self):
        self.closing = True
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


class Sampler:
    """RSS and CPU time of each server process, sampled every second."""

    def __init__(self, processes: list[subprocess.Popen]):
        import psutil

        self.procs = [psutil.Process(p.pid) for p in processes]
        self.peak = [0] * len(processes)
        self.task: asyncio.Task | None = None

    def rss(self) -> list[int]:
        values = [p.memory_info().rss for p in self.procs]
        self.peak = [max(a, b) for a, b in zip(self.peak, values, strict=True)]
        return values

    def cpu(self) -> list[float]:
        return [sum(p.cpu_times()[:2]) for p in self.procs]

    async def run(self):
        while True:
            self.rss()
            await asyncio.sleep(1)


async def run_load(conversations, ports, processes, clients_wanted, seconds, rate):
    stats = Stats()
    sampler = Sampler(processes)
    report = {"rss_start": sampler.rss(), "cpu_start": sampler.cpu()}
    import psutil

    me = psutil.Process()  # this process: the clients
    clients = []
    for i, conversation in enumerate(conversations):
        first = i % 2  # half the conversations have member A on process 1, half on process 2
        for side in (0, 1):
            if len(clients) < clients_wanted:
                clients.append(Client(conversation, side, ports[(first + side) % 2], stats))
    connect_begin = time.perf_counter()
    for batch in range(0, len(clients), 20):
        await asyncio.gather(*(c.connect() for c in clients[batch:batch + 20]))
    report["connect_seconds"] = time.perf_counter() - connect_begin
    report["rss_connected"] = sampler.rss()
    report["cpu_connected"] = sampler.cpu()
    client_cpu = sum(me.cpu_times()[:2])
    sampler.task = asyncio.create_task(sampler.run())

    loop = asyncio.get_running_loop()
    # Each conversation carries `rate / conversations` msg/s, its two members alternating.
    per_conversation = rate / len(conversations)
    interval = 2 / per_conversation  # each member sends every `interval` seconds
    begin = loop.time() + 0.5
    until = begin + seconds
    senders = []
    for index, client in enumerate(clients):
        phase = (index // 2) / len(conversations)  # spread the conversations over time
        offset = (phase + client.side / 2) * interval
        senders.append(client.send_on_schedule(begin, interval, offset, until))
    started = time.perf_counter()
    await asyncio.gather(*senders)
    send_seconds = time.perf_counter() - started
    tail_deadline = time.perf_counter() + TAIL_SECONDS
    while stats.delivered < stats.sent and time.perf_counter() < tail_deadline:
        await asyncio.sleep(0.05)
    report["elapsed"] = time.perf_counter() - started
    report["send_seconds"] = send_seconds
    sampler.task.cancel()
    report["rss_end"] = sampler.rss()
    report["cpu_end"] = sampler.cpu()
    report["rss_peak"] = sampler.peak
    report["client_cpu"] = sum(me.cpu_times()[:2]) - client_cpu
    report["load_average"] = os.getloadavg()
    for client in clients:
        await client.close()
    report["clients"] = len(clients)
    return stats, report


# --- Report ------------------------------------------------------------------------------

def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float(
        "nan")


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def print_report(args, stats: Stats, report: dict, database: str, setup_seconds: float,
                 conversations: int, rate: float) -> None:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"Machine: {os.cpu_count()} CPUs ({cpu_model or platform.machine()}), "
          f"{platform.platform()}, Python {platform.python_version()}")
    print(f"Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"Command: .venv/bin/python bench/load.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"Set-up: {conversations * 2} users (client-made keys, scrypt 2^{SCRYPT_WORK_FACTOR}"
          f" for set-up speed), {conversations} conversations, {setup_seconds:.0f} s; "
          f"database {database}; Redis pub/sub layer; 2 uvicorn processes")
    print(f"Load: {report['clients']} websocket clients (the members of each conversation on "
          f"different processes), {rate:g} msg/s in total for {args.seconds:g} s, "
          f"open loop; connecting took {report['connect_seconds']:.1f} s\n")
    delivered_rate = stats.delivered / report["elapsed"] if report["elapsed"] else 0
    print("| measure | value |")
    print("|---|---:|")
    rows = [
        ("messages sent", f"{stats.sent:,}"),
        ("acked", f"{stats.acked:,}"),
        ("delivered to the other member (decrypted, signature valid)", f"{stats.delivered:,}"),
        ("delivered / sent", f"{stats.delivered / stats.sent:.4f}" if stats.sent else "n/a"),
        ("sender's own copies received (other tabs see them too)", f"{stats.own_copies:,}"),
        ("duplicates, error frames, sockets closed by the server",
         f"{stats.duplicates}, {len(stats.errors)}, {len(stats.closed)}"),
        ("latency send → other member has plaintext, p50", f"{pct(stats.latencies, .5):.1f} ms"),
        ("latency p99", f"{pct(stats.latencies, .99):.1f} ms"),
        ("latency max", f"{max(stats.latencies, default=0) * 1000:.1f} ms"),
        ("throughput delivered (over sending time + tail)",
         f"{delivered_rate:,.1f} msg/s ({report['elapsed']:.1f} s)"),
    ]
    for i in range(2):
        cpu = report["cpu_end"][i] - report["cpu_connected"][i]
        rows += [
            (f"process {i + 1} RSS: started / clients connected / end (peak)",
             f"{mib(report['rss_start'][i])} / {mib(report['rss_connected'][i])} / "
             f"{mib(report['rss_end'][i])} ({mib(report['rss_peak'][i])})"),
            (f"process {i + 1} CPU time during the load", f"{cpu:.1f} s "
             f"({100 * cpu / report['elapsed']:.0f}% of one core)"),
        ]
    rows.append(("the clients' own CPU time (this process)",
                 f"{report['client_cpu']:.1f} s "
                 f"({100 * report['client_cpu'] / report['elapsed']:.0f}% of one core)"))
    rows.append(("machine load average at the end (1, 5, 15 min)",
                 ", ".join(f"{x:.1f}" for x in report["load_average"])))
    for name, value in rows:
        print(f"| {name} | {value} |")
    if stats.errors:
        print(f"\nFirst errors: {stats.errors[:5]}")
    if stats.closed:
        print(f"Close codes: {sorted(set(map(str, stats.closed)))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="40 clients, 20 conversations, 15 s")
    parser.add_argument("--clients", type=int, help="websocket clients (default 200)")
    parser.add_argument("--conversations", type=int, help="conversations (default 100)")
    parser.add_argument("--seconds", type=float, help="sending time (default 60)")
    parser.add_argument("--rate", type=float,
                        help="messages per second over all conversations (default 50)")
    parser.add_argument("--postgres", metavar="URL",
                        help="run on a fresh database on this PostgreSQL server")
    args = parser.parse_args()
    args.clients = args.clients or (40 if args.quick else 200)
    args.conversations = args.conversations or (20 if args.quick else 100)
    args.seconds = args.seconds or (15 if args.quick else 60)
    rate = args.rate or (20 if args.quick else 50)
    if args.clients != 2 * args.conversations:
        parser.error("this benchmark measures pairs: use --clients 2 x --conversations")

    workdir = Path(tempfile.mkdtemp(prefix="securechat-load-"))
    redis_port, ports = free_port(), [free_port(), free_port()]
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    database_url = create_postgres_database(args.postgres) if args.postgres else None
    database = (f"PostgreSQL (fresh database {urlsplit(database_url).path.lstrip('/')})"
                if database_url else f"SQLite (WAL) in {workdir}")
    env = environment(workdir, f"redis://127.0.0.1:{redis_port}/0", database_url, ports)
    os.environ.update(env)
    processes: list[subprocess.Popen] = []
    try:
        wait_port(redis_port, redis)
        begin = time.perf_counter()
        conversations = make_conversations(args.conversations)
        setup_seconds = time.perf_counter() - begin
        from django.db import connections

        connections.close_all()
        for i, port in enumerate(ports):
            processes.append(start_server(port, env, workdir / f"server{i + 1}.log"))
            print(f"server {i + 1}: pid {processes[-1].pid} on port {port}", file=sys.stderr,
                  flush=True)
        stats, report = asyncio.run(run_load(conversations, ports, processes, args.clients,
                                             args.seconds, rate))
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        redis.terminate()
        redis.wait(10)
        if database_url:
            drop_postgres_database(database_url)
    print_report(args, stats, report, database, setup_seconds, args.conversations, rate)
    for i in range(2):
        log = (workdir / f"server{i + 1}.log").read_text(errors="replace")
        if "Traceback" in log:
            print(f"\nServer {i + 1} logged a traceback; see {workdir}/server{i + 1}.log")
    ok = (stats.delivered == stats.sent == stats.acked and not stats.errors
          and not stats.closed and not stats.duplicates)
    print(f"\nResult: {'OK' if ok else 'FAILED'}: delivered {stats.delivered} of "
          f"{stats.sent} sent")
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"Database and server logs kept in {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
