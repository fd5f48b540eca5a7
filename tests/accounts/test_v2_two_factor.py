"""Second factor with the version 2 step-up (protocol.md §27): enrolling, removing and
regenerating backup codes take ``{auth_key, code?}`` (the auth key derived from the
current password on the client), never a password; a wrong auth key or a missing code
changes nothing; the mandatory enrolment of a half login needs no step-up.
"""

from __future__ import annotations

import json

import pyotp
import pytest
from django.test import override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import stages
from accounts.models import BackupCodeDevice, LoginSession
from tests.accounts import fresh_code, fresh_rate_limits, post_json  # noqa: F401
from tests.accounts.test_client_keys import PASSWORD, Device
from tests.accounts.v2stepup import profile_account, step_up, with_second_factor, wrong_step_up

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def delete_totp(device, body):
    return device.http.delete("/api/v1/me/totp", data=json.dumps(body),
                              content_type="application/json")


def devices_of(user) -> list:
    return list(TOTPDevice.objects.filter(user=user).values_list("pk", "confirmed", "key"))


def test_enrolment_needs_the_auth_key_then_a_code_from_the_new_app():
    alice = profile_account("alice@example.com")
    r = alice.post("/api/v1/me/totp", wrong_step_up(alice))
    assert (r.status_code, r.json()["error"]) == (403, "wrong_password")
    r = alice.post("/api/v1/me/totp", {"password": PASSWORD})
    assert (r.status_code, r.json().get("field")) == (400, "password")
    assert not TOTPDevice.objects.filter(user=alice.user).exists()

    r = alice.post("/api/v1/me/totp", step_up(alice))
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["otpauth_uri"].startswith("otpauth://totp/SecureChat")
    assert data["qr_svg"].startswith("<svg") and "script" not in data["qr_svg"]
    assert pyotp.TOTP(data["secret"]).now()  # base32
    assert not TOTPDevice.objects.get(user=alice.user).confirmed

    r = alice.post("/api/v1/me/totp/confirm", {"code": "12345"})
    assert r.status_code == 400
    TOTPDevice.objects.get(user=alice.user).throttle_reset()
    r = alice.post("/api/v1/me/totp/confirm", {"code": pyotp.TOTP(data["secret"]).now()})
    assert r.status_code == 200, r.content
    assert len(r.json()["backup_codes"]) == 10
    assert TOTPDevice.objects.get(user=alice.user).confirmed

    # Now 2FA is on: the step-up needs a fresh code too, and nothing changes without it.
    before = devices_of(alice.user)
    r = alice.post("/api/v1/me/totp", step_up(alice))
    assert (r.status_code, r.json()["error"]) == (403, "code_required")
    assert devices_of(alice.user) == before


