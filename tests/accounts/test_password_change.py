"""Password change (DESIGN.md §4): the identity is re-wrapped under the new password,
the keys stay the same so old content stays readable, the old password stops working,
this session survives and the user's other sessions (and their sockets) end.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client

import agecrypt
from accounts import actions, events
from accounts.identity import parse_recipient
from accounts.models import KeyGeneration, LoginSession, User, WrappedIdentity
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits, post_json  # noqa: F401
from tests.support.accounts import PASSWORD, http_login, login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]

NEW_PASSWORD = "a different passphrase 42"


def encrypt_to(user, plaintext: bytes) -> bytes:
    current = KeyGeneration.objects.current_for(user)
    return agecrypt.encrypt(plaintext, [parse_recipient(current.recipient)])


def test_old_content_stays_readable_and_only_the_new_password_works():
    """Content encrypted before the change decrypts with the identity unlocked by the new
    password; the old password no longer logs in."""
    alice = make_user()
    before = encrypt_to(alice.user, b"written before the change")
    client = login_client(alice)

    response = post_json(client, "/api/v1/me/password",
                         {"password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 200, response.content

    with pytest.raises(actions.InvalidCredentials):
        actions.check_credentials(alice.email, PASSWORD)
    _, identity_file = actions.check_credentials(alice.email, NEW_PASSWORD)
    assert agecrypt.decrypt(before, identity_file.identities) == b"written before the change"
    assert identity_file.fingerprint() == alice.identity_file.fingerprint()

    # A real login over the JSON API with each password.
    fresh = Client()
    assert http_login(fresh, alice.email, PASSWORD).status_code == 401
    assert http_login(fresh, alice.email, NEW_PASSWORD).status_code == 200
    me = fresh.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["fingerprint"] == alice.identity_file.fingerprint()


def test_this_session_survives_and_other_sessions_end():
    alice = make_user()
    client = login_client(alice)
    this = client.test_session
    other_client = login_client(alice)
    other = other_client.test_session
    bob = make_user()
    bob_client = login_client(bob)
    bob_session = bob_client.test_session
    assert other_client.get("/api/v1/me").status_code == 200  # positive control

    response = post_json(client, "/api/v1/me/password",
                         {"password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 200

    assert client.get("/api/v1/me").status_code == 200
    assert other_client.get("/api/v1/me").status_code == 401
    assert not Session.objects.filter(session_key=other.session_key).exists()
    assert LoginSession.objects.get(session_key=other.session_key).ended_at is not None
    # This login's row followed the rotated session key and is still active.
    current_key = client.cookies["sessionid"].value
    assert current_key != this.session_key
    assert LoginSession.objects.active().filter(user=alice.user, session_key=current_key).exists()
    # Another user's session is untouched.
    assert bob_client.get("/api/v1/me").status_code == 200
    assert LoginSession.objects.get(session_key=bob_session.session_key).ended_at is None


async def test_other_sessions_sockets_are_told_to_close(redis_url):
    """The other session's socket group gets a security.close event after commit; this
    session's group gets none."""
    alice = await database_sync_to_async(make_user)()
    client = await database_sync_to_async(login_client)(alice)
    this = client.test_session
    other = (await database_sync_to_async(login_client)(alice)).test_session
    layer = get_channel_layer()
    other_channel = await layer.new_channel()
    this_channel = await layer.new_channel()
    await layer.group_add(events.session_group(other.session_key), other_channel)
    await layer.group_add(events.session_group(this.session_key), this_channel)

    response = await database_sync_to_async(post_json)(
        client, "/api/v1/me/password", {"password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 200

    event = await asyncio.wait_for(layer.receive(other_channel), 5)
    assert event == {"type": "security.close", "code": events.CLOSE_LOGGED_OUT}
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(this_channel), 0.5)


def test_security_email_is_sent_without_secrets():
    alice = make_user()
    client = login_client(alice)
    post_json(client, "/api/v1/me/password", {"password": PASSWORD, "new_password": NEW_PASSWORD})
    (message,) = [m for m in mail.outbox if m.to == [alice.email]]
    assert "password" in message.subject.lower()
    for secret in (PASSWORD, NEW_PASSWORD, alice.recovery_code):
        assert secret not in message.body
    assert alice.email in [m.to[0] for m in mail.outbox]  # positive control of the probe


@pytest.mark.parametrize("body,status,error", [
    ({"password": "not my password at all", "new_password": NEW_PASSWORD}, 403,
     "wrong_password"),
    ({"password": PASSWORD, "new_password": "short"}, 400, "invalid"),
    ({"password": PASSWORD, "new_password": "password1234"}, 400, "invalid"),  # common
    ({"password": PASSWORD}, 400, "invalid"),
    ({"new_password": NEW_PASSWORD}, 403, "wrong_password"),
    ({"password": PASSWORD, "new_password": "x" * 2000}, 400, "invalid"),
])
def test_bad_input_changes_nothing(body, status, error):
    alice = make_user()
    client = login_client(alice)
    other = login_client(alice).test_session
    wrapped_before = bytes(WrappedIdentity.objects.get(user=alice.user).password_blob)
    hash_before = User.objects.get(pk=alice.user.pk).password

    response = post_json(client, "/api/v1/me/password", body)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert bytes(WrappedIdentity.objects.get(user=alice.user).password_blob) == wrapped_before
    assert User.objects.get(pk=alice.user.pk).password == hash_before
    assert LoginSession.objects.get(session_key=other.session_key).ended_at is None
    assert not mail.outbox


def test_second_factor_is_required_when_enabled():
    """With an authenticator, no code or a wrong code changes nothing; a fresh code works."""
    alice = make_user()
    device, _ = enrol_totp(alice.user)
    client = login_client(alice)
    hash_before = User.objects.get(pk=alice.user.pk).password
    body = {"password": PASSWORD, "new_password": NEW_PASSWORD}

    assert post_json(client, "/api/v1/me/password", body).json()["error"] == "code_required"
    wrong = post_json(client, "/api/v1/me/password", {**body, "code": "000000"})
    assert wrong.status_code == 400
    assert User.objects.get(pk=alice.user.pk).password == hash_before

    device.refresh_from_db()
    device.throttle_reset()  # django-otp's back-off after the wrong code, not under test here
    ok = post_json(client, "/api/v1/me/password", {**body, "code": fresh_code(device)})
    assert ok.status_code == 200, ok.content
    assert User.objects.get(pk=alice.user.pk).password != hash_before


def test_locked_session_cannot_change_the_password():
    """A session whose key cookie is gone is logged out: nothing changes."""
    alice = make_user()
    client = login_client(alice)
    del client.cookies["securechat_key"]
    response = post_json(client, "/api/v1/me/password",
                         {"password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 401
    assert User.objects.get(pk=alice.user.pk).check_password(PASSWORD)


def test_page_changes_the_password_and_shows_form_errors():
    alice = make_user()
    client = login_client(alice)
    page = client.get("/me/password/")
    assert page.status_code == 200 and b"New password" in page.content

    mismatch = client.post("/me/password/", {"password": PASSWORD, "new_password": NEW_PASSWORD,
                                             "new_password2": NEW_PASSWORD + "x"})
    assert mismatch.status_code == 400 and b"differ" in mismatch.content
    wrong = client.post("/me/password/", {"password": "wrong wrong wrong", "new_password":
                                          NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert wrong.status_code == 403 and b"not your current password" in wrong.content
    assert User.objects.get(pk=alice.user.pk).check_password(PASSWORD)

    done = client.post("/me/password/", {"password": PASSWORD, "new_password": NEW_PASSWORD,
                                         "new_password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert User.objects.get(pk=alice.user.pk).check_password(NEW_PASSWORD)
    assert client.get("/me/").status_code == 200
