"""Load benchmark (DESIGN.md §7, §10; issue 13): two server processes, many sockets, steady
rates, the chat next to a bare echo through the same Redis in the same run.

Run from the repository root:

    .venv/bin/python bench/load.py                 # 200 clients, 100 conversations,
                                                   # 50, 100, 200, 500 msg/s, 20 s each
    .venv/bin/python bench/load.py --quick         # 40 clients, 20 conversations, 20 and
                                                   # 50 msg/s, 10 s each
    .venv/bin/python bench/load.py --seconds 10 --rates 50,200
    .venv/bin/python bench/load.py --postgres postgres://postgres@127.0.0.1:5432/postgres

What it does, all on 127.0.0.1 and all of it stopped at the end:

1. starts its own ``redis-server`` on a free port (no persistence);
2. makes a throwaway database: a SQLite file in a temporary directory, or with
   ``--postgres URL`` a fresh database ``securechat_load_<random>`` on that server
   (dropped at the end); it migrates it itself and never touches ``var/``;
3. creates version 2 users the way a client does (``tests.support.v2chat.V2User``: the
   client-side key derivation, identity and signup, which logs the session in), one
   direct conversation per pair with signed membership operations and epochs
   (``tests.support.v2chat.direct_of``), and seals and signs every message box each
   member will send at every rate before the clock starts (the client's crypto is not in
   the timed path). The client work factor is lowered to 2^10 so that set-up is quick;
   it only costs at signup and login, not per message;
4. starts two uvicorn processes (``securechat.asgi``, production settings module) on
   two ports, sharing Redis and the database, with the bench-only echo consumer mounted
   (``SECURECHAT_BENCH_ECHO=1``, ``messaging/echo.py``, as bench/messaging.py uses it)
   and the websocket rate limit lifted (this measures the server, not the limiter);
5. connects the clients twice over: chat sockets (``/ws/``, ``sync2`` first) and echo
   sockets (``/ws/bench-echo/load<i>/``, one room per conversation); the two members of
   each conversation or room are on different processes, so every delivery crosses
   processes through Redis;
6. at each rate of ``--rates``, runs the echo workload then the chat workload, each for
   ``--seconds``: every client sends on the same fixed schedule (open loop: a slow server
   does not slow the senders down), the two members alternating so the conversations
   carry the rate in total. Echo sends the very ``send2`` frames chat sends (same sizes);
   it returns them to both members: the sender's copy is its ack;
7. after each workload waits for its tail (at most ``--tail`` s), then reports per rate
   sent, acked, delivered (the other member received the very box its sender sealed),
   latency from just before the send to that delivery (p50/p99), throughput (delivered
   over sending time + tail), chat/echo throughput, and the CPU share of each server and
   of Redis; then whether the issue's target holds: at the highest rate where the echo's
   p99 is at most 250 ms, chat keeps at least 0.5x the echo's throughput with delivered
   = sent ("met" or "missed": a missed target does not fail the script).

The script exits 1 only when chat loses an acked message (acked, never delivered, even
after the last tail) or delivers one twice. Messages not acked by the end are reported,
not counted as lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from _common import (  # noqa: E402
    cpu_model,
    free_port,
    percentile_ms,
    start_redis,
    utc_now,
    uvicorn_command,
    wait_port,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCRYPT_WORK_FACTOR = "10"
TAIL_SECONDS = 120




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
        "SECURECHAT_BENCH_ECHO": "1",  # the baseline: messaging/echo.py, same servers
        "SECURECHAT_WS_RATE_PER_SECOND": "100000",
        "SECURECHAT_WS_RATE_BURST": "100000",
        "SECURECHAT_SCRYPT_WORK_FACTOR": SCRYPT_WORK_FACTOR,
        "SECURECHAT_CLIENT_WORK_FACTOR": SCRYPT_WORK_FACTOR,
        "SECURECHAT_ORIGINS": ",".join(f"http://127.0.0.1:{p}" for p in ports),
        "ALLOWED_HOSTS": "127.0.0.1,testserver",  # testserver: the set-up's client flow
        "SECURECHAT_RATE_SIGNUP_ADDRESS": "0/3600",
        "SECURECHAT_RATE_PRELOGIN_ADDRESS": "0/300",
        "SECURECHAT_RATE_EPOCH_ACCOUNT": "0/300",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    })
    return env


@dataclass
class LoadConversation:
    id: str
    cookies: tuple[str, str]  # member A's and member B's session cookies
    bodies: tuple[list[dict], list[dict]]  # each member's send2 bodies, sealed and signed
    boxes: tuple[set[str], set[str]]  # the boxes each member sealed (to spot own copies)


def make_conversations(count: int, per_member: int) -> list[LoadConversation]:
    """Two v2 users per conversation, signed up through the client flow (one login session
    each), a direct conversation, and ``per_member`` sealed messages for each member."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tests.support.v2chat import V2User, direct_of

    conversations = []
    for i in range(count):
        members = (V2User.signup(f"load{i}a"), V2User.signup(f"load{i}b"))
        group = direct_of(*members)
        bodies = tuple([group.message(member, f"c{i} s{side} {k} " + "x" * 40)
                        for k in range(per_member)] for side, member in enumerate(members))
        conversations.append(LoadConversation(
            group.hex, tuple(m.cookie_header() for m in members), bodies,
            tuple({b["box"] for b in side} for side in bodies)))
    return conversations