def test_a_pending_device_is_confirmed_only_by_the_session_that_started_it():
    alice = profile_account("alice@example.com")
    other = Device("alice@example.com")
    assert other.login().status_code == 200
    secret = alice.post("/api/v1/me/totp", step_up(alice)).json()["secret"]
    r = other.post("/api/v1/me/totp/confirm", {"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 409
    assert not TOTPDevice.objects.filter(user=alice.user, confirmed=True).exists()


def test_backup_codes_regenerate_with_step_up_and_old_ones_die():
    alice, totp = with_second_factor(profile_account("alice@example.com"))
    old = alice.post("/api/v1/me/backup-codes", step_up(alice, fresh_code(totp)))
    assert old.status_code == 200, old.content
    old_codes = old.json()["backup_codes"]
    for body, error in [(step_up(alice), "code_required"),
                        (wrong_step_up(alice, code=fresh_code(totp)), "wrong_password"),
                        ({"password": PASSWORD, "code": fresh_code(totp)}, "bad_request")]:
        r = alice.post("/api/v1/me/backup-codes", body)
        assert r.json()["error"] == error
    r = alice.post("/api/v1/me/backup-codes", step_up(alice, fresh_code(totp)))
    assert r.status_code == 200
    new_codes = r.json()["backup_codes"]
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)

    fresh = Device("alice@example.com")
    assert fresh.login().json()["otp_required"] is True
    assert fresh.post("/api/v1/auth/otp", {"code": old_codes[0]}).status_code == 400
    BackupCodeDevice.objects.get(user=alice.user).throttle_reset()
    assert fresh.post("/api/v1/auth/otp", {"code": new_codes[0]}).status_code == 200


def test_removing_the_second_factor_needs_step_up_and_is_refused_when_mandatory():
    alice, totp = with_second_factor(profile_account("alice@example.com"))
    for body in [step_up(alice), wrong_step_up(alice, code=fresh_code(totp)),
                 {"password": PASSWORD, "code": fresh_code(totp)}]:
        assert delete_totp(alice, body).status_code in (400, 403)
    with override_settings(SECURECHAT_REQUIRE_2FA=True):
        assert delete_totp(alice, step_up(alice, fresh_code(totp))).status_code == 400
    assert TOTPDevice.objects.filter(user=alice.user).exists()
    r = delete_totp(alice, step_up(alice, fresh_code(totp)))
    assert r.status_code == 200, r.content
    assert not TOTPDevice.objects.filter(user=alice.user).exists()
    assert not BackupCodeDevice.objects.filter(user=alice.user).exists()


@override_settings(SECURECHAT_REQUIRE_2FA=True)
def test_mandatory_enrolment_completes_the_login_without_step_up():
    """With 2FA mandatory, a version 2 login without a device is held at enrolment; the
    first device needs no step-up, and confirming it completes the login."""
    profile_account("alice@example.com")
    device = Device("alice@example.com")
    r = device.login()
    assert r.json() == {"otp_required": False, "email_verification_required": False,
                        "enrolment_required": True}
    assert device.http.get("/api/v1/me").status_code == 403
    r = device.post("/api/v1/me/totp", {})
    assert r.status_code == 201, r.content
    key_before = device.http.session.session_key
    r = device.post("/api/v1/me/totp/confirm", {"code": pyotp.TOTP(r.json()["secret"]).now()})
    assert r.status_code == 200
    assert device.http.session[stages.SESSION_STAGE] == stages.STAGE_DONE
    assert device.http.session.session_key != key_before
    assert LoginSession.objects.filter(
        session_key=device.http.session.session_key, ended_at__isnull=True).exists()
    assert device.http.get("/api/v1/me").status_code == 200


def closed_sockets(monkeypatch) -> list[str]:
    from accounts import events

    closed: list[str] = []
    monkeypatch.setattr(events, "close_session_sockets", closed.append)
    return closed


def test_enabling_2fa_ends_the_other_logins_and_their_sockets(monkeypatch):
    this = profile_account("alice@example.com")
    other = Device("alice@example.com")
    other.login()
    assert other.http.get("/api/v1/me").status_code == 200  # positive control
    other_key = other.http.session.session_key
    closed = closed_sockets(monkeypatch)
    r = this.post("/api/v1/me/totp", step_up(this))
    assert r.status_code == 201
    assert other.http.get("/api/v1/me").status_code == 200  # starting the setup ends nothing
    r = this.post("/api/v1/me/totp/confirm", {"code": pyotp.TOTP(r.json()["secret"]).now()})
    assert r.status_code == 200, r.content
    assert other.http.get("/api/v1/me").status_code == 401
    assert closed == [other_key]
    assert this.http.get("/api/v1/me").status_code == 200


def test_regenerating_backup_codes_ends_the_other_logins_and_their_sockets(monkeypatch):
    this, totp = with_second_factor(profile_account("alice@example.com"))
    other = Device("alice@example.com")
    other.login()
    other.post("/api/v1/auth/otp", {"code": fresh_code(totp)})
    assert other.http.get("/api/v1/me").status_code == 200  # positive control
    other_key = other.http.session.session_key
    closed = closed_sockets(monkeypatch)
    r = this.post("/api/v1/me/backup-codes", step_up(this, fresh_code(totp)))
    assert r.status_code == 200, r.content
    assert other.http.get("/api/v1/me").status_code == 401
    assert closed == [other_key]
    assert this.http.get("/api/v1/me").status_code == 200
