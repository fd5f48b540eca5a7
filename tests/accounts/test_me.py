"""GET /api/v1/me (DESIGN.md §3, §11). The server holds no unlocked keys: the
fingerprint it shows is the directory's. What keeps an edited directory from changing
what users see for themselves is the client's self-check, which compares the
directory with the keys it unwrapped (client.account.self_check) and refuses a
mismatch.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from accounts import stages
from accounts.identity import fingerprint
from accounts.models import KeyGeneration
from client.account import self_check
from client.errors import DirectoryMismatch
from client.identity import IdentityFile
from tests.accounts import enrol_totp, fresh_rate_limits  # noqa: F401
from tests.support.accounts import login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]


def test_me_describes_the_account():
    alice = make_user(verified=False)
    client = login_client(alice)
    body = client.get("/api/v1/me").json()
    assert body == {
        "id": alice.user.pk, "email": alice.email, "display_name": "", "pending_email": None,
        "fingerprint": alice.fingerprint, "otp_enabled": False,
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


def test_an_edited_directory_is_caught_by_the_clients_self_check():
    alice = make_user()
    client = login_client(alice)
    generations = client.get("/api/v1/me/wrapped-identity").json()["key_generations"]
    self_check(alice.identity_file, generations)  # control: the true directory passes
    row = KeyGeneration.objects.current_for(alice.user)
    impostor = IdentityFile.create("hybrid", str(alice.identity_file.recipient()))
    KeyGeneration.objects.filter(pk=row.pk).update(
        recipient=impostor.recipient(), signing_public_key=impostor.signing_public_key())
    # The server only repeats the directory ...
    shown = fingerprint(impostor.recipient(), impostor.signing_public_key())
    assert client.get("/api/v1/me").json()["fingerprint"] == shown != alice.fingerprint
    # ... and the client, holding the real keys, refuses it.
    generations = client.get("/api/v1/me/wrapped-identity").json()["key_generations"]
    with pytest.raises(DirectoryMismatch):
        self_check(alice.identity_file, generations)


def test_without_a_complete_login_there_is_nothing_to_show():
    alice = make_user()
    assert Client().get("/api/v1/me").status_code == 401
    half = login_client(alice, stage=stages.STAGE_OTP)
    assert half.get("/api/v1/me").status_code == 403
    assert login_client(alice).post("/api/v1/me").status_code == 405
    assert login_client(alice).get("/api/v1/me").status_code == 200  # control
