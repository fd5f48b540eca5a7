"""Seq allocation under contention: gap-free, unique, one row per client_id (SQLite and PG)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from messaging.actions import do_send_message
from messaging.models import Message

SENDERS = 20
ROUNDS = 3


def run_together(count: int, work) -> tuple[list, list]:
    """Start ``count`` threads (each with its own DB connection) at one barrier."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def body(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results, errors


@pytest.mark.dbsensitive
def test_twenty_simultaneous_senders_get_gap_free_unique_seqs(pair):
    """20 senders released together, 3 rounds: every send is acked and the stored seqs are
    exactly 1..60, one per send, with ack seqs matching the rows."""
    members = [pair.alice, pair.bob]
    acked = []
    for round_ in range(ROUNDS):
        def work(i, round_=round_):
            who = members[i % 2]
            return do_send_message(who.user, who.identity_file, pair.conversation_id,
                                   f"r{round_} s{i}", f"r{round_}-s{i}")

        results, errors = run_together(SENDERS, work)
        assert errors == []
        acked += results
    attempted = SENDERS * ROUNDS
    assert len(acked) == attempted and all(r.created for r in acked)
    assert sorted(r.seq for r in acked) == list(range(1, attempted + 1))
    stored = dict(Message.objects.values_list("id", "seq"))
    assert stored == {r.id: r.seq for r in acked}


@pytest.mark.dbsensitive
def test_simultaneous_retries_of_one_client_id_store_one_message(pair):
    """10 concurrent sends with the same client_id: one row, every caller gets its id and seq."""
    a = pair.alice
    for round_ in range(ROUNDS):
        results, errors = run_together(10, lambda i, r=round_: do_send_message(
            a.user, a.identity_file, pair.conversation_id, "same", f"dup-{r}"))
        assert errors == []
        assert len({(r.id, r.seq) for r in results}) == 1
        assert sum(r.created for r in results) == 1
    assert sorted(Message.objects.values_list("seq", flat=True)) == [1, 2, 3]
