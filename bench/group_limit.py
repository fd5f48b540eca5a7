"""A group at the member limit (issue 13, must-show 6): envelope size, bytes stored per
message, and delivery p50/p99 from one sender to every other member over websockets.

Run from the repository root:

    .venv/bin/python bench/group_limit.py                  # SQLite, then PostgreSQL
    .venv/bin/python bench/group_limit.py --db sqlite --quick

Setup (untimed, as in bench/messaging.py, whose stack it reuses): its own Redis, a fresh
database, SECURECHAT_V2_MEMBER_LIMIT (default 100) users with SECURECHAT_KEY_TYPE keys
(default hybrid: X25519 + ML-KEM-768) signed up through the client flow, one group made
with signed operations, each add with its epoch (one stanza per member), and every message
box sealed and signed before the clock starts. The client's crypto is counted separately:
building the limit-size epoch (every stanza) and sealing and signing one message.

Measured, from the database rows: the last envelope's size and its statement; the bytes a
message stores (box, statement, signature and the row's other columns, once per message
whatever the group size; on PostgreSQL also ``pg_column_size`` of the whole row). Then one
uvicorn process serves the chat socket and the bench-only echo consumer: one sender, every
other member connected and receiving, with one message in flight (latency) and with
bench/messaging.py's window (throughput), each next to the bare echo in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import load_average, percentile_ms, utc_now  # noqa: E402
from bench.messaging import (  # noqa: E402
    WINDOW,
    BenchConversation,
    cookie_header,
    migrate,
    run,
    seal_frames,
    stack,
)

# Columns of a message row besides box, statement and signature: device_id (16),
# client_message_id (16), message_hash (32), and 8 bytes each for the id, conversation
# (a 32-character key counted below), sender, device_counter, epoch_number, seq and
# server_time; removed_at and removed_reason are empty.
ROW_SQL = ("SELECT COUNT(*), AVG(LENGTH(box)), AVG(LENGTH(statement)), AVG(LENGTH(signature)), "
           "AVG(LENGTH(box) + LENGTH(statement) + LENGTH(signature) + LENGTH(device_id) "
           "+ LENGTH(client_message_id) + LENGTH(message_hash) + LENGTH(conversation_id) "
           "+ 6 * 8) FROM messaging_messagev2 WHERE conversation_id = %s")
PG_ROW_SQL = "SELECT AVG(pg_column_size(m.*)) FROM messaging_messagev2 m WHERE conversation_id = %s"


def make_group(size: int, messages: int) -> tuple[BenchConversation, BenchConversation, dict]:
    """The group at the limit, its frames for the two runs, and what the client's crypto
    costs (ms) for it."""
    from django.conf import settings

    from client import epochs
    from tests.support.v2chat import V2User, group_of

    assert size <= settings.SECURECHAT_V2_MEMBER_LIMIT, "the group would be over the limit"
    members = [V2User.signup(f"member{i}") for i in range(size)]
    group = group_of(*members)
    began = time.perf_counter()
    epochs.build_epoch(members[0].signing_key, members[0].keys,
                       conversation_id=group.conversation_id, epoch=group.epoch.number + 1,
                       prev_envelope_hash=group.epoch.envelope_hash, chain_head=group.head,
                       members=[m.keys for m in members], name="Book club")
    build_ms = (time.perf_counter() - began) * 1000
    cookies = [cookie_header(m) for m in members]
    began = time.perf_counter()
    latency = BenchConversation(group.hex, cookies, *seal_frames(group, members[0], messages, "l"))
    seal_ms = (time.perf_counter() - began) * 1000 / messages
    throughput = BenchConversation(group.hex, cookies,
                              *seal_frames(group, members[0], messages * 2, "t"))
    crypto = {"build_ms": build_ms, "seal_ms": seal_ms, "key_type": settings.SECURECHAT_KEY_TYPE}
    return latency, throughput, crypto


def stored_sizes(conversation_id: str) -> dict:
    """Sizes read from the rows: the latest envelope and the messages stored."""
    from django.db import connection

    from messaging.models import EpochV2

    epoch = EpochV2.objects.filter(conversation_id=conversation_id).order_by("-number").first()
    sizes = {"epoch": epoch.number, "envelope": len(bytes(epoch.envelope)),
             "epoch_statement": len(bytes(epoch.statement))}
    with connection.cursor() as cursor:
        cursor.execute(ROW_SQL, [conversation_id])
        count, box, statement, signature, row = cursor.fetchone()
        sizes.update(messages=count, box=box, statement=statement, signature=signature,
                     row=row)
        if connection.vendor == "postgresql":
            cursor.execute(PG_ROW_SQL, [conversation_id])
            sizes["pg_row"] = cursor.fetchone()[0]
    return sizes


def bench_one(db: str, quick: bool) -> None:
    from django.conf import settings

    messages = 20 if quick else 60
    results = {}
    with stack(db) as (port, start_server):
        migrate()
        size = settings.SECURECHAT_V2_MEMBER_LIMIT
        began = time.perf_counter()
        latency, throughput, crypto = make_group(size, messages)
        setup_s = time.perf_counter() - began
        start_server()
        plan = [("echo, 1 in flight", latency, 1, True), ("chat, 1 in flight", latency, 1, False),
                (f"echo, window {WINDOW}", throughput, WINDOW, True),
                (f"chat, window {WINDOW}", throughput, WINDOW, False)]
        for number, (name, conversation, window_size, echo) in enumerate(plan):
            results[name] = asyncio.run(run([conversation], port, window_size, echo,
                                            f"g{number}-"))
        sizes = stored_sizes(latency.id)
    report(db, quick, size, setup_s, crypto, sizes, results)


def report(db, quick, size, setup_s, crypto, sizes, results) -> None:
    label = "SQLite (WAL)" if db == "sqlite" else "PostgreSQL"
    print(f"\n### Group at the member limit: {label}\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
          f"Python {platform.python_version()}; load average before the run {load_average()}")
    print(f"Date: {utc_now()}")
    print(f"Command: .venv/bin/python bench/group_limit.py --db {db}"
          f"{' --quick' if quick else ''}")
    print(f"Group: {size} members (SECURECHAT_V2_MEMBER_LIMIT), {crypto['key_type']} keys, "
          f"one sender, {size - 1} receivers on their own websockets, one uvicorn process, "
          f"Redis pub/sub layer; setup {setup_s:.0f} s (untimed).\n")
    print("| what | bytes |\n|---|---:|")
    print(f"| epoch envelope ({size} stanzas, epoch {sizes['epoch']}) | {sizes['envelope']:,} |")
    print(f"| epoch statement (signed; member fingerprints) | {sizes['epoch_statement']:,} |")
    print(f"| message box (a short text, padded) | {sizes['box']:,.0f} |")
    print(f"| message statement + signature | {sizes['statement']:,.0f} + "
          f"{sizes['signature']:,.0f} |")
    print(f"| stored per message (row columns, once per message, not per member) | "
          f"{sizes['row']:,.0f} |")
    if "pg_row" in sizes:
        print(f"| stored per message (PostgreSQL pg_column_size of the row) | "
              f"{sizes['pg_row']:,.0f} |")
    print(f"\nClient crypto (not in the timed path): building the {size}-member epoch "
          f"{crypto['build_ms']:.0f} ms; sealing and signing one message "
          f"{crypto['seal_ms']:.2f} ms.\n")
    print("| run | sent | delivered/expected | errors | deliveries/s | delivery p50 ms | "
          "delivery p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r.sent} | {r.delivered}/{r.expected} | {len(r.errors)} | "
              f"{r.rate():,.0f} | {percentile_ms(r.deliveries, .5):.1f} | "
              f"{percentile_ms(r.deliveries, .99):.1f} |")
    errors = [e for r in results.values() for e in r.errors][:3]
    if errors:
        print(f"\nFirst errors: {errors}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.db != "both":
        bench_one(args.db, args.quick)
        return
    for db in ("sqlite", "postgres"):  # one process each: Django is set up once per process
        subprocess.run([sys.executable, __file__, "--db", db] + ["--quick"] * args.quick,
                       check=True)


if __name__ == "__main__":
    main()
