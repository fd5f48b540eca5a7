"""Channel-layer benchmark: which Redis layer, with which options (DESIGN.md §5, §7, §12).

Run from the repository root:

    .venv/bin/python bench/channel_layer.py            # full run, about 3 minutes
    .venv/bin/python bench/channel_layer.py --quick    # smaller burst, shorter idle, < 1 minute

The script starts its own throwaway ``redis-server`` on a free port bound to
127.0.0.1 (no persistence) and stops it at the end; it never connects to the
machine's shared Redis. Everything runs in one asyncio process, as in one
server process with many websocket consumers: receivers are tasks looping on
``layer.receive(channel)`` the way a Channels consumer does, and a receiver
that gets an exception stops, as a consumer would close with 1011.

Candidates:

* ``core-default``: ``RedisChannelLayer(hosts=[url])``.
* ``core-tuned``: ``RedisChannelLayer`` with a raised capacity and a host dict
  (``max_connections``, ``socket_timeout=None``), passed by channels_redis to
  ``redis.asyncio.ConnectionPool.from_url(address, **rest)``.
* ``core-cap20k``: the tuned host dict with capacity 20 000 (burst only: what
  the core layer needs to absorb a whole burst).
* ``pubsub``: ``RedisPubSubChannelLayer`` with ``socket_timeout=None`` (the
  current settings).
* ``pubsub-default``: ``RedisPubSubChannelLayer(hosts=[url])``, 300 idle
  receivers only, as a control for the socket timeout.

``--quick`` runs core-default, core-tuned and pubsub with a 5 000-message burst
over 50 groups and 6 s of idle; the full run a 20 000-message burst over 100
groups and 10 s of idle, plus the stall and restart tests.

Tests:

* burst: N receivers, each alone in its own group (one user group per
  consumer); a sender layer (another instance, like another consumer or
  process) ``group_send``s a burst of small id-only messages round-robin over
  the groups from a few concurrent tasks, as fast as it can.
* idle: 150 and 300 receivers join their groups at the same moment (a
  reconnect storm), wait idle in ``receive()`` longer than redis-py 8's 5 s
  default socket timeout, then each group gets one message.

Every phase is bounded in time; the script always ends. Output: machine,
date, versions and one Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as _dt
import importlib.metadata
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from _common import cpu_model, free_port, load_average  # noqa: E402
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

SENDERS = 16  # concurrent sending tasks (consumers pushing after commit at the same time)
QUIET = 1.5  # a delivery phase ends when nothing arrived for this long
STALL = 6.0  # seconds the Redis server is stopped (SIGSTOP) in the stall test
FAULT_RECEIVERS = 50


# --- logging: count what the layers log instead of spraying stderr -----------


class CountingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.counts: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        kind = record.getMessage().splitlines()[0][:60]
        if record.exc_info and record.exc_info[0] is not None:
            kind = f"{kind} ({record.exc_info[0].__name__})"
        self.counts[f"log {record.levelname.lower()}: {kind}"] += 1


LOG = CountingHandler()


# --- the private redis-server --------------------------------------------------




class PrivateRedis:
    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            sys.exit("redis-server not found on PATH")
        self.exe = exe
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        args = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--maxclients", "10000"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            if self.proc.poll() is not None:
                sys.exit(f"redis-server exited with {self.proc.returncode}")
            time.sleep(0.05)
        self.stop()
        sys.exit("redis-server did not answer PING within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # in case a stall test left it stopped
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def version(self) -> str:
        out = subprocess.run([self.exe, "--version"], capture_output=True, text=True).stdout
        for part in out.split():
            if part.startswith("v="):
                return part[2:]
        return out.strip()


# --- candidates ------------------------------------------------------------------


def candidates(url: str) -> dict[str, tuple[type, dict, tuple[str, ...]]]:
    """name -> (class, config, tests); tests are "burst" and "idle"."""
    tuned_host = {"address": url, "max_connections": 1000, "socket_timeout": None}
    return {
        "core-default": (RedisChannelLayer, {"hosts": [url]}, ("burst", "idle")),
        "core-tuned": (
            RedisChannelLayer,
            {"hosts": [tuned_host], "capacity": 1500, "expiry": 60, "group_expiry": 86400},
            ("burst", "idle", "faults"),
        ),
        # Capacity only matters in the burst: this row shows what the core layer needs
        # to absorb a whole burst, and its throughput when nothing is dropped.
        "core-cap20k": (
            RedisChannelLayer,
            {"hosts": [tuned_host], "capacity": 20000, "expiry": 60, "group_expiry": 86400},
            ("burst",),
        ),
        "pubsub": (
            RedisPubSubChannelLayer,
            {"hosts": [{"address": url, "socket_timeout": None}]},
            ("burst", "idle", "faults"),
        ),
        # Control: is socket_timeout=None needed for the pub/sub layer at all?
        "pubsub-default": (RedisPubSubChannelLayer, {"hosts": [url]}, ("idle", "faults")),
    }


QUICK_LAYERS = ("core-default", "core-tuned", "pubsub")


def make_layer(kind: tuple[type, dict, tuple[str, ...]], prefix: str):
    cls, config, _tests = kind
    return cls(prefix=prefix, **config)


async def close_layer(layer) -> None:
    try:
        if isinstance(layer, RedisChannelLayer):
            await asyncio.wait_for(layer.close_pools(), 10)
        else:
            await asyncio.wait_for(layer.flush(), 10)
    except Exception as exc:  # noqa: BLE001 - report, never hang on cleanup
        LOG.counts[f"close: {type(exc).__name__}"] += 1


# --- measurement ---------------------------------------------------------------


@dataclass
class LayerStats:
    sent: int = 0
    delivered: int = 0  # unique ids received
    duplicates: int = 0
    out_of_order: int = 0
    first_send: float = 0.0
    last_delivery: float = 0.0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    dead: int = 0  # receivers that stopped on an exception (a consumer closing with 1011)
    peak_conns: int = 0
    slowest_send: float = 0.0
    seen: set[int] = field(default_factory=set)


async def receiver(layer, group: str, st: LayerStats, ready: asyncio.Event | None = None) -> None:
    try:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
    except Exception as exc:  # noqa: BLE001 - a consumer that fails to join dies
        st.errors[f"join: {type(exc).__name__}"] += 1
        st.dead += 1
        return
    if ready is not None:
        ready.set()
    last = -1
    while True:
        try:
            msg = await layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Channels closes the consumer (1011)
            st.errors[f"receive: {type(exc).__name__}"] += 1
            st.dead += 1
            return
        mid = msg["id"]
        if mid in st.seen:
            st.duplicates += 1
            continue
        st.seen.add(mid)
        st.delivered += 1
        st.last_delivery = time.perf_counter()
        if mid < last:
            st.out_of_order += 1
        last = mid


async def sample_connections(url: str, st: LayerStats) -> None:
    admin = aioredis.Redis.from_url(url, socket_timeout=5)
    try:
        while True:
            try:
                info = await admin.info("clients")
                st.peak_conns = max(st.peak_conns, int(info["connected_clients"]) - 1)
            except (aioredis.RedisError, OSError):
                pass  # the stall and restart tests take the server away on purpose
            await asyncio.sleep(0.25)
    finally:
        await admin.aclose()


async def send_all(layer, messages: list[tuple[str, dict]], st: LayerStats) -> None:
    it = iter(messages)

    async def worker() -> None:
        for group, msg in it:
            t = time.perf_counter()
            try:
                await layer.group_send(group, msg)
            except Exception as exc:  # noqa: BLE001 - an after-commit push must not fail
                st.errors[f"send: {type(exc).__name__}"] += 1
                continue
            finally:
                st.slowest_send = max(st.slowest_send, time.perf_counter() - t)
            st.sent += 1

    if not st.first_send:
        st.first_send = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(SENDERS)))


async def wait_delivered(st: LayerStats, target: int, deadline: float, quiet: float) -> None:
    """Return when every message arrived, nothing arrived for `quiet` s, or at `deadline`."""
    last_count, last_change = -1, time.perf_counter()
    while time.perf_counter() < deadline:
        if st.delivered >= target:
            return
        if st.delivered != last_count:
            last_count, last_change = st.delivered, time.perf_counter()
        elif time.perf_counter() - last_change > quiet:
            return
        await asyncio.sleep(0.05)


async def stop(tasks: list[asyncio.Task]) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)


async def burst_test(url, kind, prefix, receivers: int, messages: int, limit: float) -> LayerStats:
    st = LayerStats()
    rx, tx = make_layer(kind, prefix), make_layer(kind, prefix)
    sampler = asyncio.create_task(sample_connections(url, st))
    events = [asyncio.Event() for _ in range(receivers)]
    tasks = [
        asyncio.create_task(receiver(rx, f"user.{i}", st, events[i])) for i in range(receivers)
    ]
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 20)
        deadline = time.perf_counter() + limit
        batch = [
            (f"user.{k % receivers}", {"type": "chat.message", "id": k, "conv": k % receivers})
            for k in range(messages)
        ]
        sender = asyncio.create_task(send_all(tx, batch, st))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(sender), max(deadline - time.perf_counter(), 1))
        if not sender.done():
            sender.cancel()
            st.errors["send: unfinished at time limit"] += 1
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        await wait_delivered(st, st.sent, deadline, quiet=QUIET)
    finally:
        await stop(tasks)
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        await close_layer(rx)
        await close_layer(tx)
    return st


async def idle_test(url, kind, prefix, receivers: int, idle: float) -> LayerStats:
    st = LayerStats()
    rx, tx = make_layer(kind, prefix), make_layer(kind, prefix)
    sampler = asyncio.create_task(sample_connections(url, st))
    # All receivers join at once, as after a restart when every tab reconnects.
    tasks = [asyncio.create_task(receiver(rx, f"user.{i}", st)) for i in range(receivers)]
    try:
        await asyncio.sleep(idle)
        batch = [(f"user.{i}", {"type": "chat.message", "id": i}) for i in range(receivers)]
        sender = asyncio.create_task(send_all(tx, batch, st))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(sender), 20)
        if not sender.done():
            sender.cancel()
            st.errors["send: unfinished at time limit"] += 1
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        await wait_delivered(st, receivers, time.perf_counter() + 8, quiet=QUIET)
    finally:
        await stop(tasks)
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        await close_layer(rx)
        await close_layer(tx)
    return st


async def send_bounded(layer, batch, st: LayerStats, limit: float) -> None:
    sender = asyncio.create_task(send_all(layer, batch, st))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(sender), limit)
    if not sender.done():
        sender.cancel()
        st.errors["send: unfinished at time limit"] += 1
        with contextlib.suppress(asyncio.CancelledError):
            await sender


async def fault_test(server: PrivateRedis, kind, prefix, receivers: int, mode: str) -> LayerStats:
    """Redis stalls (SIGSTOP for STALL s) or restarts empty; one message per group is sent
    while it is away (stall) or just after (restart), and one more round a few seconds later:
    does live push come back without the consumers reconnecting?"""
    st = LayerStats()
    rx, tx = make_layer(kind, prefix), make_layer(kind, prefix)
    sampler = asyncio.create_task(sample_connections(server.url, st))
    events = [asyncio.Event() for _ in range(receivers)]
    tasks = [
        asyncio.create_task(receiver(rx, f"user.{i}", st, events[i])) for i in range(receivers)
    ]
    first = [(f"user.{i}", {"type": "chat.message", "id": i}) for i in range(receivers)]
    second = [
        (f"user.{i}", {"type": "chat.message", "id": receivers + i}) for i in range(receivers)
    ]
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 20)
        await asyncio.sleep(0.5)
        if mode == "stall":
            server.pause()
            try:
                sender = asyncio.create_task(send_bounded(tx, first, st, STALL + 15))
                await asyncio.sleep(STALL)
            finally:
                server.resume()
            await sender
        else:
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.start)
            await asyncio.sleep(1)
            await send_bounded(tx, first, st, 15)
        await asyncio.sleep(3)
        await send_bounded(tx, second, st, 15)
        await wait_delivered(st, st.sent, time.perf_counter() + 8, quiet=QUIET)
    finally:
        await stop(tasks)
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        await close_layer(rx)
        await close_layer(tx)
    return st


# --- report --------------------------------------------------------------------


def row(name: str, test: str, st: LayerStats) -> str:
    span = max(st.last_delivery - st.first_send, 0.0) if st.delivered else 0.0
    loss = 100.0 * (1 - st.delivered / st.sent) if st.sent else 0.0
    rate = f"{st.delivered / span:,.0f}" if span > 0 else "—"
    errs = collections.Counter(st.errors)
    if st.dead:
        errs["receivers dead"] = st.dead
    if st.duplicates:
        errs["duplicates"] = st.duplicates
    if st.out_of_order:
        errs["out of order"] = st.out_of_order
    err = "; ".join(f"{k} ×{v}" for k, v in sorted(errs.items())) or "0"
    if st.slowest_send > 1:
        err += f" (slowest send {st.slowest_send:.1f} s)"
    return (
        f"| {name} | {test} | {st.sent:,} | {st.delivered:,} | {loss:.1f} | {span:.2f} "
        f"| {rate} | {err} | {st.peak_conns} |"
    )


def versions(server: PrivateRedis) -> str:
    parts = [f"Python {platform.python_version()}"]
    for dist in ("Django", "channels", "channels-redis", "redis", "msgpack"):
        try:
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{dist} (missing)")
    parts.append(f"redis-server {server.version()}")
    return ", ".join(parts)


async def main_async(args, server: PrivateRedis) -> list[str]:
    kinds = candidates(server.url)
    names = args.layers.split(",") if args.layers else list(QUICK_LAYERS if args.quick else kinds)
    burst_n = 5000 if args.quick else 20000
    burst_rx = 50 if args.quick else 100
    idle = 6.0 if args.quick else 10.0
    sizes = [150, 300]
    rows = []
    for i, name in enumerate(names):
        kind = kinds[name]
        if "burst" in kind[2]:
            st = await burst_test(server.url, kind, f"bench{i}b", burst_rx, burst_n, limit=45)
            rows.append(row(name, f"burst {burst_n:,} → {burst_rx} groups", st))
            print(rows[-1], flush=True)
        for n in (sizes if name != "pubsub-default" else sizes[-1:]) if "idle" in kind[2] else ():
            st = await idle_test(server.url, kind, f"bench{i}i{n}", n, idle)
            rows.append(row(name, f"{n} receivers, {idle:.0f} s idle, 1 msg each", st))
            print(rows[-1], flush=True)
        if "faults" in kind[2] and not args.quick:
            n = FAULT_RECEIVERS
            st = await fault_test(server, kind, f"bench{i}s", n, "stall")
            rows.append(row(name, f"Redis stalled {STALL:.0f} s, {n} receivers, 2 msgs each", st))
            print(rows[-1], flush=True)
            if name == "pubsub-default":
                continue  # the control differs from pubsub in the stall only
            st = await fault_test(server, kind, f"bench{i}r", n, "restart")
            rows.append(row(name, f"Redis restarted empty, {n} receivers, 2 msgs each", st))
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 000-message burst, 6 s idle")
    ap.add_argument("--layers", help="comma-separated subset of: " + ", ".join(candidates("")))
    args = ap.parse_args()

    root = logging.getLogger()
    root.addHandler(LOG)
    root.setLevel(logging.WARNING)

    header = (
        "| layer | test | sent | delivered | loss % | seconds | msg/s | errors "
        "| peak Redis conns |\n|---|---|---:|---:|---:|---:|---:|---|---:|"
    )
    with PrivateRedis() as server:
        print(f"date: {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
        print(f"machine: {os.cpu_count()} cores, {cpu_model()}, {platform.platform()}")
        print(f"versions: {versions(server)}")
        print(f"load average at the start: {load_average()}")
        print(f"private redis-server on 127.0.0.1:{server.port}; {SENDERS} sender tasks\n")
        print(header, flush=True)
        t0 = time.perf_counter()
        rows = asyncio.run(main_async(args, server))
        total = time.perf_counter() - t0
    print("\n" + header)
    print("\n".join(rows))
    if LOG.counts:
        print("\nlogged by the layers (WARNING and above):")
        for k, v in LOG.counts.most_common():
            print(f"  {v:6d}  {k}")
    print(f"\ntotal {total:.0f} s; load average at the end {load_average()}")


if __name__ == "__main__":
    main()
