"""GET /api/v1/me and the profile page (DESIGN.md §3, §11): the user's own
fingerprint comes from the keys unlocked in this session, never from the public
directory rows, so an edited directory cannot change what users see for
themselves.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from accounts.identity import IdentityFile
from accounts.models import KeyGeneration
from tests.accounts import enrol_totp, fresh_rate_limits  # noqa: F401
from tests.support.accounts import login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]


def test_me_describes_the_account():
    alice = make_user(verified=False)
    client = login_client(alice)
    body = client.get("/api/v1/me").json()
    assert body == {
        "email": alice.email, "pending_email": None,
        "fingerprint": alice.identity_file.fingerprint(), "otp_enabled": False,
        "email_verified": False, "key_type": "hybrid", "key_generation": 1,
        "recovery_code_pending": False,
    }
    # Only a verified account can set up 2FA (issue 17); with no request the setup ends
    # every login (issue 17): log in again.
    alice.user.email_verified_at = timezone.now()
    alice.user.save(update_fields=["email_verified_at"])
    enrol_totp(alice.user)
    client = login_client(alice)
    body = client.get("/api/v1/me").json()
    assert body["otp_enabled"] is True and body["email_verified"] is True


def test_fingerprint_comes_from_the_unlocked_keys_not_the_directory():
    alice = make_user()
    client = login_client(alice)
    row = KeyGeneration.objects.current_for(alice.user)
    assert row.directory_fingerprint == alice.identity_file.fingerprint()  # control
    impostor = IdentityFile.create("hybrid")
    KeyGeneration.objects.filter(pk=row.pk).update(
        recipient=str(impostor.recipient()), signing_public_key=impostor.signing_public_key())
    row.refresh_from_db()
    assert row.directory_fingerprint == impostor.fingerprint()

    assert client.get("/api/v1/me").json()["fingerprint"] == alice.identity_file.fingerprint()
    page = client.get("/me/").content.decode()
    digits = re.findall(r"<span>(\d{5})</span>", page)
    assert " ".join(digits) == alice.identity_file.fingerprint()
    assert len(digits) == 12
    assert impostor.fingerprint().split()[0] not in digits


def test_without_an_unlocked_identity_there_is_nothing_to_show():
    alice = make_user()
    client = login_client(alice)
    client.cookies["securechat_key"] = "A" * 43  # a key secret that opens nothing
    assert client.get("/api/v1/me").status_code == 401
    assert Client().get("/api/v1/me").status_code == 401
    assert Client().get("/me/").status_code == 302
    assert login_client(alice).post("/api/v1/me").status_code == 405
