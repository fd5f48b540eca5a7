"""Version 2: direct conversations by pair and blocks, removals the server announces
(deleted or deactivated accounts), read positions and unread counts in the list."""

from __future__ import annotations

import base64
import os

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.actions.admin import do_deactivate_user
from accounts.actions.lifecycle import do_delete_account
from client import epochs, membership
from client.errors import ClientCryptoError
from messaging.models import Block, ConversationV2, MemberV2, MessageV2, ServerNoticeV2
from messaging.v2 import reads
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.v2chat import BASE, Group, direct_of, group_of, post_json, snapshot

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def listed(user) -> dict:
    r = user.http.get(BASE)
    assert r.status_code == 200, r.content
    return {c["id"]: c for c in r.json()["conversations"]}


# --- direct conversations -------------------------------------------------------------


def test_starting_the_same_direct_conversation_again_returns_the_existing_one(trio):
    alice, bob, _carol = trio
    first = direct_of(alice, bob)
    before = snapshot()
    # Alice again (a new id and freshly signed create), and Bob from his side: same pair.
    for starter, peer in ((alice, bob), (bob, alice)):
        again = Group(starter, [starter])
        r = again.create("direct", peer=peer)
        assert r.status_code == 200, r.content
        assert (r.json()["conversation"], r.json()["created"], r.json()["items"]) == (
            first.hex, False, [])
    assert snapshot() == before
    # Another pair is another conversation; a group never names a peer.
    other = Group(alice, [alice])
    assert other.create("direct", peer=_carol).status_code == 201
    assert ConversationV2.objects.filter(kind="direct").count() == 2
    r = Group(alice, [alice]).create("group", peer=bob)
    assert (r.status_code, r.json()["field"]) == (400, "peer")


def test_a_direct_conversation_names_a_valid_peer_and_admits_only_it(trio):
    alice, bob, carol = trio
    for peer in (None, alice):
        r = Group(alice, [alice]).create("direct", peer=peer)
        assert (r.status_code, r.json()["field"]) == (400, "peer")
    group = Group(alice, [alice])
    assert group.create("direct", peer=bob).status_code == 201
    before = snapshot()
    r = group.append(alice, "add", carol, with_epoch=True)
    assert r.status_code == 400 and "peer" in r.json()["detail"]
    assert snapshot() == before
    assert group.append(alice, "add", bob, with_epoch=True).status_code == 201


def test_blocks_refuse_creating_adding_and_sending_in_a_direct_conversation(trio):
    alice, bob, carol = trio
    direct = direct_of(alice, bob)
    assert direct.send(bob, "before the block").status_code == 201
    Block.objects.create(user=alice.user, blocked=bob.user)  # Alice blocks Bob
    before = snapshot()
    for sender in (bob, alice):  # neither writes to the other, as in v1
        r = direct.send(sender, "after the block")
        assert (r.status_code, r.json()["error"]) == (403, "blocked")
    r = Group(bob, [bob]).create("direct", peer=alice)
    assert (r.status_code, r.json()["error"]) == (403, "blocked")
    assert snapshot() == before
    # A fresh pair where the peer blocks the creator: refused at the create already.
    Block.objects.create(user=carol.user, blocked=alice.user)
    r = Group(alice, [alice]).create("direct", peer=carol)
    assert (r.status_code, r.json()["error"]) == (403, "blocked")
    # Groups are not affected by blocks (each member chose to be there).
    group = group_of(alice, bob)
    assert group.send(bob, "group message").status_code == 201
    # Lifting the block lets the direct conversation carry on.
    Block.objects.filter(user=alice.user).delete()
    assert direct.send(bob, "after unblocking").status_code == 201


# --- removals the server announces ----------------------------------------------------


