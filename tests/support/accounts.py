"""Users for tests, made the way a version 2 client makes them.

``make_user`` makes the keys in the test process with the client library
(``client.derivation``, ``client.identity``, ``client.recovery``; test work
factor 10) and signs up through the real signup action
(``accounts.actions.clientkeys.check_client_signup`` then
``do_create_client_account``): the server gets the auth key, the public keys
and the wrapped identity, never the password. ``session_for`` checks the auth
key with the real credential check and builds the session the login builds
(stage, client custody, a ``LoginSession`` row; no key cookie), for in-process
tests and for tests that drive consumers with ``WebsocketCommunicator``;
live-server tests can log in over HTTP with ``login_body()``.
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

from accounts import clientauth, stages
from accounts.actions.clientkeys import check_client_signup, do_create_client_account
from accounts.addresses import address_key
from accounts.identity import fingerprint
from accounts.models import ClientAuth, LoginSession, User
from client import derivation, recovery
from client.identity import IdentityFile, wrap_to_recovery, wrap_with_passphrase

PASSWORD = "correct horse battery staple"
TEST_FLOOR = derivation.TEST_MIN_WORK_FACTOR  # production clients refuse below 16
_counter = itertools.count(1)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass
class TestUser:
    """A signed-up account and what its client keeps: the identity (client-side, never
    sent unwrapped), the recovery code, the password and the auth key derived from it."""

    __test__ = False  # not a pytest test class

    user: User
    identity_file: IdentityFile
    recovery_code: str
    password: str = PASSWORD
    auth_key: bytes = b""

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the current keys, as the profile and the directory show it."""
        return fingerprint(self.identity_file.recipient(),
                           self.identity_file.signing_public_key())

    def login_body(self) -> dict:
        """The body of ``POST /api/v1/auth/login`` for this user."""
        return {"email": self.email, "auth_key": b64url(self.auth_key)}


def derive_for(email: str, password: str) -> derivation.DerivedKeys:
    """The keys a client derives for ``email`` with the salt prelogin answers (test floor)."""
    salt = account_salt_for(email)
    return derivation.derive_keys(email, salt, password, settings.SECURECHAT_CLIENT_WORK_FACTOR,
                                  min_work_factor=TEST_FLOOR)


def account_salt_for(email: str) -> bytes:
    """What prelogin answers for an address without an account (``do_prelogin``)."""
    return clientauth.prelogin_salt(address_key(email) or email)


def signup_body(email: str, password: str = PASSWORD, invitation: str | None = None
                ) -> tuple[dict, IdentityFile, str, bytes]:
    """A v2 signup body made as a client makes it: (body, identity, recovery code, auth key)."""
    keys = derive_for(email, password)
    code = recovery.generate_code()
    key_type = settings.SECURECHAT_KEY_TYPE
    identity = IdentityFile.create(key_type,
                                   str(recovery.recovery_identity(code, key_type).recipient()))
    body = {
        "email": email, "auth_key": b64url(keys.auth_key),
        "account_salt": b64url(account_salt_for(email)),
        "work_factor": settings.SECURECHAT_CLIENT_WORK_FACTOR, "key_type": key_type,
        "recipient": identity.recipient(),
        "signing_key": b64url(identity.signing_public_key()),
        "wrapped_identity": base64.b64encode(wrap_with_passphrase(identity, keys.passphrase)
                                             ).decode(),
        "recovery_wrapped": base64.b64encode(wrap_to_recovery(identity)).decode(),
    }
    if invitation is not None:
        body["invitation"] = invitation
    return body, identity, code, keys.auth_key


def make_user(email: str | None = None, *, verified: bool = True,
              password: str = PASSWORD, invitation: str | None = None) -> TestUser:
    """Sign up through the real v2 signup action (nobody logged in, no email sent). With
    ``invitation`` (a token from an invitation link) the signup uses it, and the address
    is verified by it alone."""
    email = email or f"user{next(_counter)}@example.com"
    body, identity, code, auth_key = signup_body(email, password, invitation)
    user = do_create_client_account(check_client_signup(body))
    if verified and invitation is None:
        from django.utils import timezone

        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    return TestUser(user, identity, code, password, auth_key)


@dataclass
class TestSession:
    __test__ = False

    session_key: str

    @property
    def cookies(self) -> dict[str, str]:
        return {settings.SESSION_COOKIE_NAME: self.session_key}

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())


def login_client(test_user: TestUser, stage: str = stages.STAGE_DONE, **login_fields) -> Client:
    """A Django test client logged in as ``test_user`` at ``stage`` ("done", "otp", "enrol",
    "verify").

    The one way in-process tests log in. ``login_fields`` preset columns of the
    login's ``LoginSession`` row (``user_agent``, ``ip_address``, …). The client
    carries its ``test_session`` (cookies, session key) and ``login_session`` (the row).
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


def session_for(test_user: TestUser, stage: str = stages.STAGE_DONE) -> TestSession:
    """A logged-in client-custody session at ``stage``, for the auth key the server stores.

    (No rate limit counted and no "new login" email: those belong to the login
    tests, which log in over HTTP. An inactive user gets a session too, so tests
    can show what refuses it.)
    """
    user = User.objects.get(pk=test_user.user.pk)
    stored = bytes(ClientAuth.objects.get(user=user).auth_hash)
    assert stored == clientauth.auth_hash(test_user.auth_key), "not this account's auth key"
    session = SessionStore()
    stages.start_client_custody(SimpleNamespace(session=session), stage)
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    LoginSession.objects.create(user=user, session_key=session.session_key)
    return TestSession(session.session_key)


def post_json(http: Client, path: str, body) -> object:
    import json

    return http.post(path, data=json.dumps(body), content_type="application/json")


def http_prelogin_keys(http: Client, email: str, password: str) -> derivation.DerivedKeys:
    """Prelogin over HTTP and derive as a client does (test floor)."""
    r = post_json(http, "/api/v1/auth/prelogin", {"email": email})
    assert r.status_code == 200, r.content
    salt = base64.urlsafe_b64decode(r.json()["account_salt"] + "==")
    return derivation.derive_keys(email, salt, password, r.json()["work_factor"],
                                  min_work_factor=TEST_FLOOR)


def http_login(http: Client, email: str, password: str = PASSWORD):
    """A client's login over HTTP (prelogin, derivation, ``POST /api/v1/auth/login``);
    the login response. The code step, if asked for, is the caller's."""
    keys = http_prelogin_keys(http, email, password)
    return post_json(http, "/api/v1/auth/login",
                     {"email": email, "auth_key": b64url(keys.auth_key)})


def http_signup(http: Client, email: str, password: str = PASSWORD,
                invitation: str | None = None):
    """A client's signup over HTTP with keys made here; the signup response."""
    body = signup_body(email, password, invitation)[0]
    return post_json(http, "/api/v1/auth/signup", body)


def login_admin(test_user: TestUser, device) -> Client:
    """A client logged in to the admin as an operator does it: the site's login (auth key),
    then the code step with ``device`` (a confirmed TOTP device of ``test_user``, e.g.
    from ``tests.accounts.enrol_totp``), which verifies the session for django-otp."""
    from tests.accounts import fresh_code

    client = Client()
    r = http_login(client, test_user.email, test_user.password)
    assert r.status_code == 200 and r.json()["otp_required"], r.content
    r = post_json(client, "/api/v1/auth/otp", {"code": fresh_code(device)})
    assert r.status_code == 200, r.content
    return client
