"""Email change (DESIGN.md §4): after a step-up a link goes to the NEW address; the
account keeps its old address until the link is used; the old address gets a
notice; uniqueness (regardless of case) is checked again when the link is used,
and the new address counts as verified because the link reached it.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from accounts.models import AuditEvent, User
from tests.accounts import NEEDS_V2_STEP_UP, enrol_totp, fresh_code, fresh_rate_limits, post_json  # noqa: F401
from tests.support.accounts import PASSWORD, login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]

LINK = re.compile(r"https?://[^/\s]+/me/email/confirm/([^/\s]+)/")


def request_change(client, new_email: str, **extra):
    return post_json(client, "/api/v1/me/email",
                     {"password": PASSWORD, "new_email": new_email, **extra})


def token_sent_to(address: str) -> str:
    (message,) = [m for m in mail.outbox if m.to == [address]]
    return LINK.search(message.body).group(1)


@NEEDS_V2_STEP_UP
def test_change_is_pending_until_the_link_is_used():
    alice = make_user(verified=False)
    client = login_client(alice)
    response = request_change(client, "Alice.New@Example.com")
    assert response.status_code == 202, response.content
    assert response.json()["pending_email"] == "alice.new@example.com"

    user = User.objects.get(pk=alice.user.pk)
    assert user.email == alice.email and user.pending_email == "alice.new@example.com"
    # The old address gets a notice without the link; the new one gets the link.
    (notice,) = [m for m in mail.outbox if m.to == [alice.email]]
    assert "/me/email/confirm/" not in notice.body
    token = token_sent_to("alice.new@example.com")
    assert client.get("/api/v1/me").json()["email"] == alice.email

    confirm = post_json(Client(), "/api/v1/me/email/confirm", {"token": token})
    assert confirm.status_code == 200, confirm.content
    user.refresh_from_db()
    assert user.email == "alice.new@example.com"
    assert user.pending_email == "" and user.email_verified
    assert client.get("/api/v1/me").json()["email"] == "alice.new@example.com"
    assert AuditEvent.objects.filter(user=user, kind="email_changed").exists()
    changed = [m for m in mail.outbox if "was changed" in m.subject]
    assert {m.to[0] for m in changed} == {alice.email, "alice.new@example.com"}

    # Single use: the same link again changes nothing.
    again = post_json(Client(), "/api/v1/me/email/confirm", {"token": token})
    assert again.status_code == 400 and again.json()["error"] == "invalid_link"


@NEEDS_V2_STEP_UP
def test_uniqueness_is_checked_again_when_the_link_is_used():
    alice = make_user()
    client = login_client(alice)
    assert request_change(client, "contested@example.com").status_code == 202
    token = token_sent_to("contested@example.com")
    make_user("CONTESTED@example.com")  # someone signs up with it meanwhile

    response = post_json(Client(), "/api/v1/me/email/confirm", {"token": token})
    assert response.status_code == 409 and response.json()["error"] == "email_taken"
    assert User.objects.get(pk=alice.user.pk).email == alice.email


@NEEDS_V2_STEP_UP
def test_a_newer_request_replaces_the_older_link():
    alice = make_user()
    client = login_client(alice)
    request_change(client, "first@example.com")
    first = token_sent_to("first@example.com")
    request_change(client, "second@example.com")
    assert post_json(Client(), "/api/v1/me/email/confirm",
                     {"token": first}).json()["error"] == "invalid_link"
    assert User.objects.get(pk=alice.user.pk).email == alice.email
    second = token_sent_to("second@example.com")
    assert post_json(Client(), "/api/v1/me/email/confirm", {"token": second}).status_code == 200


@pytest.mark.parametrize("new_email,body,status,error", [
    ("taken@example.com", {}, 409, "email_taken"),
    ("TAKEN@EXAMPLE.COM", {}, 409, "email_taken"),
    ("not an address", {}, 400, "invalid"),
    (None, {}, 400, "invalid"),
    ("fresh@example.com", {"password": "wrong password 123"}, 403, "wrong_password"),
    ("SELF", {}, 400, "invalid"),
])
@NEEDS_V2_STEP_UP
def test_bad_requests_change_nothing(new_email, body, status, error):
    alice = make_user()
    make_user("taken@example.com")
    client = login_client(alice)
    if new_email == "SELF":
        new_email = alice.email.upper()
    response = post_json(client, "/api/v1/me/email",
                         {"password": PASSWORD, "new_email": new_email, **body})
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    user = User.objects.get(pk=alice.user.pk)
    assert user.pending_email == "" and user.email == alice.email
    assert not mail.outbox


@pytest.mark.parametrize("token", ["", "garbage", "a" * 2000, None])
def test_bad_tokens_are_refused(token):
    response = post_json(Client(), "/api/v1/me/email/confirm", {"token": token})
    assert response.status_code == 400 and response.json()["error"] == "invalid_link"


@NEEDS_V2_STEP_UP
def test_a_tampered_token_is_refused():
    alice = make_user()
    request_change(login_client(alice), "mine@example.com")
    token = token_sent_to("mine@example.com")
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert post_json(Client(), "/api/v1/me/email/confirm",
                     {"token": tampered}).json()["error"] == "invalid_link"
    assert post_json(Client(), "/api/v1/me/email/confirm",
                     {"token": token}).status_code == 200  # control


@NEEDS_V2_STEP_UP
def test_needs_a_fresh_code_when_2fa_is_on():
    alice = make_user()
    device, _ = enrol_totp(alice.user)
    client = login_client(alice)
    assert request_change(client, "x@example.com").json()["error"] == "code_required"
    assert request_change(client, "x@example.com", code=fresh_code(device)).status_code == 202


def test_the_confirm_page_changes_nothing_on_get():
    """The link's page (the one server-rendered page of the email change; the request is
    the shell's /me/, after a step-up)."""
    from accounts import actions

    alice = make_user()
    actions.do_request_email_change(alice.user, "paged@example.com")
    token = token_sent_to("paged@example.com")

    visitor = Client()
    landing = visitor.get(f"/me/email/confirm/{token}/")
    assert landing.status_code == 302 and token not in landing["Location"]
    page = visitor.get(landing["Location"])
    assert page.status_code == 200
    assert User.objects.get(pk=alice.user.pk).email == alice.email  # GET changed nothing
    confirmed = visitor.post(landing["Location"])
    assert confirmed.status_code == 200 and b"paged@example.com" in confirmed.content
    assert User.objects.get(pk=alice.user.pk).email == "paged@example.com"


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


@NEEDS_V2_STEP_UP
@pytest.mark.dbsensitive
def test_two_accounts_confirming_one_address_in_parallel_get_it_once():
    """Two users with the same pending address confirm together on separate
    connections: one gets it, the other a clear email_taken (never a 500)."""
    from functools import partial

    for round_number in range(6):
        address = f"wanted{round_number}@example.com"
        tokens = []
        for _ in range(2):
            user = make_user()
            request_change(login_client(user), address)
            tokens.append(token_sent_to(address))
            mail.outbox.clear()
        responses = run_together(*(
            partial(post_json, Client(), "/api/v1/me/email/confirm", {"token": token})
            for token in tokens))
        results = [(r.status_code, r.json().get("error")) for r in responses]
        assert sorted(results, key=str) == sorted([(200, None), (409, "email_taken")], key=str)
        assert User.objects.filter(email__iexact=address).count() == 1
