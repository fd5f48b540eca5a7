"""Version 2 conversations over HTTP: the membership chain and epochs (DESIGN.md §3, §5).

Real v2 users (signed up through the client flow) build every statement with
``client/``; the server stores what they signed, refuses what does not fit
the chain head or the current epoch with a 409 carrying the current state,
and refuses malformed input with a 400 naming the field, changing nothing.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
from dataclasses import replace

import pytest
from django.apps import apps as django_apps

import agecrypt
from client import epochs, membership, signing
from messaging.models import MemberV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.v2chat import (
    BASE,
    Group,
    V2User,
    flip,
    group_of,
    post_json,
    signed_json,
    snapshot,
)

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def key_lookup_of(*users: V2User):
    keys = {(u.id, u.keys.generation): u.keys for u in users}
    return lambda user_id, generation: keys.get((user_id, generation))


def test_a_group_of_three_whose_chain_and_epoch_every_member_verifies(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob, carol)
    listed = bob.http.get(BASE).json()["conversations"]
    assert [(c["id"], c["kind"], c["members"]) for c in listed] == [
        (group.hex, "group", sorted([alice.id, bob.id, carol.id]))]
    chain = carol.http.get(group.url("members")).json()
    assert chain["head"] == {"index": 2, "op_hash": group.head.hex()}
    pairs = [(base64.b64decode(op["statement"]), base64.b64decode(op["signature"]))
             for op in chain["operations"]]
    verified = membership.MembershipChain.replay(pairs, key_lookup_of(alice, bob, carol))
    assert set(verified.state.members) == {alice.id, bob.id, carol.id}
    assert verified.state.head == group.head
    stored = carol.http.get(group.url("epochs"), {"after": 2}).json()
    assert stored["current"] == {"number": 3, "envelope_hash": group.epoch.envelope_hash.hex()}
    (latest,) = stored["epochs"]
    opened = epochs.open_epoch(
        base64.b64decode(latest["envelope"]), base64.b64decode(latest["statement"]),
        base64.b64decode(latest["signature"]), me=carol.keys,
        identity=carol.identity.current_identity, chain=verified,
        key_lookup=key_lookup_of(alice, bob, carol))
    assert opened.secret == group.epoch.secret


def test_a_stale_previous_hash_gets_409_with_the_head_and_changes_nothing(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob)
    stale_head, stale_index = group.head, group.index
    assert group.append(alice, "grant-admin", bob).status_code == 201
    before = snapshot()
    signed = alice.operation(group.conversation_id, stale_index + 1, stale_head, "add", carol)
    r = post_json(alice.http, group.url("members"), {"operation": signed_json(signed)})
    assert r.status_code == 409 and r.json()["error"] == "stale_head"
    assert r.json()["head"] == {"index": group.index, "op_hash": group.head.hex()}
    assert snapshot() == before
    # The client refetches, re-checks and re-signs on the head it was given.
    assert group.append(alice, "add", carol, with_epoch=True).status_code == 201


def test_a_remove_lands_only_with_its_epoch_and_the_removed_member_loses_access(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob, carol)
    before = snapshot()
    signed = alice.operation(group.conversation_id, group.index + 1, group.head, "remove", carol)
    alone = post_json(alice.http, group.url("members"), {"operation": signed_json(signed)})
    assert alone.status_code == 400 and alone.json()["field"] == "epoch"
    # An epoch that signs the old head (not the remove) is refused too.
    old_head = group.make_epoch(alice, [alice, bob])
    r = post_json(alice.http, group.url("members"),
                  {"operation": signed_json(signed), "epoch": old_head.json()})
    assert r.status_code == 409 and r.json()["error"] == "stale_head"
    assert snapshot() == before
    assert group.append(alice, "remove", carol).status_code == 201
    for path in ("members", "epochs", "timeline"):
        assert carol.http.get(group.url(path)).status_code == 404
    assert group.send(alice, "after carol left").status_code == 201
    assert carol.http.get(BASE).json()["conversations"] == []


def test_a_member_who_is_not_an_admin_signs_only_a_leave(trio):
    """Clients judge authority from the chain; the server refuses a non-admin's add,
    remove, rename or admin change as well (403), and changes nothing."""
    alice, bob, carol = trio
    group = group_of(alice, bob)
    before = snapshot()
    for kind, target in (("add", carol), ("grant-admin", bob), ("revoke-admin", alice),
                         ("rename", None)):
        signed = bob.operation(group.conversation_id, group.index + 1, group.head, kind, target)
        r = post_json(bob.http, group.url("members"), {"operation": signed_json(signed)})
        assert r.status_code == 403, (kind, r.content)
        assert r.json() == {"error": "forbidden", "detail": f"Only an admin may {kind}.",
                            "field": "operation.statement"}
    assert snapshot() == before
    # Once Alice makes Bob an admin, the same add goes through; his revoke of Alice too.
    assert group.append(alice, "grant-admin", bob).status_code == 201
    assert group.append(bob, "add", carol, with_epoch=True).status_code == 201
    assert group.append(bob, "revoke-admin", alice).status_code == 201
    signed = alice.operation(group.conversation_id, group.index + 1, group.head, "rename")
    r = post_json(alice.http, group.url("members"), {"operation": signed_json(signed)})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert group.append(alice, "leave").status_code == 201  # anyone leaves


def test_the_migration_replays_each_chain_for_its_admins(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob, carol)
    assert group.append(alice, "grant-admin", carol).status_code == 201
    assert group.append(carol, "revoke-admin", alice).status_code == 201
    MemberV2.objects.update(is_admin=False)
    migration = importlib.import_module("messaging.migrations.0006_v2_member_admin")
    migration.admins_from_chains(django_apps, None)
    admins = MemberV2.objects.filter(is_admin=True).values_list("user_id", flat=True)
    assert sorted(admins) == [carol.id]


def test_epochs_first_stored_wins_and_the_loser_gets_the_winner(trio):
    alice, bob, _ = trio
    group = group_of(alice, bob)
    mine, theirs = group.make_epoch(alice, group.members), group.make_epoch(bob, group.members)
    assert post_json(alice.http, group.url("epochs"), mine.json()).status_code == 201
    before = snapshot()
    r = post_json(bob.http, group.url("epochs"), theirs.json())
    assert r.status_code == 409 and r.json()["error"] == "epoch_exists"
    winner = r.json()["epoch"]
    assert (winner["number"], winner["envelope_hash"]) == (mine.number,
                                                          mine.envelope_hash.hex())
    assert base64.b64decode(winner["envelope"]) == mine.envelope
    assert snapshot() == before


def test_non_members_get_404_whether_or_not_the_conversation_exists(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob)
    unknown = Group(alice, [alice])
    for target in (group, unknown):
        for path in ("members", "epochs", "timeline"):
            assert carol.http.get(target.url(path)).status_code == 404
        r = post_json(carol.http, target.url("messages"), group.message(bob, "x"))
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert carol.http.get(f"{BASE}/not-hex/timeline").status_code == 404


def test_create_refuses_a_taken_id_and_an_operation_signed_by_someone_else(trio):
    alice, bob, _ = trio
    group = group_of(alice)
    before = snapshot()
    again = Group(bob, [bob], conversation_id=group.conversation_id)
    r = again.create()
    assert r.status_code == 409 and r.json()["error"] == "conversation_exists"
    forged = Group(alice, [alice])
    signed = alice.operation(forged.conversation_id, 0, bytes(32), "create")
    epoch = forged.make_epoch(alice, [alice], chain_head=membership.operation_hash(signed[0]))
    r = post_json(bob.http, BASE, {"conversation_id": forged.hex, "kind": "group",
                                   "operation": signed_json(signed), "epoch": epoch.json()})
    assert r.status_code == 400 and r.json()["field"] == "operation.statement"
    assert snapshot() == before


def test_malformed_input_is_a_400_naming_the_field_and_changes_nothing(trio):
    alice, bob, _ = trio
    group = group_of(alice, bob)
    signed = signed_json(alice.operation(group.conversation_id, group.index + 1, group.head,
                                         "grant-admin", bob))
    epoch = group.make_epoch(alice, group.members).json()
    cases = [
        (BASE, {"conversation_id": "XYZ", "kind": "group"}, "conversation_id"),
        (BASE, {"conversation_id": os.urandom(16).hex(), "kind": "group",
                "operation": "nope"}, "operation"),
        (group.url("members"), {"operation": {"statement": "!!", "signature": "AA=="}},
         "operation.statement"),
        (group.url("members"), {"operation": {**signed, "signature": flip(signed["signature"])}},
         "operation.signature"),
        (group.url("members"), {"operation": {**signed, "statement": flip(signed["statement"])}},
         "operation.signature"),
        (group.url("members"), {"operation": {"statement": signed["statement"]}},
         "operation.signature"),
        (group.url("epochs"), {**epoch, "envelope": flip(epoch["envelope"])}, "envelope"),
        (group.url("epochs"), {**epoch, "signature": flip(epoch["signature"])}, "signature"),
        (group.url("epochs"), {**epoch, "statement": base64.b64encode(b"\0\0\0\1x").decode()},
         "statement"),
        (group.url("members"), {"operation": signed, "extra": 1}, "extra"),
    ]
    before = snapshot()
    for path, body, field in cases:
        r = post_json(alice.http, path, body)
        assert (r.status_code, r.json().get("field")) == (400, field), (field, r.json())
        assert r.json()["detail"]
    assert snapshot() == before


def test_an_envelope_with_a_stanza_slipped_in_is_refused(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob)
    epoch = group.make_epoch(alice, group.members)
    # Re-encrypt the same plaintext to one recipient more and sign it: a well-formed
    # statement whose envelope has more stanzas than listed members.
    plaintext = epochs.encode_plaintext(group.conversation_id, epoch.number, epoch.secret, "x")
    recipients = [agecrypt.parse_recipient(u.keys.recipient) for u in (alice, bob, carol)]
    envelope = agecrypt.encrypt(plaintext, recipients)
    parsed = epochs.parse_epoch_statement(epoch.statement)
    statement = replace(parsed, envelope_hash=hashlib.sha256(envelope).digest()).to_bytes()
    body = {"envelope": base64.b64encode(envelope).decode(),
            "statement": base64.b64encode(statement).decode(),
            "signature": base64.b64encode(signing.sign(alice.signing_key, statement)).decode()}
    before = snapshot()
    r = post_json(alice.http, group.url("epochs"), body)
    assert r.status_code == 400 and r.json()["field"] == "envelope"
    assert snapshot() == before
