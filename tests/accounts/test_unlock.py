"""The unlocked identity needs both halves: the session store (the sealed box) and the
key cookie (the secret). Either alone opens nothing; logout destroys both."""

from __future__ import annotations

import base64
import secrets
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client

from accounts import unlock
from tests.accounts import fresh_rate_limits, post_json  # noqa: F401
from tests.support.accounts import login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def open_box(session_key: str, cookie_value: str | None, user):
    session = SessionStore(session_key)
    request = SimpleNamespace(COOKIES={unlock.KEY_COOKIE_NAME: cookie_value}
                              if cookie_value else {})
    return unlock._identity_from(unlock.cookie_secret(request), session, user)


def test_the_session_store_without_the_cookie_opens_nothing():
    u = make_user()
    client = login_client(u)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    cookie = client.cookies[unlock.KEY_COOKIE_NAME].value
    stored = Session.objects.get(session_key=key).get_decoded()
    assert stored[unlock.SESSION_IDENTITY]  # the box is there
    assert b"AGE-SECRET-KEY" not in str(stored).upper().encode()
    # No cookie, or any other secret: nothing opens.
    assert open_box(key, None, u.user) is None
    for _ in range(5):
        guess = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        assert open_box(key, guess, u.user) is None
    # Positive control: the real cookie opens it.
    assert open_box(key, cookie, u.user).fingerprint() == u.identity_file.fingerprint()
    # Over HTTP, a session cookie without the key cookie is logged out on the spot.
    thief = Client()
    thief.cookies[settings.SESSION_COOKIE_NAME] = key
    r = thief.get("/api/v1/me")
    assert r.status_code == 401
    assert not Session.objects.filter(session_key=key).exists()


def test_the_cookie_without_the_session_store_opens_nothing():
    u = make_user()
    client = login_client(u)
    cookie = client.cookies[unlock.KEY_COOKIE_NAME].value
    other = login_client(u)  # another login of the same user: another box
    other_key = other.cookies[settings.SESSION_COOKIE_NAME].value
    assert open_box(other_key, cookie, u.user) is None
    # A cookie with no session at all: anonymous, nothing to open.
    thief = Client()
    thief.cookies[unlock.KEY_COOKIE_NAME] = cookie
    assert thief.get("/api/v1/me").status_code == 401
    # Positive control: the other login's own cookie opens its box.
    assert open_box(other_key, other.cookies[unlock.KEY_COOKIE_NAME].value, u.user)


def test_logout_destroys_the_box_and_the_cookie():
    u = make_user()
    client = login_client(u)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    cookie = client.cookies[unlock.KEY_COOKIE_NAME].value
    assert open_box(key, cookie, u.user) is not None
    r = post_json(client, "/api/v1/auth/logout")
    assert r.status_code == 200
    deleted = r.cookies[unlock.KEY_COOKIE_NAME]
    assert deleted.value == "" and deleted["max-age"] == 0
    assert not Session.objects.filter(session_key=key).exists()
    assert open_box(key, cookie, u.user) is None
    # Replaying both old cookies gets nothing.
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = key
    replay.cookies[unlock.KEY_COOKIE_NAME] = cookie
    assert replay.get("/api/v1/me").status_code == 401


def test_key_cookie_has_the_session_cookie_flags():
    u = make_user()
    client = Client()
    r = post_json(client, "/api/v1/auth/login", {"email": u.email, "password": u.password})
    key_cookie = r.cookies[unlock.KEY_COOKIE_NAME]
    session_cookie = r.cookies[settings.SESSION_COOKIE_NAME]
    assert key_cookie["httponly"] and key_cookie["samesite"] == "Lax"
    assert key_cookie["max-age"] == session_cookie["max-age"] == settings.SESSION_COOKIE_AGE
