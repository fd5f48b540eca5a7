"""Address squatting (issue 17): an unverified registration is released after
SECURECHAT_UNVERIFIED_RELEASE_DAYS (7), by ``purge_unverified --yes`` or at once by a
signup with its address; the mailbox's owner can take a younger one over by verifying."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import AuditEvent, User
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.accounts import PASSWORD, login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]


def signup(client, email, password=PASSWORD):
    return client.post("/api/v1/auth/signup", json.dumps({"email": email, "password": password}),
                       content_type="application/json")


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
    # The address is free again.
    r = signup(Client(), "squat@example.com")
    assert r.status_code == 201


def test_a_signup_releases_a_stale_claim_at_once_and_the_time_is_a_setting():
    squatter = make_user("squat@example.com", verified=False)
    joined(squatter, 2)
    with override_settings(SECURECHAT_UNVERIFIED_RELEASE_DAYS=3):
        assert signup(Client(), "squat@example.com").status_code == 409  # not yet
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
