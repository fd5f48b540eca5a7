"""The accounts admin (DESIGN.md §4, §7): behind OTP; metadata only (no key material,
no password hash); the email is read only; no add; deactivate, reset 2FA and end
sessions go through the account actions; the audit log is read only.
"""

from __future__ import annotations

import base64

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import (
    AuditEvent,
    BackupCodeDevice,
    KeyGeneration,
    LoginSession,
    User,
    WrappedIdentity,
)
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits, post_json  # noqa: F401
from tests.support.accounts import b64url, http_login, login_admin, make_user, session_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]


@pytest.fixture
def operator():
    """A staff superuser logged in on the site with auth key and code, then in the admin."""
    admin = make_user("operator@example.com")
    User.objects.filter(pk=admin.user.pk).update(is_staff=True, is_superuser=True)
    device, _ = enrol_totp(admin.user)
    client = login_admin(admin, device)
    assert client.get("/admin/").status_code == 200
    return client


def secrets_of(test_user) -> list[str]:
    """Strings that must never appear on an admin page, in the forms a page could show."""
    user = User.objects.get(pk=test_user.user.pk)
    wrapped = WrappedIdentity.objects.get(user=user)
    current = KeyGeneration.objects.current_for(user)
    probes = [user.password[1:], current.recipient, test_user.recovery_code,
              str(test_user.identity_file.current_identity), b64url(test_user.auth_key)]
    for blob in (bytes(wrapped.password_blob)[40:80], bytes(wrapped.recovery_blob)[40:80],
                 bytes(current.signing_public_key), bytes(user.client_auth.auth_hash),
                 bytes(user.client_auth.account_salt)):
        probes += [base64.b64encode(blob).decode()[:24], blob.hex()[:24]]
    return probes


def assert_no_secrets(html: str, test_user) -> None:
    for probe in secrets_of(test_user):
        assert probe not in html, "an admin page shows key material or a password hash"
    assert "argon2" not in html.lower()


def test_admin_needs_a_second_factor():
    staff = make_user()
    User.objects.filter(pk=staff.user.pk).update(is_staff=True, is_superuser=True)
    client = Client()
    for name, value in session_for(staff).cookies.items():
        client.cookies[name] = value
    assert client.get("/admin/accounts/user/").status_code == 302  # no second factor: no admin


def test_user_pages_show_metadata_and_no_key_material(operator):
    alice = make_user()
    enrol_totp(alice.user)
    fingerprint = KeyGeneration.objects.current_for(alice.user).directory_fingerprint

    listing = operator.get("/admin/accounts/user/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert alice.email in html and fingerprint in html  # positive control: the row is there
    assert "directory fingerprint (not verified)" in html.lower()
    assert_no_secrets(html, alice)
    # The probe finds what it looks for when it is present.
    assert any(p in str(alice.identity_file.serialize()) for p in secrets_of(alice))

    change = operator.get(f"/admin/accounts/user/{alice.user.pk}/change/")
    assert change.status_code == 200
    html = change.content.decode()
    assert alice.email in html and fingerprint in html
    assert 'name="email"' not in html and 'name="password"' not in html
    assert_no_secrets(html, alice)


def test_email_is_read_only_and_there_is_no_add_or_delete(operator):
    alice = make_user()
    url = f"/admin/accounts/user/{alice.user.pk}/change/"
    response = operator.post(url, {"email": "hijacked@example.com", "is_staff": "",
                                   "_save": "Save"})
    assert response.status_code == 302
    assert User.objects.get(pk=alice.user.pk).email == alice.email
    assert operator.get("/admin/accounts/user/add/").status_code == 403
    assert operator.get(f"/admin/accounts/user/{alice.user.pk}/delete/").status_code == 403
    assert User.objects.filter(pk=alice.user.pk).exists()


def run_action(operator, action: str, *users):
    return operator.post("/admin/accounts/user/", {
        "action": action, "_selected_action": [u.user.pk for u in users], "index": 0})


def test_deactivate_ends_sessions_and_refuses_the_cookie(operator):
    alice, bob = make_user(), make_user()
    alice_session = session_for(alice)
    client = Client()
    for name, value in alice_session.cookies.items():
        client.cookies[name] = value
    assert client.get("/api/v1/me").status_code == 200  # positive control

    assert run_action(operator, "deactivate", alice).status_code == 302
    assert User.objects.get(pk=alice.user.pk).is_active is False
    assert User.objects.get(pk=bob.user.pk).is_active is True
    assert not Session.objects.filter(session_key=alice_session.session_key).exists()
    assert client.get("/api/v1/me").status_code == 401
    event = AuditEvent.objects.get(user=alice.user, kind="deactivated")
    assert event.actor.email == "operator@example.com"
    # A deactivated account cannot log in.
    login = http_login(Client(), alice.email, alice.password)
    assert login.status_code == 401


def test_reset_second_factor_removes_devices(operator):
    alice, bob = make_user(), make_user()
    enrol_totp(alice.user)
    enrol_totp(bob.user)
    assert run_action(operator, "reset_second_factor", alice).status_code == 302
    assert not TOTPDevice.objects.filter(user=alice.user).exists()
    assert not BackupCodeDevice.objects.filter(user=alice.user).exists()
    assert TOTPDevice.objects.filter(user=bob.user).exists()
    assert AuditEvent.objects.filter(user=alice.user, kind="devices_reset").exists()
    login = http_login(Client(), alice.email, alice.password)
    assert login.json()["otp_required"] is False


def test_end_sessions_action(operator):
    alice, bob = make_user(), make_user()
    sessions = [session_for(alice) for _ in range(2)]
    bobs = session_for(bob)
    assert run_action(operator, "end_sessions", alice).status_code == 302
    assert not Session.objects.filter(session_key__in=[s.session_key for s in sessions]).exists()
    assert not LoginSession.objects.active().filter(user=alice.user).exists()
    assert Session.objects.filter(session_key=bobs.session_key).exists()
    assert AuditEvent.objects.filter(user=alice.user, kind="sessions_ended_by_admin").exists()


def test_audit_log_is_read_only(operator):
    alice = make_user()
    event = AuditEvent.objects.filter(user=alice.user, kind="signup").get()
    listing = operator.get("/admin/accounts/auditevent/")
    assert listing.status_code == 200 and alice.email in listing.content.decode()
    assert operator.get("/admin/accounts/auditevent/add/").status_code == 403
    view = operator.get(f"/admin/accounts/auditevent/{event.pk}/change/")
    assert view.status_code == 200 and b'type="submit" value="Save"' not in view.content
    assert operator.post(f"/admin/accounts/auditevent/{event.pk}/change/",
                         {"kind": "login"}).status_code == 403
    assert operator.get(f"/admin/accounts/auditevent/{event.pk}/delete/").status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).kind == "signup"


def test_login_sessions_show_no_session_keys(operator):
    alice = make_user()
    session = session_for(alice)
    listing = operator.get("/admin/accounts/loginsession/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert alice.email in html
    assert session.session_key not in html
    login = LoginSession.objects.get(session_key=session.session_key)
    detail = operator.get(f"/admin/accounts/loginsession/{login.pk}/change/").content.decode()
    assert session.session_key not in detail and alice.email in detail
