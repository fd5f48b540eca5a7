"""A signed-in user invites an address (issue 15 "Accounts", DESIGN.md §5): the answer is
the same for an unknown address, an unverified account and a verified one, and so is
the work on the request path; after the response an unknown address gets an invitation
link, an unverified account a reminder to verify, a verified account nothing. Bad input
and closed registration are refused and send nothing."""

from __future__ import annotations

import json
import re

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from accounts import emails
from accounts.models import Invitation
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.accounts import login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]


def invite(client, email):
    return client.post("/api/v1/invitations", json.dumps({"email": email}),
                       content_type="application/json")


def answer_and_work(client, address):
    with CaptureQueriesContext(connection) as queries:
        response = invite(client, address)
    statements = [re.sub(r"'[^']*'|\b\d+\b", "?", q["sql"]) for q in queries]
    body = {k: v for k, v in response.json().items() if k not in ("email", "detail")}
    return response.status_code, body, statements


def test_unknown_unverified_and_verified_addresses_get_the_same_answer_then_their_mail():
    alice, verified, unverified = make_user(), make_user(), make_user(verified=False)
    client = login_client(alice)
    mail.outbox.clear()
    answers = [answer_and_work(client, address) for address in
               ("newcomer@example.com", unverified.email, verified.email)]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 202
    emails.wait_for_background()
    sent = {m.to[0]: m for m in mail.outbox}
    assert set(sent) == {"newcomer@example.com", unverified.email}
    assert "/signup/?invitation=" in sent["newcomer@example.com"].body
    assert "verify-email" in sent[unverified.email].body
    invitation = Invitation.objects.get(email="newcomer@example.com")
    assert invitation.created_by_id == alice.user.pk and not invitation.staff


@pytest.mark.parametrize("address, field", [("not an address", "email"), ("", "email"),
                                            (None, "email")])
def test_a_malformed_address_is_refused_and_sends_nothing(address, field):
    client = login_client(make_user())
    mail.outbox.clear()
    answer = invite(client, address)
    assert answer.status_code == 400 and answer.json()["field"] == field
    emails.wait_for_background()
    assert not mail.outbox and not Invitation.objects.exists()


def test_ones_own_address_an_unverified_inviter_and_closed_registration_are_refused():
    alice = make_user()
    client = login_client(alice)
    assert invite(client, alice.email.upper()).status_code == 400
    unverified = login_client(make_user(verified=False))
    assert invite(unverified, "someone@example.com").json()["error"] == "email_unverified"
    with override_settings(SECURECHAT_REGISTRATION="closed"):
        answer = invite(client, "someone@example.com")
    assert answer.status_code == 403 and answer.json()["error"] == "registration_closed"
    emails.wait_for_background()
    assert not mail.outbox and not Invitation.objects.exists()


def test_invitations_count_against_the_users_limit(settings):
    settings.SECURECHAT_RATE_LIMITS = {**settings.SECURECHAT_RATE_LIMITS,
                                       "invite_user": (2, 3600)}
    client = login_client(make_user())
    statuses = [invite(client, f"n{i}@example.com").status_code for i in range(3)]
    assert statuses == [202, 202, 429]
    emails.wait_for_background()
    assert sorted(Invitation.objects.values_list("email", flat=True)) == [
        "n0@example.com", "n1@example.com"]
