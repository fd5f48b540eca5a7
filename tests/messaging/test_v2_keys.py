"""Version 2: ``GET …/conversations/<id>/keys``, the directory by user id for a conversation.

It lists the keys of everyone a client meets there (current members, actors and
targets of operations, epoch creators, senders: a removed member's old messages still
verify),
to members only (a 404 like any conversation of others), in constant queries.
"""

from __future__ import annotations

import base64

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.v2 import reads
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.v2chat import V2User, group_of

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def keys_of(user, group) -> dict:
    r = user.http.get(group.url("keys"))
    assert r.status_code == 200, r.content
    return {u["id"]: u for u in r.json()["users"]}


def test_members_and_former_senders_are_listed_with_their_keys(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob, carol)
    assert group.send(bob, "from bob").status_code == 201
    assert group.append(alice, "remove", bob).status_code == 201
    listed = keys_of(carol, group)
    assert sorted(listed) == sorted([alice.id, bob.id, carol.id])  # Bob: a former sender
    entry = listed[bob.id]
    assert entry["email"] == bob.email
    (generation,) = entry["key_generations"]
    assert generation["number"] == 1 and generation["recipient"] == bob.identity.recipient()
    signing = base64.urlsafe_b64decode(generation["signing_key"] + "==")
    assert signing == bob.identity.signing_public_key()


def test_only_members_see_it_and_the_query_count_is_constant(trio, django_assert_num_queries):
    alice, bob, carol = trio
    group = group_of(alice, bob)
    r = carol.http.get(group.url("keys"))
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    assert bob.http.get(group.url("keys")).status_code == 200  # positive control
    user = alice.user
    with django_assert_num_queries(7):  # access, 4 id sets, generations, emails
        reads.read_member_keys(user, group.hex)
    assert group.append(alice, "add", carol, with_epoch=True).status_code == 201
    for n in range(3):
        assert group.send(carol, f"message {n}").status_code == 201
    with django_assert_num_queries(7):
        assert len(reads.read_member_keys(user, group.hex)["users"]) == 3


def test_members_read_the_keys_of_everyone_the_chain_names_removed_members_included(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob, carol)
    assert group.append(alice, "remove", carol).status_code == 201
    seen = keys_of(bob, group)
    assert sorted(seen) == sorted([alice.id, bob.id, carol.id])  # Carol signed nothing, was added
    for user in (alice, bob, carol):
        (current,) = seen[user.id]["key_generations"]
        assert seen[user.id]["email"] == user.email
        assert current["recipient"] == user.identity.recipient()
        assert base64.urlsafe_b64decode(current["signing_key"] + "=") == \
            user.identity.signing_public_key()


def test_a_non_member_gets_the_same_404_as_for_no_conversation(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob)
    r = carol.http.get(group.url("keys"))
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = carol.http.get(group.url("keys").replace(group.hex, "0" * 32))
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert alice.http.get(group.url("keys")).status_code == 200  # the control


def test_the_read_takes_the_same_queries_for_two_and_for_five_members(transactional_db):
    users = [V2User.signup(f"u{i}") for i in range(5)]
    counts = []
    for group in (group_of(*users[:2]), group_of(*users)):
        with CaptureQueriesContext(connection) as queries:
            assert users[0].http.get(group.url("keys")).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] > 0
