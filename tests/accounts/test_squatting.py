"""Address squatting (issue 17): an unverified registration is released after
SECURECHAT_UNVERIFIED_RELEASE_DAYS (7), by ``purge_unverified --yes`` or at once by a
signup with its address; the mailbox's owner can take a younger one over by verifying."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import AuditEvent, PendingClaim, User
from client.identity import unwrap_with_recovery
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.accounts import (
    PASSWORD,
    http_login,
    http_signup,
    login_client,
    make_user,
    post_json,
    signup_body,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]


def signup(client, email, password=PASSWORD):
    return http_signup(client, email, password)


def joined(test_user, days: float) -> None:
    User.objects.filter(pk=test_user.user.pk).update(
        date_joined=timezone.now() - timedelta(days=days))


def test_purge_releases_only_stale_unverified_accounts_and_dry_runs_by_default():
    squatter = make_user("squat@example.com", verified=False)
    young = make_user("young@example.com", verified=False)
    owner = make_user("owner@example.com")
    staff = make_user("staff@example.com", verified=False)
    for u in (squatter, young, owner, staff):
        joined(u, 8 if u is not young else 6)
    User.objects.filter(pk=staff.user.pk).update(is_staff=True)
    squatter_client = login_client(squatter)
    out = StringIO()
    call_command("purge_unverified", stdout=out)
    assert "Would release 1" in out.getvalue() and "squat@example.com" in out.getvalue()
    assert User.objects.count() == 4
    call_command("purge_unverified", "--yes", stdout=StringIO())
    assert set(User.objects.values_list("email", flat=True)) == {
        "young@example.com", "owner@example.com", "staff@example.com"}
    assert not Session.objects.filter(
        session_key=squatter_client.test_session.session_key).exists()
    assert AuditEvent.objects.filter(kind="unverified_released").count() == 1
    # Expired claims (their link no longer works) go with the next run.
    assert signup(Client(), "young@example.com").status_code == 202
    PendingClaim.objects.update(created_at=timezone.now() - timedelta(days=4))
    call_command("purge_unverified", "--yes", stdout=StringIO())
    assert not PendingClaim.objects.exists()
    # The address is free again.
    r = signup(Client(), "squat@example.com")
    assert r.status_code == 201


def test_a_signup_releases_a_stale_claim_at_once_and_the_time_is_a_setting():
    squatter = make_user("squat@example.com", verified=False)
    joined(squatter, 2)
    with override_settings(SECURECHAT_UNVERIFIED_RELEASE_DAYS=3):  # not yet: only a claim
        assert signup(Client(), "squat@example.com").status_code == 202
    assert User.objects.get(email="squat@example.com").pk == squatter.user.pk
    with override_settings(SECURECHAT_UNVERIFIED_RELEASE_DAYS=1):
        r = signup(Client(), "squat@example.com")
    assert r.status_code == 201
    assert User.objects.get(email="squat@example.com").pk != squatter.user.pk


def test_a_verified_account_is_never_released():
    owner = make_user("owner@example.com")
    joined(owner, 30)
    call_command("purge_unverified", "--yes", stdout=StringIO())
    assert signup(Client(), "owner@example.com").status_code == 409
    assert User.objects.filter(pk=owner.user.pk).exists()


def claim_link(mailbox, address: str) -> str:
    (message,) = [m for m in mailbox if m.to == [address] and "/verify-email/claim/" in m.body]
    (link,) = re.findall(r"https?://\S+(/verify-email/claim/\S+)", message.body)
    return link


def login(client, email, password=PASSWORD):
    return http_login(client, email, password)


def test_the_mailbox_owner_takes_over_an_unverified_registration_by_verifying(mailoutbox):
    squatter = make_user("owner@example.com", password="squatter's passphrase 1", verified=False)
    squatter_client = login_client(squatter)
    owner = Client()
    body, identity, recovery_code, _ = signup_body("owner@example.com")
    r = post_json(owner, "/api/v1/auth/signup", body)
    assert r.status_code == 202 and r.json()["claim_pending"] is True
    assert owner.get("/api/v1/me").status_code == 401  # nobody is logged in by a claim
    assert User.objects.get(email="owner@example.com").pk == squatter.user.pk
    link = claim_link(mailoutbox, "owner@example.com")
    # A GET (a mail scanner) changes nothing.
    page = Client().get(link)
    assert page.status_code == 200 and b"Confirm my email address" in page.content
    assert User.objects.get(email="owner@example.com").pk == squatter.user.pk
    # The button: the squatter's account, keys and sessions go; the claimant's account is made.
    assert Client().post(link).status_code == 200
    user = User.objects.get(email="owner@example.com")
    assert user.pk != squatter.user.pk and user.email_verified
    assert not User.objects.filter(pk=squatter.user.pk).exists()
    assert squatter_client.get("/api/v1/me").status_code == 401
    assert login(Client(), "owner@example.com", "squatter's passphrase 1").status_code == 401
    assert login(Client(), "owner@example.com").status_code == 200
    # The claimant's client-made keys: its recovery code opens the stored copy.
    opened = unwrap_with_recovery(bytes(user.wrapped_identity.recovery_blob), recovery_code,
                                  settings.SECURECHAT_KEY_TYPE)
    assert opened.recipient() == identity.recipient() == user.key_generations.get().recipient
    assert not user.has_usable_password()
    assert not PendingClaim.objects.exists()
    assert Client().post(link).status_code == 400  # used
    assert AuditEvent.objects.filter(kind="registration_claimed", user=user).exists()


def test_the_first_to_verify_wins(mailoutbox):
    squatter = make_user("contested@example.com", verified=False)
    assert signup(Client(), "contested@example.com").status_code == 202
    assert signup(Client(), "contested@example.com", "another passphrase 22").status_code == 202
    first, second = [re.findall(r"https?://\S+(/verify-email/claim/\S+)", m.body)[0]
                     for m in mailoutbox if "/verify-email/claim/" in m.body]
    assert Client().post(first).status_code == 200
    assert Client().post(second).status_code == 400  # the address has its account now
    assert login(Client(), "contested@example.com").status_code == 200
    # The other order: the holder's own link comes first and voids every claim.
    other = make_user("holder@example.com", verified=False)
    mailoutbox.clear()
    assert signup(Client(), "holder@example.com").status_code == 202
    claim = claim_link(mailoutbox, "holder@example.com")
    from accounts.actions import do_verify_email, email_verification_token

    do_verify_email(email_verification_token(other.user))
    r = Client().post(claim)
    assert r.status_code == 400
    assert User.objects.get(email="holder@example.com").pk == other.user.pk
    assert not User.objects.filter(pk=squatter.user.pk).exists()
