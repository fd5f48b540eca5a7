"""Per-user rate limits (issue 17, settings in SECURECHAT_RATE_LIMITS): blocks (and
unblocks) and invitations by a user (version 2's epochs and directory reads have
their own per-account scopes, tested with them). Each
counts per signed-in user, whatever the address, and answers 429 ``rate_limited``
with Retry-After once spent; another user's bucket is untouched."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from accounts import actions
from accounts.throttle import RateLimited
from messaging.models import Block
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.accounts import login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]


def post(client, path, data):
    return client.post(path, json.dumps(data), content_type="application/json")


@pytest.fixture
def limit(settings):
    def set_limit(scope: str, count: int):
        settings.SECURECHAT_RATE_LIMITS = {**settings.SECURECHAT_RATE_LIMITS,
                                           scope: (count, 3600)}
    return set_limit


def refused(response) -> bool:
    return (response.status_code == 429 and response.json()["error"] == "rate_limited"
            and int(response["Retry-After"]) > 0)


def test_blocks_and_unblocks_per_user(limit):
    limit("block_user", 3)
    alice, bob, carol, dave = make_user(), make_user(), make_user(), make_user()
    client = login_client(alice)
    statuses = [post(client, "/api/v1/users/block", {"email": u.email}).status_code
                for u in (bob, carol)]
    statuses.append(post(client, "/api/v1/users/unblock", {"email": bob.email}).status_code)
    assert statuses == [200, 200, 200]
    assert refused(post(client, "/api/v1/users/block", {"email": dave.email}))
    assert list(Block.objects.filter(user=alice.user).values_list("blocked", flat=True)) == [
        carol.user.pk]


def test_invitations_by_a_user_are_limited_and_the_operators_command_is_not(limit):
    limit("invite_user", 2)
    alice = make_user()
    actions.do_invite("i1@example.com", actor=alice.user)
    actions.do_invite("i2@example.com", actor=alice.user)
    with pytest.raises(RateLimited):
        actions.do_invite("i3@example.com", actor=alice.user)
    for i in range(3):  # the operator (no actor) is not counted
        actions.do_invite(f"op{i}@example.com")


def test_the_limits_are_settings():
    for scope in ("block_user", "invite_user", "directory_account", "epoch_account"):
        count, window = settings.SECURECHAT_RATE_LIMITS[scope]
        assert count > 0 and window > 0