@pytest.mark.parametrize("how", ["deactivated", "deleted"])
def test_a_departed_account_leaves_every_conversation_with_a_server_notice(trio, how):
    alice, bob, carol = trio
    group = group_of(alice, bob, carol)
    direct = direct_of(carol, bob)
    assert group.send(bob, "hello").status_code == 201
    last_before = {c.pk: c.last_seq for c in ConversationV2.objects.all()}
    if how == "deactivated":
        do_deactivate_user(carol.user)
    else:
        do_delete_account(carol.user)
    for conversation in (group, direct):
        timeline = bob.http.get(conversation.url("timeline")).json()
        notice = timeline["items"][-1]
        assert timeline["last_seq"] == last_before[conversation.hex] + 1
        assert {k: notice[k] for k in ("type", "seq", "kind", "user", "reason")} == {
            "type": "notice", "seq": last_before[conversation.hex] + 1, "kind": "removed",
            "user": carol.id, "reason": how}
        assert "signature" not in notice and "statement" not in notice
    assert listed(bob)[group.hex]["members"] == sorted([alice.id, bob.id])
    assert listed(bob)[direct.hex]["members"] == [bob.id]
    assert not MemberV2.objects.filter(user_id=carol.id).exists()
    assert ServerNoticeV2.objects.count() == 2
    # The chain head is unchanged; the next epoch must exclude Carol.
    stale = group.make_epoch(alice, [alice, bob, carol])
    r = post_json(alice.http, group.url("epochs"), stale.json())
    assert r.status_code == 400 and "members" in r.json()["detail"]
    group.members = [alice, bob]
    assert group.new_epoch(alice).status_code == 201
    assert group.send(alice, "without Carol").status_code == 201
    # Bob's client accepts that epoch only with the announced removal applied.
    chain = bob.http.get(group.url("members")).json()
    pairs = [(base64.b64decode(op["statement"]), base64.b64decode(op["signature"]))
             for op in chain["operations"]]
    lookup = {(u.id, u.keys.generation): u.keys for u in (alice, bob, carol)}
    verified = membership.MembershipChain.replay(pairs, lambda i, g: lookup.get((i, g)))
    latest = bob.http.get(group.url("epochs"), {"after": group.epoch.number - 1}).json()
    (stored,) = latest["epochs"]
    parts = [base64.b64decode(stored[k]) for k in ("envelope", "statement", "signature")]
    common = {"me": bob.keys, "identity": bob.identity.current_identity, "chain": verified,
              "key_lookup": lambda i, g: lookup.get((i, g))}
    departed = {item["user"] for item in bob.http.get(group.url("timeline")).json()["items"]
                if item["type"] == "notice" and item["kind"] == "removed"}
    assert departed == {carol.id}
    assert epochs.open_epoch(*parts, **common, departed=departed).secret == group.epoch.secret
    with pytest.raises(ClientCryptoError):
        epochs.open_epoch(*parts, **common)


@pytest.mark.parametrize("how", ["deactivated", "deleted"])
def test_a_departure_by_a_model_save_or_delete_is_announced_too(trio, how):
    """The admin site's delete or active checkbox go through the model, not the actions."""
    alice, bob, carol = trio
    group = group_of(alice, bob, carol)
    user = carol.user
    if how == "deactivated":
        user.is_active = False
        user.save()
        user.save()  # a second save announces nothing more
    else:
        user.delete()
    notices = list(ServerNoticeV2.objects.values_list("conversation_id", "subject_id",
                                                      "reason"))
    assert notices == [(group.hex, carol.id, how)]
    assert listed(alice)[group.hex]["members"] == sorted([alice.id, bob.id])


def test_a_departure_is_pushed_to_the_remaining_members_only(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob, carol)
    from accounts import events

    pushed = []
    original = events._publish_now
    events._publish_now = lambda pushes: pushed.extend(pushes)
    try:
        do_deactivate_user(carol.user)
    finally:
        events._publish_now = original
    notices = [(group_name, event) for group_name, event in pushed
               if event.get("type") == "chat.v2"]
    assert sorted(g for g, _ in notices) == sorted(
        events.user_group(u.id) for u in (alice, bob))
    assert all(e["item"]["type"] == "notice" and e["conversation"] == group.hex
               for _, e in notices)


# --- read positions and unread counts -------------------------------------------------


