"""Email change, version 2 (DESIGN.md §3, §4; protocol.md §27): after a step-up
(``auth_key`` from the current password, a code when 2FA is on) a link goes to the NEW
address, with the account salt, auth key and wrapped identity the client re-derived for
it; the account keeps its old address, salt and keys until the link is used, then all
switch in one transaction. The old address gets a notice; uniqueness (regardless of
case) is checked again when the link is used, and the new address counts as verified
because the link reached it.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from accounts.models import AuditEvent, PendingEmailKeys, User
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits, post_json  # noqa: F401
from tests.accounts.test_client_keys import PASSWORD, Device, b64url
from tests.accounts.test_v2_account_changes import assert_no_secret_sent, password_body, stored
from tests.accounts.v2stepup import (
    email_change_body,
    profile_account,
    with_second_factor,
    wrong_step_up,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]

LINK = re.compile(r"https?://[^/\s]+/me/email/confirm/([^/\s]+)/")


def request_change(device, new_email: str, **override):
    return device.post("/api/v1/me/email", email_change_body(device, new_email, **override))


def token_sent_to(address: str) -> str:
    (message,) = [m for m in mail.outbox if m.to == [address]]
    return LINK.search(message.body).group(1)


def confirm(token):
    return post_json(Client(), "/api/v1/me/email/confirm", {"token": token})


def test_change_is_pending_until_the_link_is_used_then_address_and_keys_switch():
    alice = profile_account("alice@example.com")
    before = stored(alice.user)
    mail.outbox.clear()  # the signup's own mail
    response = request_change(alice, "Alice.New@Example.com")
    assert response.status_code == 202, response.content
    assert response.json()["pending_email"] == "alice.new@example.com"

    user = User.objects.get(pk=alice.user.pk)
    assert user.email == "alice@example.com" and user.pending_email == "alice.new@example.com"
    assert stored(alice.user) == before  # pending: the old salt and keys stay in force
    # The old address gets a notice without the link; the new one gets the link.
    (notice,) = [m for m in mail.outbox if m.to == ["alice@example.com"]]
    assert "/me/email/confirm/" not in notice.body
    token = token_sent_to("alice.new@example.com")
    for message in mail.outbox:  # neither mail carries a secret of the account
        for secret in (PASSWORD, alice.recovery_code, b64url(alice.keys.auth_key)):
            assert secret not in message.body
    assert Device("alice@example.com").login().status_code == 200
    assert alice.http.get("/api/v1/me").json()["email"] == "alice@example.com"

    answer = confirm(token)
    assert answer.status_code == 200, answer.content
    user.refresh_from_db()
    assert user.email == "alice.new@example.com"
    assert user.pending_email == "" and user.email_verified
    assert not PendingEmailKeys.objects.filter(user=user).exists()
    assert alice.http.get("/api/v1/me").json()["email"] == "alice.new@example.com"
    assert AuditEvent.objects.filter(user=user, kind="email_changed").exists()
    changed = [m for m in mail.outbox if "was changed" in m.subject]
    assert {m.to[0] for m in changed} == {"alice@example.com", "alice.new@example.com"}

    # The same password now logs in under the new address (its salt) and unlocks the
    # same keys; the old address no longer logs in.
    moved = Device("alice.new@example.com", PASSWORD)
    assert moved.login().status_code == 200
    assert moved.unlock().recipient() == alice.identity.recipient()
    assert Device("alice@example.com").login().status_code == 401
    assert_no_secret_sent(alice, PASSWORD, alice.recovery_code)

    # Single use: the same link again changes nothing.
    again = confirm(token)
    assert again.status_code == 400 and again.json()["error"] == "invalid_link"


def test_uniqueness_is_checked_again_when_the_link_is_used():
    alice = profile_account("alice@example.com")
    assert request_change(alice, "contested@example.com").status_code == 202
    token = token_sent_to("contested@example.com")
    assert Device("CONTESTED@example.com").signup().status_code == 201  # someone took it

    response = confirm(token)
    assert response.status_code == 409 and response.json()["error"] == "email_taken"
    assert User.objects.get(pk=alice.user.pk).email == "alice@example.com"


def test_a_newer_request_replaces_the_older_link():
    alice = profile_account("alice@example.com")
    request_change(alice, "first@example.com")
    first = token_sent_to("first@example.com")
    request_change(alice, "second@example.com")
    assert confirm(first).json()["error"] == "invalid_link"
    assert User.objects.get(pk=alice.user.pk).email == "alice@example.com"
    assert confirm(token_sent_to("second@example.com")).status_code == 200
    assert Device("second@example.com").login().status_code == 200


def test_a_password_change_after_the_request_voids_the_pending_keys():
    """Applying keys derived from the old password would undo the password change."""
    alice = profile_account("alice@example.com")
    request_change(alice, "later@example.com")
    token = token_sent_to("later@example.com")
    assert alice.post("/api/v1/me/v2/password", password_body(alice)).status_code == 200
    after_change = stored(alice.user)

    answer = confirm(token)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_link")
    user = User.objects.get(pk=alice.user.pk)
    assert (user.email, user.pending_email) == ("alice@example.com", "")
    assert stored(alice.user) == after_change
    assert not PendingEmailKeys.objects.filter(user=user).exists()


def salt_of_another_address(alice):
    return email_change_body(alice, "other@example.com")["new_account_salt"]


@pytest.mark.parametrize("new_email,override,status,error,field", [
    ("taken@example.com", {}, 409, "email_taken", "new_email"),
    ("TAKEN@EXAMPLE.COM", {}, 409, "email_taken", "new_email"),
    ("not an address", {}, 400, "invalid", "new_email"),
    ("SELF", {}, 400, "invalid", "new_email"),
    ("fresh@example.com", {"new_account_salt": "OTHER"}, 400, "bad_request", "new_account_salt"),
    ("fresh@example.com", {"new_auth_key": "short"}, 400, "bad_request", "new_auth_key"),
    ("fresh@example.com", {"work_factor": 9}, 400, "bad_request", "work_factor"),
    ("fresh@example.com", {"wrapped_identity": "bm90IGFuIGFnZSBmaWxl"}, 400, "bad_request",
     "wrapped_identity"),
    ("fresh@example.com", {"password": PASSWORD}, 400, "bad_request", "password"),
    ("fresh@example.com", {"WRONG": True}, 403, "wrong_password", "auth_key"),
])
def test_bad_requests_change_nothing(new_email, override, status, error, field):
    alice = profile_account("alice@example.com")
    assert Device("taken@example.com").signup().status_code == 201
    mail.outbox.clear()
    before = stored(alice.user)
    if new_email == "SELF":
        new_email = "ALICE@example.com"
    if override.get("new_account_salt") == "OTHER":
        override = {"new_account_salt": salt_of_another_address(alice)}
    if override.pop("WRONG", False):
        override = wrong_step_up(alice)
    body = email_change_body(alice, new_email if "@" in new_email else "x@example.com",
                             **override)
    body["new_email"] = new_email
    response = alice.post("/api/v1/me/email", body)
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    assert response.json().get("field") == field
    user = User.objects.get(pk=alice.user.pk)
    assert user.pending_email == "" and user.email == "alice@example.com"
    assert stored(alice.user) == before
    assert not PendingEmailKeys.objects.exists()
    assert not mail.outbox


@pytest.mark.parametrize("token", ["", "garbage", "a" * 2000, None])
def test_bad_tokens_are_refused(token):
    response = confirm(token)
    assert response.status_code == 400 and response.json()["error"] == "invalid_link"


def test_a_tampered_token_is_refused():
    alice = profile_account("alice@example.com")
    request_change(alice, "mine@example.com")
    token = token_sent_to("mine@example.com")
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert confirm(tampered).json()["error"] == "invalid_link"
    assert confirm(token).status_code == 200  # control


def test_needs_a_fresh_code_when_2fa_is_on():
    alice, totp = with_second_factor(profile_account("alice@example.com"))
    r = request_change(alice, "x@example.com")
    assert (r.status_code, r.json()["error"]) == (403, "code_required")
    r = request_change(alice, "x@example.com", code="000000")
    assert r.json()["error"] == "invalid_code"
    assert not PendingEmailKeys.objects.exists()
    assert request_change(alice, "x@example.com", code=fresh_code(totp)).status_code == 202


def test_the_confirm_page_changes_nothing_on_get():
    alice = profile_account("alice@example.com")
    assert request_change(alice, "paged@example.com").status_code == 202
    token = token_sent_to("paged@example.com")

    visitor = Client()
    landing = visitor.get(f"/me/email/confirm/{token}/")
    assert landing.status_code == 302 and token not in landing["Location"]
    page = visitor.get(landing["Location"])
    assert page.status_code == 200
    assert User.objects.get(pk=alice.user.pk).email == "alice@example.com"  # GET: nothing
    confirmed = visitor.post(landing["Location"])
    assert confirmed.status_code == 200 and b"paged@example.com" in confirmed.content
    assert User.objects.get(pk=alice.user.pk).email == "paged@example.com"
    assert Device("paged@example.com").login().status_code == 200


def run_together(*calls) -> list:
    """Run the calls in threads (each with its own database connection), released
    together by a barrier; returns their results in order."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int, call) -> None:
        try:
            barrier.wait()
            results[index] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.dbsensitive
def test_two_accounts_confirming_one_address_in_parallel_get_it_once():
    """Two users with the same pending address confirm together on separate
    connections: one gets it, the other a clear email_taken (never a 500)."""
    from functools import partial

    for round_number in range(3):
        address = f"wanted{round_number}@example.com"
        tokens = []
        for n in range(2):
            user = profile_account(f"claimant{round_number}-{n}@example.com")
            request_change(user, address)
            tokens.append(token_sent_to(address))
            mail.outbox.clear()
        responses = run_together(*(partial(confirm, token) for token in tokens))
        results = [(r.status_code, r.json().get("error")) for r in responses]
        assert sorted(results, key=str) == sorted([(200, None), (409, "email_taken")], key=str)
        assert User.objects.filter(email__iexact=address).count() == 1
