"""Users for tests, made by the real account actions.

``make_user`` signs up through ``accounts.actions.do_signup`` (real keys,
real wrapping). ``session_for`` builds the same login session the login
views build (auth keys, sealed identity, stage "done", key cookie secret),
for in-process tests that drive consumers with ``WebsocketCommunicator``;
live-server tests log in over HTTP instead.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.utils import timezone

from accounts import unlock
from accounts.actions import do_signup
from accounts.identity import IdentityFile
from accounts.models import LoginSession, User

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


@dataclass
class TestUser:
    user: User
    identity_file: IdentityFile
    recovery_code: str
    password: str = PASSWORD

    @property
    def email(self) -> str:
        return self.user.email


def make_user(email: str | None = None, *, verified: bool = True,
              password: str = PASSWORD, invitation: str | None = None) -> TestUser:
    """Sign up through the real signup action. With ``invitation`` (a token from an
    invitation link) the signup uses it, and the address is verified by it alone."""
    email = email or f"user{next(_counter)}@example.com"
    result = do_signup(email, password, invitation_token=invitation)
    if verified and invitation is None:
        result.user.email_verified_at = timezone.now()
        result.user.save(update_fields=["email_verified_at"])
    return TestUser(result.user, result.identity_file, result.recovery_code, password)


@dataclass
class TestSession:
    session_key: str
    key_secret: str

    @property
    def cookies(self) -> dict[str, str]:
        return {settings.SESSION_COOKIE_NAME: self.session_key,
                unlock.KEY_COOKIE_NAME: self.key_secret}

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())


def login_client(test_user: TestUser, stage: str = unlock.STAGE_DONE, **login_fields) -> Client:
    """A Django test client logged in as ``test_user`` at ``stage`` ("done", "otp", "enrol").

    The one way in-process tests log in: when login changes (version 2), only
    this changes. ``login_fields`` preset columns of the login's ``LoginSession``
    row (``user_agent``, ``ip_address``, …). The client carries its
    ``test_session`` (cookies, session key) and ``login_session`` (the row).
    """
    session = session_for(test_user, stage)
    login = LoginSession.objects.get(session_key=session.session_key)
    if login_fields:
        for name, value in login_fields.items():
            setattr(login, name, value)
        login.save(update_fields=list(login_fields))
    client = Client()
    for name, value in session.cookies.items():
        client.cookies[name] = value
    client.test_session = session
    client.login_session = login
    return client


def session_for(test_user: TestUser, stage: str = unlock.STAGE_DONE) -> TestSession:
    """A logged-in session with the identity sealed under a fresh cookie secret."""
    session = SessionStore()
    request = SimpleNamespace(session=session, COOKIES={})
    unlock.seal_identity(request, test_user.user, test_user.identity_file, stage)
    secret = getattr(request, unlock.NEW_SECRET_ATTR)
    session[SESSION_KEY] = str(test_user.user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = test_user.user.get_session_auth_hash()
    session.create()
    LoginSession.objects.create(user=test_user.user, session_key=session.session_key)
    return TestSession(session.session_key,
                       base64.urlsafe_b64encode(secret).decode().rstrip("="))
