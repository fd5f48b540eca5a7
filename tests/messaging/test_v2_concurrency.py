"""Version 2 under contention (SQLite and PostgreSQL): the chain's compare-and-swap admits
exactly one of two appends on one head, the first epoch per number wins, 20 senders
released together get gap-free seqs shared with the chain and epochs, and simultaneous
retries of one client message id store one message.

Contenders call the actions directly from threads (each with its own database
connection), released together by a barrier, as the API would call them.
"""

from __future__ import annotations

import base64
import threading

import pytest
from django.db import connection

from client import membership
from messaging.models import ConversationV2, EpochV2, MembershipOperation, MessageV2
from messaging.v2 import actions
from messaging.v2.errors import ConversationExists, EpochExists, StaleHead
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.v2chat import Group, V2User, group_of

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits"), pytest.mark.dbsensitive]

ROUNDS = 3
SENDERS = 20


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


def raw(body: dict, *names: str) -> list[bytes]:
    return [base64.b64decode(body[name]) for name in names]


def test_two_appends_on_one_head_exactly_one_wins():
    alice, bob = V2User.signup("alice"), V2User.signup("bob")
    others = [V2User.signup(f"dave{i}") for i in range(2 * ROUNDS)]
    group = group_of(alice, bob)
    assert group.append(alice, "grant-admin", bob).status_code == 201  # both may add
    users = {u.id: u.user for u in (alice, bob)}
    for round_ in range(ROUNDS):
        targets = others[2 * round_: 2 * round_ + 2]
        # Alice and Bob each sign an add on the same head, without an epoch.
        candidates = [
            actions.SignedOperation(*actor.operation(group.conversation_id, group.index + 1,
                                                     group.head, "add", target))
            for actor, target in zip((alice, bob), targets, strict=True)]
        actors = [alice.id, bob.id]

        def work(i, candidates=candidates, actors=actors):
            return actions.do_append_operation(users[actors[i]], group.hex, candidates[i])

        results, errors = run_together(2, work)
        winners = [r for r in results if r is not None]
        assert len(winners) == 1 and len(errors) == 1 and isinstance(errors[0], StaleHead)
        assert errors[0].extra["head"]["index"] == group.index + 1
        won = winners[0].items[0]
        group.head, group.index = bytes(won.op_hash), won.index
        added = membership.parse_operation(bytes(won.statement)).target_id
        group.members.append(next(t for t in targets if t.id == added))
    indexes = list(MembershipOperation.objects.values_list("index", flat=True))
    assert indexes == list(range(len(indexes))) == list(range(3 + ROUNDS))  # create, add, grant


def test_two_epochs_for_one_number_the_first_wins():
    alice, bob = V2User.signup("alice"), V2User.signup("bob")
    group = group_of(alice, bob)
    for _ in range(ROUNDS):
        mine, theirs = (group.make_epoch(alice, group.members),
                        group.make_epoch(bob, group.members))
        contenders = [(alice.user, mine), (bob.user, theirs)]

        def work(i, contenders=contenders):
            user, epoch = contenders[i]
            return actions.do_store_epoch(user, group.hex, actions.SignedEpoch(
                epoch.envelope, epoch.statement, epoch.signature))

        results, errors = run_together(2, work)
        (winner,) = [r for r in results if r is not None]
        assert len(errors) == 1 and isinstance(errors[0], EpochExists)
        assert errors[0].extra["epoch"]["envelope_hash"] == bytes(
            winner.items[0].envelope_hash).hex()
        group.epoch = mine if results[0] is not None else theirs
    assert EpochV2.objects.count() == 2 + ROUNDS


def test_twenty_simultaneous_senders_get_gap_free_seqs_shared_with_the_chain():
    users = [V2User.signup(f"member{i}") for i in range(4)]
    group = group_of(*users)
    base_seq = MembershipOperation.objects.count() + EpochV2.objects.count()
    acked = []
    for round_ in range(ROUNDS):
        senders = [users[i % len(users)] for i in range(SENDERS)]
        bodies = [group.message(s, f"r{round_} s{i}") for i, s in enumerate(senders)]
        accounts = {u.id: u.user for u in users}

        def work(i, senders=senders, bodies=bodies, accounts=accounts):
            box, statement, signature = raw(bodies[i], "box", "statement", "signature")
            return actions.do_send_message(accounts[senders[i].id], group.hex, box, statement,
                                           signature)

        results, errors = run_together(SENDERS, work)
        assert errors == []
        acked += [r.items[0].seq for r in results]
        # Each one retried (a lost ack) returns its stored seq, and stores nothing new.
        repeat = work(0)
        assert not repeat.created and repeat.items[0].seq == results[0].items[0].seq
    total = SENDERS * ROUNDS
    assert sorted(acked) == list(range(base_seq + 1, base_seq + total + 1))
    assert sorted(MessageV2.objects.values_list("seq", flat=True)) == sorted(acked)


def test_simultaneous_retries_of_one_client_message_id_store_one_message():
    """A send retried on several connections at once (a client that lost its ack and
    reconnected) is stored once: exactly one contender creates it, every other gets the
    same seq back, and the conversation's seq advances by one."""
    alice, bob = V2User.signup("alice"), V2User.signup("bob")
    group = group_of(alice, bob)
    for round_ in range(ROUNDS):
        body = group.message(alice, f"retried {round_}")
        before = ConversationV2.objects.get(pk=group.hex).last_seq

        def work(_i, body=body):
            box, statement, signature = raw(body, "box", "statement", "signature")
            return actions.do_send_message(alice.user, group.hex, box, statement, signature)

        results, errors = run_together(8, work)
        assert errors == []
        assert sorted(r.created for r in results) == [False] * 7 + [True]
        assert {r.items[0].seq for r in results} == {before + 1}
        assert ConversationV2.objects.get(pk=group.hex).last_seq == before + 1
    assert MessageV2.objects.count() == ROUNDS


def test_two_simultaneous_starts_of_one_direct_pair_make_one_conversation():
    """Both pass the "no such pair yet" check in most rounds on PostgreSQL; the unique pair
    key admits one insert, and the other start answers the winner."""
    for round_ in range(ROUNDS):
        alice, bob = V2User.signup("alice"), V2User.signup("bob")
        attempts = [Group(alice, [alice]) for _ in range(2)]
        signed = []
        for attempt in attempts:
            op = actions.SignedOperation(*alice.operation(attempt.conversation_id, 0,
                                                          bytes(32), "create"))
            epoch = attempt.make_epoch(alice, [alice], number=1,
                                       chain_head=membership.operation_hash(op.statement))
            signed.append((op, actions.SignedEpoch(epoch.envelope, epoch.statement,
                                                   epoch.signature)))
        user = alice.user

        def work(i, attempts=attempts, signed=signed, user=user, peer=bob.id):
            return actions.do_create_conversation(user, attempts[i].hex, "direct",
                                                  *signed[i], peer=peer)

        results, errors = run_together(2, work)
        assert errors == []
        assert sorted(r.created for r in results) == [False, True]
        assert len({r.conversation.pk for r in results}) == 1
        assert ConversationV2.objects.count() == round_ + 1
        # Bob, started from his side before Alice adds him: 409 naming the conversation.
        r = Group(bob, [bob]).create("direct", peer=alice)
        assert (r.status_code, r.json()["error"], r.json()["conversation"]) == (
            409, ConversationExists.code, results[0].conversation.pk)