def test_read_positions_move_forward_only_and_unread_counts_others_messages(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob)
    seqs = [group.send(bob, f"m{i}").json()["last_seq"] for i in range(3)]
    assert group.send(alice, "mine").status_code == 201
    mine = listed(alice)[group.hex]
    assert mine["unread"] == 3
    assert mine["read_positions"] == {str(alice.id): 0, str(bob.id): 0}
    r = post_json(alice.http, group.url("read"), {"seq": seqs[1]})
    assert r.json() == {"conversation": group.hex, "seq": seqs[1]}
    assert listed(alice)[group.hex]["unread"] == 1
    assert listed(bob)[group.hex]["read_positions"][str(alice.id)] == seqs[1]
    # Never backwards; capped at the last seq; 400 naming the field; 404 for others.
    assert post_json(alice.http, group.url("read"), {"seq": 1}).json()["seq"] == seqs[1]
    last = ConversationV2.objects.get(pk=group.hex).last_seq
    assert post_json(alice.http, group.url("read"), {"seq": 10**9}).json()["seq"] == last
    assert listed(alice)[group.hex]["unread"] == 0
    r = post_json(alice.http, group.url("read"), {"seq": "3"})
    assert (r.status_code, r.json()["field"]) == (400, "seq")
    r = post_json(carol.http, group.url("read"), {"seq": 1})
    assert r.status_code == 404
    assert listed(bob)[group.hex]["unread"] == 1  # Alice's one message


def test_reading_the_list_writes_nothing(trio):
    alice, bob, _carol = trio
    group = group_of(alice, bob)
    group.send(bob, "x")
    before = snapshot()
    listed(alice)
    assert snapshot() == before


def add_conversations(trio, numbers) -> None:
    """Groups of the three, stored directly: two messages of Bob's each (seqs 2 and 3);
    Alice has read up to ``n % 3`` of the ``n``-th, Bob nothing, Carol everything."""
    alice, bob, carol = trio
    for n in numbers:
        conversation = ConversationV2.objects.create(id=os.urandom(16).hex(), kind="group",
                                                     head=bytes(32), last_seq=3)
        for user, read in ((alice, n % 3), (bob, 0), (carol, 3)):
            MemberV2.objects.create(conversation=conversation, user=user.user, joined_seq=1,
                                    last_read_seq=read)
        for seq in (2, 3):
            MessageV2.objects.create(
                conversation=conversation, sender=bob.user, device_id=bytes(16),
                device_counter=seq, client_message_id=os.urandom(16), epoch_number=1,
                box=b"x", statement=b"s", signature=bytes(64), message_hash=os.urandom(32),
                seq=seq)


@pytest.mark.parametrize("count", [1, 10, 50])
def test_the_list_takes_a_constant_number_of_queries(trio, count,
                                                     django_assert_max_num_queries):
    alice, bob, carol = trio
    add_conversations(trio, range(count))
    user = alice.user
    with django_assert_max_num_queries(3):
        got = reads.list_conversations(user)
    assert len(got) == count
    assert sorted(c["unread"] for c in got) == sorted(
        len([s for s in (2, 3) if s > n % 3]) for n in range(count))
    assert all(c["read_positions"][str(carol.id)] == 3 for c in got)


def test_the_list_request_runs_the_same_queries_for_1_10_and_50_and_writes_nothing(trio):
    """The whole GET (session, user, access, the list): one count of statements whether
    the user has 1, 10 or 50 conversations, and none of them a write."""
    alice = trio[0]
    statements, stored = {}, 0
    for count in (1, 10, 50):
        add_conversations(trio, range(stored, count))
        stored = count
        with CaptureQueriesContext(connection) as queries:
            got = listed(alice)
        assert len(got) == count
        statements[count] = [q["sql"] for q in queries.captured_queries]
    assert len(statements[1]) == len(statements[10]) == len(statements[50]), statements[1]
    writes = [sql for sqls in statements.values() for sql in sqls
              if sql.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE",
                                                              "REPLACE")]
    assert writes == []
    # The positive control: the same capture sees a write when the request makes one.
    with CaptureQueriesContext(connection) as queries:
        r = post_json(alice.http, f"{BASE}/{next(iter(got))}/read", {"seq": 3})
    assert r.status_code == 200, r.content
    assert any(q["sql"].lstrip().upper().startswith("UPDATE") for q in queries.captured_queries)
