"""Version 2: ``GET …/<conversation>/keys``, the directory entries of everyone a
conversation's chain names, so a client can pin and verify members by id."""

from __future__ import annotations

import base64

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.v2chat import V2User, group_of

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def entries(user, group) -> dict:
    r = user.http.get(group.url("keys"))
    assert r.status_code == 200, r.content
    return {e["id"]: e for e in r.json()["users"]}


def test_members_read_the_keys_of_everyone_the_chain_names_removed_members_included(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob, carol)
    assert group.append(alice, "remove", carol).status_code == 201
    seen = entries(bob, group)
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
