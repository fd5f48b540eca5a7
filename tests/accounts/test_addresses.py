"""Addresses in one normalised form: one account, one rate-limit bucket, one spelling stored.

The probe that found this: the login limit counted ``email.lower()`` while the
lookup matched SQL ``UPPER()``, so ``ı``/``ſ`` spellings of one address each got
their own bucket of attempts against the same account. Run on SQLite and
PostgreSQL (``dbsensitive``): the engines compare strings differently.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from accounts.actions import EmailTaken, normalize_email
from accounts.addresses import address_key
from accounts.models import Invitation, User
from tests.accounts import fresh_rate_limits, post_json  # noqa: F401
from tests.support.accounts import PASSWORD, http_login, http_signup, make_user, signup_body

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "normalise.json"

# One address, spelled as the probe spelled it: case, dotless ı, long ſ, NFKC forms.
SPELLINGS = [
    "stefan.ivan@example.com",
    "STEFAN.IVAN@EXAMPLE.COM",
    "ſtefan.ivan@example.com",          # U+017F long s
    "stefan.ıvan@example.com",          # U+0131 dotless i
    "ſtefan.ıvan@Example.Com",
    "ｓtefan.ivan@ｅxample.com",          # full-width letters (NFKC)
    "  Stefan.Ivan@example.COM ",
]


def login(client, email, password):
    return http_login(client, email, password)


def logged_in_user_id(client):
    return client.session.get("_auth_user_id")


def test_the_server_normalises_as_the_protocol_vectors_say():
    """accounts.addresses and the clients share one normal form (tests/vectors/normalise.json)."""
    cases = json.loads(VECTORS.read_text())
    assert cases
    for case in cases:
        assert address_key(case["input"]) == case["normalised"], case["input"]


def test_every_spelling_has_one_key_and_a_different_address_another():
    keys = {address_key(s) for s in SPELLINGS}
    assert keys == {"stefan.ivan@example.com"}
    assert address_key("stefan.ivan@example.co") != "stefan.ivan@example.com"
    assert address_key("no-at-sign") is None and address_key(None) is None


@pytest.mark.dbsensitive
def test_spellings_share_one_rate_limit_bucket():
    """10 wrong passwords over mixed spellings; the 11th attempt is 429 in every spelling."""
    stefan = make_user(SPELLINGS[2])
    assert stefan.user.email == "stefan.ivan@example.com"  # stored normalised
    limit, _ = settings.SECURECHAT_RATE_LIMITS["login_account"]
    assert limit == 10
    for attempt in range(limit):
        r = login(Client(), SPELLINGS[attempt % len(SPELLINGS)], "wrong password " * 2)
        assert r.status_code == 401, (attempt, r.content)
    for spelling in SPELLINGS:
        r = login(Client(), spelling, PASSWORD)
        assert r.status_code == 429, spelling
        assert r.json()["error"] == "rate_limited"


@pytest.mark.dbsensitive
def test_a_different_address_keeps_its_own_bucket():
    """Positive control for the shared bucket: another account is not throttled by the first."""
    make_user("stefan.ivan@example.com")
    other = make_user("stefan.ivan@example.org")
    limit, _ = settings.SECURECHAT_RATE_LIMITS["login_account"]
    for _ in range(limit):
        assert login(Client(), "STEFAN.IVAN@example.com", "wrong password " * 2).status_code == 401
    client = Client()
    assert login(client, other.email, PASSWORD).status_code == 200
    assert logged_in_user_id(client) == str(other.user.pk)


@pytest.mark.dbsensitive
def test_every_spelling_reaches_the_one_account_and_no_other():
    stefan = make_user("stefan.ivan@example.com")
    neighbour = make_user("stefan.ivan@example.co")
    for spelling in SPELLINGS:
        client = Client()
        assert login(client, spelling, PASSWORD).status_code == 200, spelling
        assert logged_in_user_id(client) == str(stefan.user.pk)
    assert User.objects.filter(pk=neighbour.user.pk, email="stefan.ivan@example.co").exists()


@pytest.mark.dbsensitive
def test_signup_with_another_spelling_of_an_existing_address_is_refused():
    make_user("stefan.ivan@example.com")
    for spelling in SPELLINGS:
        with pytest.raises(EmailTaken):
            make_user(spelling)
        r = http_signup(Client(), spelling)
        assert r.status_code == 409 and r.json() == {
            "error": "email_taken", "field": "email",
            "detail": "An account with this email address already exists."}
    assert User.objects.count() == 1


def test_addresses_that_only_a_non_ascii_local_part_would_allow_are_refused():
    """After folding, the local part must be ASCII (docs/security.md, "Addresses")."""
    for refused in ["jörg@example.com", "пётр@example.com", "a@b@example.com", "  "]:
        body = signup_body("someone@example.com")[0]
        r = post_json(Client(), "/api/v1/auth/signup", {**body, "email": refused})
        assert r.status_code == 400 and r.json()["field"] == "email", refused
    assert normalize_email("Straße@Example.DE") == "strasse@example.de"
    assert normalize_email("user@bücher.example") == "user@bücher.example"
    assert User.objects.count() == 0


def test_invitations_are_stored_and_matched_normalised(settings):
    from accounts.actions import do_invite

    settings.SECURECHAT_REGISTRATION = "invite"
    token = do_invite("ſtefan@Example.com", days=3, send=False)
    assert Invitation.objects.get().email == "stefan@example.com"
    result = make_user("STEFAN@example.COM", invitation=token)
    assert result.user.email == "stefan@example.com"


class TestMigration:
    """0003 normalises existing rows, and refuses (changing nothing) when two collide."""

    before = [("accounts", "0002_user_pending_email")]
    after = [("accounts", "0003_email_normalised")]

    def migrate(self, target):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(target)
        return executor.loader.project_state(target).apps

    def migrate_to_latest(self):
        """Back to every app's newest migration, so later tests see the whole schema."""
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())

    def insert(self, apps, *emails):
        OldUser = apps.get_model("accounts", "User")
        return [OldUser.objects.create(email=e, password="!").pk for e in emails]

    @pytest.mark.dbsensitive
    def test_rows_are_rewritten_to_the_normal_form(self):
        apps = self.migrate(self.before)
        ids = self.insert(apps, "Alice@Example.COM", "ſtefan@example.com")
        try:
            apps = self.migrate(self.after)
            OldUser = apps.get_model("accounts", "User")
            assert list(OldUser.objects.filter(pk__in=ids).order_by("pk")
                        .values_list("email", flat=True)) == ["alice@example.com",
                                                              "stefan@example.com"]
        finally:
            self.migrate_to_latest()

    @pytest.mark.dbsensitive
    def test_colliding_rows_stop_the_migration_and_are_printed(self, capsys):
        apps = self.migrate(self.before)
        ids = self.insert(apps, "ivan@example.com", "ıvan@example.com", "bob@example.com")
        try:
            with pytest.raises(RuntimeError, match="normalise to <ivan@example.com>"):
                self.migrate(self.after)
            printed = capsys.readouterr().err
            assert f"user {ids[0]} <ivan@example.com>" in printed
            assert f"user {ids[1]} <ıvan@example.com>" in printed
            assert "bob" not in printed
            OldUser = apps.get_model("accounts", "User")
            assert sorted(OldUser.objects.values_list("email", flat=True)) == [
                "bob@example.com", "ivan@example.com", "ıvan@example.com"]  # unchanged
            OldUser.objects.filter(pk=ids[1]).delete()  # the operator's decision
            self.migrate(self.after)
        finally:
            self.migrate_to_latest()
