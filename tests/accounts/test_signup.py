"""Signup (keys made on the client): the account, its keys and recovery copy, the login
it starts, registration modes, invitations and email verification. Bad input changes
nothing."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.signing import TimestampSigner
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from accounts import stages
from accounts.models import AuditEvent, Invitation, KeyGeneration, LoginSession, User
from accounts.models.invitations import hash_token
from client.identity import unwrap_with_recovery
from tests.accounts import fresh_rate_limits, post_json  # noqa: F401
from tests.support.accounts import (
    PASSWORD,
    b64url,
    http_login,
    http_signup,
    login_client,
    make_user,
    signup_body,
)

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def signup(client, email="new@example.com", password=PASSWORD, invitation=None):
    return http_signup(client, email, password, invitation)


def link_from(mail) -> str:
    (link,) = re.findall(r"https?://\S+/verify-email/\S+", mail.body)
    return link


def test_signup_stores_client_keys_and_logs_in(client, mailoutbox, caplog):
    client.session.save()
    anonymous_key = client.session.session_key
    body, identity, code, _ = signup_body("new@example.com")
    r = post_json(client, "/api/v1/auth/signup", body)
    assert r.status_code == 201
    data = r.json()
    assert data["email_verification_sent"] is True and data["otp_required"] is False
    assert "recovery_code" not in data  # made and kept on the client
    user = User.objects.get(email="new@example.com")
    assert not user.has_usable_password()  # no password ever reached the server
    # The client's recovery code opens the stored recovery copy; the directory has its keys.
    opened = unwrap_with_recovery(bytes(user.wrapped_identity.recovery_blob), code,
                                  settings.SECURECHAT_KEY_TYPE)
    assert opened.recipient() == identity.recipient()
    assert KeyGeneration.objects.current_for(user).recipient == identity.recipient()
    # Logged in on a new session key, LoginSession tracked; nothing of the keys in the session.
    assert client.session.session_key != anonymous_key
    assert client.session[stages.SESSION_STAGE] == stages.STAGE_DONE
    assert LoginSession.objects.get(user=user).session_key == client.session.session_key
    assert "securechat_key" not in r.cookies
    # The server never has the recovery code: nothing to confirm.
    r = post_json(client, "/api/v1/auth/recovery-code/confirm")
    assert (r.status_code, r.json()["error"]) == (409, "nothing_pending")
    # Verification mail, and nothing secret in the logs.
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["new@example.com"]
    for secret in (body["auth_key"], code, link_from(mailoutbox[0])):
        assert secret not in caplog.text


@override_settings(SECURECHAT_REQUIRE_2FA=True)
def test_signup_with_mandatory_2fa_verifies_the_email_then_enrols(client, mailoutbox):
    r = signup(client)
    assert r.status_code == 201 and r.json()["enrolment_required"] is True
    assert r.json()["email_verification_required"] is True
    assert client.session[stages.SESSION_STAGE] == stages.STAGE_VERIFY
    page = client.get("/verify-email/pending/")
    assert page.status_code == 200 and b"new@example.com" in page.content
    # Not yet: the enrolment waits for the address (an unverified account cannot enrol).
    assert client.get("/about/")["Location"] == reverse("home")
    r = post_json(client, "/api/v1/me/totp", {})
    assert (r.status_code, r.json()["error"]) == (403, "email_verification_required")
    assert post_json(client, "/api/v1/auth/verify-email/resend").status_code == 200
    path = "/" + link_from(mailoutbox[-1]).split("://", 1)[1].split("/", 1)[1]
    assert client.get(path).status_code == 200  # the confirm page, in the half-login
    assert client.session[stages.SESSION_STAGE] == stages.STAGE_VERIFY
    assert client.post(path).status_code == 200
    # Verified: the next request moves the login on to the enrolment (the shell's step).
    assert client.get("/about/")["Location"] == reverse("home")
    assert client.session[stages.SESSION_STAGE] == stages.STAGE_ENROL
    assert post_json(client, "/api/v1/me/totp", {}).status_code == 201


@override_settings(SECURECHAT_REQUIRE_2FA=True, SECURECHAT_REGISTRATION="invite")
def test_an_invited_signup_with_mandatory_2fa_goes_straight_to_enrolment(client):
    token = secrets.token_urlsafe(32)
    Invitation.objects.create(email="invited@example.com", token_hash=hash_token(token),
                              expires_at=timezone.now() + timedelta(days=7))
    r = signup(client, "invited@example.com", invitation=token)
    assert r.status_code == 201 and r.json()["email_verification_required"] is False
    assert client.session[stages.SESSION_STAGE] == stages.STAGE_ENROL


def test_an_unverified_account_cannot_enable_2fa():
    u = make_user(verified=False)
    client = login_client(u)
    r = post_json(client, "/api/v1/me/totp", {"auth_key": b64url(u.auth_key)})
    assert (r.status_code, r.json()["error"]) == (403, "email_unverified")
    from django_otp.plugins.otp_totp.models import TOTPDevice

    assert not TOTPDevice.objects.filter(user=u.user).exists()
    User.objects.filter(pk=u.user.pk).update(email_verified_at=timezone.now())
    assert post_json(client, "/api/v1/me/totp", {"auth_key": b64url(u.auth_key)}).status_code == 201


@pytest.mark.parametrize(("change", "field"), [
    ({"password": PASSWORD}, "password"),  # the password never reaches the server
    ({"password": "short"}, "password"),
    ({"email": "not an email"}, "email"),
    ({"email": ""}, "email"),
    ({"email": 12}, "email"),
    ({"auth_key": "short"}, "auth_key"),
    ({"recipient": "age1notarecipient"}, "recipient"),
])
def test_bad_signup_input_gets_a_clear_error_and_creates_nothing(client, change, field):
    body = {**signup_body("new@example.com")[0], **change}
    r = post_json(client, "/api/v1/auth/signup", body)
    assert r.status_code == 400
    assert r.json()["field"] == field and r.json()["detail"]
    assert User.objects.count() == 0 and "_auth_user_id" not in client.session
    # Positive control: the same body without the change signs up.
    assert post_json(Client(), "/api/v1/auth/signup",
                     signup_body("new@example.com")[0]).status_code == 201


def test_the_same_address_in_any_case_is_taken(client):
    make_user("taken@example.com")
    r = signup(client, "TAKEN@Example.com")
    assert r.status_code == 409 and r.json()["error"] == "email_taken"
    assert User.objects.count() == 1


@override_settings(SECURECHAT_REGISTRATION="closed")
def test_closed_registration_refuses(client):
    r = signup(client)
    assert r.status_code == 403 and r.json()["error"] == "registration_closed"
    assert User.objects.count() == 0


@override_settings(SECURECHAT_REGISTRATION="invite")
def test_invite_only_registration_needs_a_valid_invitation_for_that_address(client):
    token = secrets.token_urlsafe(32)
    Invitation.objects.create(email="invited@example.com", token_hash=hash_token(token),
                              expires_at=timezone.now() + timedelta(days=7))
    assert signup(client, "invited@example.com").status_code == 403
    assert signup(client, "other@example.com", invitation=token).status_code == 403
    r = signup(client, "invited@example.com", invitation=token)
    assert r.status_code == 201 and r.json()["email_verification_sent"] is False
    assert User.objects.get(email="invited@example.com").email_verified
    post_json(client, "/api/v1/auth/logout")
    assert signup(Client(), "invited@example.com", invitation=token).status_code == 403
    assert Invitation.objects.get().used_at is not None


def test_email_verification_link(client, mailoutbox):
    signup(client)
    user = User.objects.get(email="new@example.com")
    assert not user.email_verified
    path = link_from(mailoutbox[0]).split("://", 1)[1].split("/", 1)[1]
    anonymous = Client()
    assert anonymous.get("/" + path[:-3] + "abc").status_code == 400
    assert anonymous.post("/" + path[:-3] + "abc").status_code == 400
    user.refresh_from_db()
    assert not user.email_verified
    # A GET (a mail scanner, a link preview) shows the button and changes nothing.
    for _ in range(2):
        r = anonymous.get("/" + path)
        assert r.status_code == 200 and b"Confirm my email address" in r.content
        assert b"Email address confirmed" not in r.content
    user.refresh_from_db()
    assert not user.email_verified
    assert not AuditEvent.objects.filter(kind="email_verified").exists()
    # The button (a POST, CSRF-checked) verifies.
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post("/" + path).status_code == 403  # no CSRF token: refused
    page = anonymous.get("/" + path)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1)
    r = anonymous.post("/" + path, {"csrfmiddlewaretoken": token.decode()})
    assert r.status_code == 200 and b"Email address confirmed" in r.content
    user.refresh_from_db()
    assert user.email_verified


def test_verification_token_over_the_api_and_its_limits(client, monkeypatch):
    u = make_user(verified=False)
    signer = TimestampSigner(salt="securechat.accounts.verify-email")
    payload = {"u": u.user.pk, "e": u.email.lower()}
    # Expired (older than 3 days).
    monkeypatch.setattr(TimestampSigner, "timestamp",
                        lambda self: _b62(int(timezone.now().timestamp()) - 4 * 86400))
    old = signer.sign_object(payload)
    monkeypatch.undo()
    r = post_json(client, "/api/v1/auth/verify-email", {"token": old})
    assert r.status_code == 400 and r.json()["error"] == "invalid_token"
    # For another address (the email changed since the link was sent).
    stale = signer.sign_object({"u": u.user.pk, "e": "old@example.com"})
    assert post_json(client, "/api/v1/auth/verify-email", {"token": stale}).status_code == 400
    assert post_json(client, "/api/v1/auth/verify-email", {"token": 5}).status_code == 400
    u.user.refresh_from_db()
    assert not u.user.email_verified
    # Positive control: a fresh token for the current address works.
    fresh = signer.sign_object(payload)
    assert post_json(client, "/api/v1/auth/verify-email", {"token": fresh}).status_code == 200
    u.user.refresh_from_db()
    assert u.user.email_verified


def _b62(number: int) -> str:
    from django.core.signing import b62_encode

    return b62_encode(number)


def test_resend_is_for_logged_in_unverified_users_and_rate_limited(client, mailoutbox):
    assert post_json(client, "/api/v1/auth/verify-email/resend").status_code == 401
    u = make_user(verified=False)
    http_login(client, u.email, u.password)
    statuses = [post_json(client, "/api/v1/auth/verify-email/resend").status_code
                for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert sum("Confirm your SecureChat email" in m.subject for m in mailoutbox) == 5