def start_server(port: int, env: dict, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        uvicorn_command(port, "--ws-max-size", "65536", "--no-access-log"), cwd=ROOT, env=env,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    wait_port(port, process)
    return process


# --- The load ----------------------------------------------------------------------------

@dataclass
class WorkloadStats:
    """One workload (echo or chat at one rate)."""

    sent: int = 0
    acked: int = 0
    errors: list = field(default_factory=list)
    delivered: int = 0
    duplicates: int = 0
    own_copies: int = 0
    latencies: list = field(default_factory=list)
    pending: dict = field(default_factory=dict)  # box -> send time
    closed: list = field(default_factory=list)
    unsent: int = 0  # due while the socket was closed (the engine would resend them)
    elapsed: float = 0.0
    cpu: list = field(default_factory=list)  # server 1, server 2, Redis: CPU seconds

    def throughput(self) -> float:
        return self.delivered / self.elapsed if self.elapsed else 0.0


@dataclass
class Ledger:
    """The whole run's chat boxes: acked by the server, and how often each reached the other
    member (in any workload's window or after it)."""

    acked: set = field(default_factory=set)
    deliveries: dict = field(default_factory=dict)  # box -> times delivered


class Client:
    """One websocket, chat (``/ws/``) or echo (``/ws/bench-echo/<room>/``): sends on a
    schedule, counts what the other member sent it into the current ``stats``."""

    def __init__(self, conversation: LoadConversation, side: int, port: int, echo: bool,
                 ledger: Ledger):
        self.conversation = conversation
        self.side = side
        self.port = port
        self.echo = echo
        self.ledger = ledger
        self.stats = WorkloadStats()
        self.ws = None
        self.seen: set[int] = set()
        self.synced = asyncio.Event()
        self.reader: asyncio.Task | None = None
        self.closing = False
        self.replaying = False  # a re-sync2 after a reconnection replays what was seen
        self.next_body = 0  # chat: every sealed box is sent once over the whole run
        self.req_boxes: dict[str, str] = {}

    async def connect(self, room: str):

        self.room = room
        await self.open()
        self.reader = asyncio.create_task(self.read())
        if not self.echo:
            await asyncio.wait_for(self.synced.wait(), 60)

    async def open(self):
        """Connect (no client keepalive ping, as a browser) and, for chat, ``sync2``."""
        from websockets.asyncio.client import connect

        path = f"/ws/bench-echo/{self.room}/" if self.echo else "/ws/"
        self.ws = await connect(
            f"ws://127.0.0.1:{self.port}{path}", origin=f"http://127.0.0.1:{self.port}",
            additional_headers={"Cookie": self.conversation.cookies[self.side]},
            open_timeout=60, max_size=2**22, ping_interval=None)
        if not self.echo:
            await self.ws.send(json.dumps({"type": "sync2", "positions": {},
                                           "req_id": "sync"}))

    def arrived(self, box: str) -> None:
        """The other member's ``box`` reached this client."""
        if not self.echo:
            self.ledger.deliveries[box] = self.ledger.deliveries.get(box, 0) + 1
        started = self.stats.pending.pop(box, None)
        if started is not None:
            self.stats.latencies.append(time.perf_counter() - started)
            self.stats.delivered += 1

    def on_chat_frame(self, frame: dict) -> None:
        stats, kind = self.stats, frame.get("type")
        if kind == "message2":
            item = frame["item"]
            if frame["conversation"] != self.conversation.id or item["type"] != "message":
                return  # the set-up's operations and epochs
            if item["seq"] in self.seen:
                stats.duplicates += not self.replaying
            elif item["box"] in self.conversation.boxes[self.side]:
                self.seen.add(item["seq"])
                stats.own_copies += 1
            else:
                self.seen.add(item["seq"])
                self.arrived(item["box"])
        elif kind == "ack2":
            stats.acked += 1
            box = self.req_boxes.pop(str(frame.get("req_id")), None)
            if box is not None:
                self.ledger.acked.add(box)
        elif kind == "synced2":
            self.replaying = False
            self.synced.set()
        elif kind == "error":
            stats.errors.append((frame.get("error"), frame.get("detail")))

    def on_echo_frame(self, frame: dict) -> None:
        """The echo returns the very ``send2`` frame to both members: the sender's copy is
        its "ack", the other member's is the delivery."""
        if frame["box"] in self.conversation.boxes[self.side]:
            self.stats.acked += 1
            self.stats.own_copies += 1
        else:
            self.arrived(frame["box"])

    async def read(self):
        from websockets.exceptions import ConnectionClosed

        while True:
            try:
                async for raw in self.ws:
                    frame = json.loads(raw)
                    (self.on_echo_frame if self.echo else self.on_chat_frame)(frame)
            except ConnectionClosed:
                pass
            if self.closing:
                return
            self.stats.closed.append(self.ws.close_code)
            if self.echo:
                return  # the echo stores nothing to catch up on
            self.replaying = True  # as the engine does: reconnect, sync2 from the start
            await self.open()

    def next_frame(self, k: int) -> tuple[str, str]:
        """The k-th frame of this workload and its box: chat takes the next unsent sealed
        box, echo the same bytes again (it stores nothing)."""
        bodies = self.conversation.bodies[self.side]
        index = k if self.echo else self.next_body
        if index >= len(bodies):
            raise RuntimeError("too few messages sealed for the schedule")
        if not self.echo:
            self.next_body += 1
        req_id = f"{id(self.stats)}:{k}"
        if not self.echo:
            self.req_boxes[req_id] = bodies[index]["box"]
        return bodies[index]["box"], json.dumps({
            "type": "send2", "conversation": self.conversation.id, **bodies[index],
            "req_id": req_id})

    async def send_on_schedule(self, begin: float, interval: float, offset: float,
                               until: float):
        """Open loop: the k-th send is due at begin + offset + k * interval."""
        from websockets.exceptions import ConnectionClosed

        k = 0
        loop = asyncio.get_running_loop()
        while True:
            due = begin + offset + k * interval
            if due >= until:
                return
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            box, text = self.next_frame(k)
            self.stats.pending[box] = time.perf_counter()
            self.stats.sent += 1
            try:
                await self.ws.send(text)
            except ConnectionClosed:
                self.stats.unsent += 1
            k += 1

    async def close(self):
        self.closing = True
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


class Sampler:
    """RSS and CPU time of each server process (and CPU of Redis and of the PostgreSQL
    backends serving ``database``), sampled every second."""

    def __init__(self, processes: list[subprocess.Popen], redis: subprocess.Popen,
                 database: str | None):
        import psutil

        self.procs = [psutil.Process(p.pid) for p in processes]
        self.redis = psutil.Process(redis.pid)
        self.database = database
        self.peak = [0] * len(processes)
        self.task: asyncio.Task | None = None

    def rss(self) -> list[int]:
        values = [p.memory_info().rss for p in self.procs]
        self.peak = [max(a, b) for a, b in zip(self.peak, values, strict=True)]
        return values

    def cpu(self) -> list[float]:
        """CPU seconds of server 1, server 2, Redis and (on PostgreSQL) the database's
        backends alive now (persistent connections: the same ones all run long)."""
        values = [sum(p.cpu_times()[:2]) for p in [*self.procs, self.redis]]
        return values + ([self.backends_cpu()] if self.database else [])

    def backends_cpu(self) -> float:
        import psutil

        total = 0.0
        for proc in psutil.process_iter(["cmdline", "cpu_times"]):
            times = proc.info["cpu_times"]
            if times and f" {self.database} " in " ".join(proc.info["cmdline"] or []) + " ":
                total += sum(times[:2])
        return total

    async def run(self):
        while True:
            self.rss()
            await asyncio.sleep(1)


def pair_clients(conversations, ports, echo: bool, ledger: Ledger) -> list[Client]:
    """Both members of every conversation, on different processes (half the conversations
    have member A on process 1, half on process 2)."""
    clients = []
    for i, conversation in enumerate(conversations):
        for side in (0, 1):
            clients.append(Client(conversation, side, ports[(i % 2 + side) % 2], echo, ledger))
    return clients


async def connect_all(clients: list[Client]) -> None:
    for batch in range(0, len(clients), 20):
        await asyncio.gather(*(c.connect(f"load{(batch + j) // 2}")
                               for j, c in enumerate(clients[batch:batch + 20])))


async def run_workload(clients: list[Client], rate: float, seconds: float, tail: float,
                       sampler: Sampler) -> WorkloadStats:
    """Every client sends on the same open-loop schedule: each conversation carries
    ``rate / conversations`` msg/s, its two members alternating; then waits for the tail."""
    stats = WorkloadStats()
    for client in clients:
        client.stats = stats
    conversations = len(clients) // 2
    interval = 2 * conversations / rate  # each member sends every `interval` seconds
    loop = asyncio.get_running_loop()
    begin = loop.time() + 0.5
    cpu_before = sampler.cpu()
    senders = []
    for index, client in enumerate(clients):
        phase = (index // 2) / conversations  # spread the conversations over time
        offset = (phase + client.side / 2) * interval
        senders.append(client.send_on_schedule(begin, interval, offset, begin + seconds))
    started = time.perf_counter() + (begin - loop.time())  # the schedule's start
    await asyncio.gather(*senders)
    deadline = time.perf_counter() + tail
    while stats.delivered < stats.sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    stats.elapsed = time.perf_counter() - started
    stats.cpu = [after - before for after, before in zip(sampler.cpu(), cpu_before,
                                                         strict=True)]
    return stats


async def run_load(conversations, ports, processes, redis, database, rates, seconds, tail):
    """Echo then chat at each rate, on the same 2 x conversations members."""
    import psutil

    ledger = Ledger()
    sampler = Sampler(processes, redis, database)
    report = {"rss_start": sampler.rss()}
    me = psutil.Process()  # this process: the clients
    chat = pair_clients(conversations, ports, False, ledger)
    echo = pair_clients(conversations, ports, True, ledger)
    connect_begin = time.perf_counter()
    await connect_all(chat)
    await connect_all(echo)
    report["connect_seconds"] = time.perf_counter() - connect_begin
    report["rss_connected"] = sampler.rss()
    client_cpu = sum(me.cpu_times()[:2])
    sampler.task = asyncio.create_task(sampler.run())
    results = {}
    for rate in rates:
        for kind, clients in (("echo", echo), ("chat", chat)):
            results[rate, kind] = await run_workload(clients, rate, seconds, tail, sampler)
            print(f"{kind} at {rate:g} msg/s: {results[rate, kind].delivered} of "
                  f"{results[rate, kind].sent}", file=sys.stderr, flush=True)
    deadline = time.perf_counter() + tail  # late chat deliveries still reach the ledger
    while not ledger.acked <= ledger.deliveries.keys() and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    sampler.task.cancel()
    report["rss_end"] = sampler.rss()
    report["rss_peak"] = sampler.peak
    report["client_cpu"] = sum(me.cpu_times()[:2]) - client_cpu
    report["load_average"] = os.getloadavg()
    for client in chat + echo:
        await client.close()
    report["clients"] = len(chat)
    return results, ledger, report


# --- Report ------------------------------------------------------------------------------

def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def print_header(args, report: dict, database: str, setup_seconds: float) -> None:
    print(f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), "
          f"{platform.platform()}, Python {platform.python_version()}; load average at "
          f"the end (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in report['load_average'])}")
    print(f"Date: {utc_now()}")
    print(f"Command: .venv/bin/python bench/load.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"Set-up: {args.conversations * 2} v2 users (client-flow signup, scrypt "
          f"2^{SCRYPT_WORK_FACTOR} for set-up speed), {args.conversations} conversations, "
          f"{setup_seconds:.0f} s; database {database}; Redis pub/sub layer; 2 uvicorn "
          f"processes")
    print(f"Load: {report['clients']} chat and {report['clients']} echo websocket clients "
          f"(the members of each conversation or echo room on different processes), at each "
          f"rate echo then chat for {args.seconds:g} s each, open loop, tail at most "
          f"{args.tail:g} s; connecting took {report['connect_seconds']:.1f} s\n")


def workload_row(rate: float, kind: str, stats: WorkloadStats, ratio: str) -> str:
    share = f"{stats.delivered / stats.sent:.4f}" if stats.sent else "n/a"
    cpu = " / ".join(f"{c / stats.elapsed * 100:.0f}%" for c in stats.cpu)
    return (f"| {rate:g} | {kind} | {stats.sent:,} | {stats.acked:,} | {stats.delivered:,} | "
            f"{share} | {percentile_ms(stats.latencies, .5):,.1f} | "
            f"{percentile_ms(stats.latencies, .99):,.1f} | "
            f"{stats.throughput():,.1f} | {ratio} | {cpu} |")


def print_report(args, results: dict, ledger: Ledger, report: dict) -> None:
    print("| rate (msg/s) | workload | sent | acked | delivered | delivered / sent | p50 ms "
          "| p99 ms | throughput msg/s | chat / echo | CPU server 1 / server 2 / Redis"
          f"{' / PostgreSQL' if args.postgres else ''} |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rate in args.rates:
        echo, chat = results[rate, "echo"], results[rate, "chat"]
        ratio = f"{chat.throughput() / echo.throughput():.2f}" if echo.throughput() else "n/a"
        print(workload_row(rate, "echo", echo, ""))
        print(workload_row(rate, "chat", chat, ratio))
    for i in range(2):
        print(f"\nProcess {i + 1} RSS: started / clients connected / end (peak): "
              f"{mib(report['rss_start'][i])} / {mib(report['rss_connected'][i])} / "
              f"{mib(report['rss_end'][i])} ({mib(report['rss_peak'][i])})", end="")
    print(f"\nThe clients' own CPU time (this process): {report['client_cpu']:.1f} s")
    for (rate, kind), stats in results.items():
        if stats.errors or stats.closed or stats.duplicates:
            print(f"{kind} at {rate:g}: duplicates {stats.duplicates}, errors "
                  f"{stats.errors[:3]}, sockets closed (chat reconnects and syncs) "
                  f"{len(stats.closed)} with codes {sorted(set(map(str, stats.closed)))}, "
                  f"due while closed {stats.unsent}")
    print_target(args, results)


def print_target(args, results: dict) -> None:
    """The issue's target: at the highest rate where the echo keeps p99 <= 250 ms, chat
    keeps at least 0.5x its throughput with delivered = sent."""
    good = [r for r in args.rates if percentile_ms(results[r, "echo"].latencies, .99) <= 250]
    if not good:
        print("\nTarget: not measurable: the echo's p99 is over 250 ms at every rate")
        return
    rate = max(good)
    echo, chat = results[rate, "echo"], results[rate, "chat"]
    ratio = chat.throughput() / echo.throughput() if echo.throughput() else 0.0
    met = ratio >= 0.5 and chat.delivered == chat.sent
    print(f"\nTarget: highest rate with echo p99 <= 250 ms: {rate:g} msg/s; chat "
          f"throughput {ratio:.2f}x echo, delivered {chat.delivered} of {chat.sent}: "
          f"{'met' if met else 'missed'}")


def lost_or_doubled(ledger: Ledger) -> tuple[set, set]:
    """Acked chat boxes that never reached the other member, and boxes that reached it
    more than once."""
    lost = {box for box in ledger.acked if box not in ledger.deliveries}
    doubled = {box for box, times in ledger.deliveries.items() if times > 1}
    return lost, doubled


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="40 clients, 20 conversations, 10 s at 20 and 50 msg/s")
    parser.add_argument("--clients", type=int, help="websocket clients (default 200)")
    parser.add_argument("--conversations", type=int, help="conversations (default 100)")
    parser.add_argument("--seconds", type=float,
                        help="sending time of each workload at each rate (default 20)")
    parser.add_argument("--rates", help="offered rates in msg/s over all conversations, "
                        "comma-separated (default 50,100,200,500)")
    parser.add_argument("--tail", type=float, default=TAIL_SECONDS,
                        help=f"seconds to wait for late deliveries (default {TAIL_SECONDS})")
    parser.add_argument("--postgres", metavar="URL",
                        help="run on a fresh database on this PostgreSQL server")
    args = parser.parse_args()
    args.clients = args.clients or (40 if args.quick else 200)
    args.conversations = args.conversations or (20 if args.quick else 100)
    args.seconds = args.seconds or (10 if args.quick else 20)
    try:
        args.rates = [float(r) for r in (args.rates or ("20,50" if args.quick else
                                                        "50,100,200,500")).split(",")]
    except ValueError:
        parser.error("--rates takes numbers separated by commas, e.g. 50,100,200")
    if min(args.rates) <= 0:
        parser.error("every rate must be positive")
    if args.clients != 2 * args.conversations:
        parser.error("this benchmark measures pairs: use --clients 2 x --conversations")
    return args


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="securechat-load-"))
    redis_port, ports = free_port(), [free_port(), free_port()]
    redis = start_redis(redis_port)
    database_url = create_postgres_database(args.postgres) if args.postgres else None
    database = (f"PostgreSQL (fresh database {urlsplit(database_url).path.lstrip('/')})"
                if database_url else f"SQLite (WAL) in {workdir}")
    env = environment(workdir, f"redis://127.0.0.1:{redis_port}/0", database_url, ports)
    os.environ.update(env)
    processes: list[subprocess.Popen] = []
    try:
        wait_port(redis_port, redis)
        begin = time.perf_counter()
        # Chat sends each sealed box once: enough for every rate's schedule.
        per_member = sum(math.ceil(args.seconds * rate / (2 * args.conversations)) + 2
                         for rate in args.rates)
        conversations = make_conversations(args.conversations, per_member)
        setup_seconds = time.perf_counter() - begin
        from django.db import connections

        connections.close_all()
        for i, port in enumerate(ports):
            processes.append(start_server(port, env, workdir / f"server{i + 1}.log"))
            print(f"server {i + 1}: pid {processes[-1].pid} on port {port}", file=sys.stderr,
                  flush=True)
        results, ledger, report = asyncio.run(run_load(
            conversations, ports, processes, redis,
            urlsplit(database_url).path.lstrip("/") if database_url else None,
            args.rates, args.seconds, args.tail))
    finally:
        stop(processes)
        redis.terminate()
        redis.wait(10)
        if database_url:
            drop_postgres_database(database_url)
    print_header(args, report, database, setup_seconds)
    print_report(args, results, ledger, report)
    return verdict(results, ledger, workdir)


def verdict(results: dict, ledger: Ledger, workdir: Path) -> int:
    """Exit 1 only when chat lost or doubled an acked message; late ones are reported."""
    for i in range(2):
        log = (workdir / f"server{i + 1}.log").read_text(errors="replace")
        if "Traceback" in log:
            print(f"\nServer {i + 1} logged a traceback; see {workdir}/server{i + 1}.log")
    lost, doubled = lost_or_doubled(ledger)
    duplicates = sum(s.duplicates for (_, kind), s in results.items() if kind == "chat")
    sent = sum(s.sent for (_, kind), s in results.items() if kind == "chat")
    unacked = sent - len(ledger.acked)
    ok = not lost and not doubled and not duplicates
    print(f"\nResult: {'OK' if ok else 'FAILED'}: chat sent {sent}, acked {len(ledger.acked)}, "
          f"acked but never delivered {len(lost)}, delivered twice "
          f"{len(doubled) + duplicates}; not acked by the end (reported, not lost) {unacked}")
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"Database and server logs kept in {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
