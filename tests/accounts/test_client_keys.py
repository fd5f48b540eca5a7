"""Version 2 accounts: keys made, wrapped and unwrapped by the client (DESIGN.md §3, §4).

The client side is the real ``client/`` library (derivation, identity file,
recovery); the server side is the API. What the server must never get is
checked in the requests the client sends and in the rows it stores; what it
must refuse is refused with a 400 naming the field, changing nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

import agecrypt
from accounts.models import ClientAuth, KeyGeneration, User, WrappedIdentity
from client import derivation, recovery
from client.identity import (
    IdentityFile,
    unwrap_with_passphrase,
    wrap_to_recovery,
    wrap_with_passphrase,
)
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits, post_json  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

PASSWORD = "correct horse battery staple v2"
TEST_FLOOR = 10  # tests derive at work factor 10 (production refuses below 16)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Device:
    """A client: derives, makes keys, talks JSON to the server, remembers what it sent."""

    def __init__(self, email: str, password: str = PASSWORD):
        self.email, self.password = email, password
        self.http = Client()
        self.sent: list[bytes] = []

    def post(self, path, body):
        import json

        self.sent.append(json.dumps(body).encode())
        return post_json(self.http, path, body)

    def prelogin(self) -> tuple[bytes, int]:
        r = self.post("/api/v1/auth/prelogin", {"email": self.email})
        assert r.status_code == 200, r.content
        data = r.json()
        return base64.urlsafe_b64decode(data["account_salt"] + "=="), data["work_factor"]

    def derive(self) -> derivation.DerivedKeys:
        salt, work_factor = self.prelogin()
        self.account_salt, self.work_factor = salt, work_factor
        return derivation.derive_keys(self.email, salt, self.password, work_factor,
                                      min_work_factor=TEST_FLOOR)

    def signup_body(self, **override) -> dict:
        keys = self.derive()
        code = recovery.generate_code()
        recovery_recipient = str(recovery.recovery_identity(code, settings.SECURECHAT_KEY_TYPE)
                                 .recipient())
        self.identity = IdentityFile.create(settings.SECURECHAT_KEY_TYPE, recovery_recipient)
        self.keys, self.recovery_code = keys, code
        body = {
            "email": self.email, "auth_key": b64url(keys.auth_key),
            "account_salt": b64url(self.account_salt), "work_factor": self.work_factor,
            "key_type": settings.SECURECHAT_KEY_TYPE,
            "recipient": self.identity.recipient(),
            "signing_key": b64url(self.identity.signing_public_key()),
            "wrapped_identity": base64.b64encode(
                wrap_with_passphrase(self.identity, keys.passphrase)).decode(),
            "recovery_wrapped": base64.b64encode(wrap_to_recovery(self.identity)).decode(),
        }
        body.update(override)
        return body

    def signup(self, **override):
        return self.post("/api/v1/auth/signup", self.signup_body(**override))

    def login(self):
        keys = self.derive()
        return self.post("/api/v1/auth/login", {"email": self.email,
                                                "auth_key": b64url(keys.auth_key)})

    def unlock(self) -> IdentityFile:
        r = self.http.get("/api/v1/me/wrapped-identity")
        assert r.status_code == 200, r.content
        assert r["Cache-Control"].startswith("no-store") or "no-store" in r["Cache-Control"]
        data = r.json()
        identity = unwrap_with_passphrase(base64.b64decode(data["wrapped_identity"]),
                                          self.derive().passphrase)
        directory = [(g["number"], g["recipient"]) for g in data["key_generations"]]
        assert directory == [(identity.current_generation, identity.recipient())]
        return identity


def secrets_of(device: Device) -> list[bytes]:
    keys = device.keys
    return [device.password.encode(), keys.master, keys.wrap_key, keys.passphrase.encode(),
            device.identity.serialize(), device.recovery_code.encode(),
            base64.b64encode(keys.master), base64.b64encode(keys.wrap_key),
            keys.master.hex().encode(), keys.wrap_key.hex().encode()]


def test_prelogin_answers_every_spelling_and_unknown_addresses_alike():
    known = Device("dana@example.com")
    assert known.signup().status_code == 201
    answers = {}
    for email in ["dana@example.com", "DANA@Example.com", "ｄana@example.com",
                  "nobody@example.com", "NOBODY@example.com"]:
        r = post_json(Client(), "/api/v1/auth/prelogin", {"email": email})
        assert r.status_code == 200 and set(r.json()) == {"account_salt", "work_factor"}
        answers[email] = r.json()
    assert answers["dana@example.com"] == answers["DANA@Example.com"] == answers[
        "ｄana@example.com"]
    assert answers["nobody@example.com"] == answers["NOBODY@example.com"]
    assert answers["nobody@example.com"] != answers["dana@example.com"]
    expected = hmac.new(settings.PRELOGIN_KEY.encode(), b"nobody@example.com",
                        hashlib.sha256).digest()[:16]
    assert answers["nobody@example.com"]["account_salt"] == b64url(expected)
    assert answers["dana@example.com"]["work_factor"] == settings.SECURECHAT_CLIENT_WORK_FACTOR
    bad = post_json(Client(), "/api/v1/auth/prelogin", {"email": "not an address"})
    assert bad.status_code == 400 and bad.json()["field"] == "email"


def test_signup_login_and_unlock_without_the_server_seeing_a_secret():
    alice = Device("alice@example.com")
    r = alice.signup()
    assert r.status_code == 201, r.content
    assert r.json() == {"email_verification_sent": True, "claim_pending": False,
                        "otp_required": False,
                        "email_verification_required": False, "enrolment_required": False}
    assert "securechat_key" not in r.cookies  # no key cookie: the keys stay on the client
    assert alice.unlock().serialize() == alice.identity.serialize()
    user = User.objects.get(email="alice@example.com")
    assert not user.has_usable_password()
    auth = ClientAuth.objects.get(user=user)
    assert bytes(auth.auth_hash) == hmac.new(settings.AUTH_PEPPER.encode(), alice.keys.auth_key,
                                             hashlib.sha256).digest()
    # Positive control: the probe finds what was really sent (the public recipient).
    sent = b"".join(alice.sent)
    assert alice.identity.recipient().encode() in sent
    for secret in secrets_of(alice):
        assert secret not in sent
    stored = b"".join([bytes(auth.auth_hash), bytes(auth.account_salt),
                       bytes(WrappedIdentity.objects.get(user=user).password_blob),
                       str(list(User.objects.values())).encode()])
    for secret in [*secrets_of(alice), alice.keys.auth_key]:
        assert secret not in stored

    bob_device = Device("alice@example.com")  # the same person on another device
    assert bob_device.login().status_code == 200
    assert bob_device.unlock().serialize() == alice.identity.serialize()
    me = bob_device.http.get("/api/v1/me").json()
    assert me["email"] == "alice@example.com" and me["key_generation"] == 1


def test_wrong_password_and_unknown_address_get_the_same_401():
    alice = Device("alice@example.com")
    alice.signup()
    wrong = Device("alice@example.com", "a different password!")
    r1 = wrong.login()
    r2 = Device("nobody@example.com").login()
    for r in (r1, r2):
        assert r.status_code == 401 and r.json()["error"] == "invalid_credentials"
    assert "_auth_user_id" not in wrong.http.session


def test_second_factor_then_device_key_and_wrapped_identity_only_after_it():
    alice = Device("alice@example.com")
    alice.signup()
    User.objects.filter(email="alice@example.com").update(email_verified_at=timezone.now())
    device, _ = enrol_totp(User.objects.get(email="alice@example.com"))
    phone = Device("alice@example.com")
    r = phone.login()
    assert r.json() == {"otp_required": True, "email_verification_required": False,
                        "enrolment_required": False}
    for path in ("/api/v1/me/wrapped-identity", "/api/v1/me/device-key"):
        half = phone.http.get(path)
        assert half.status_code == 403 and half.json()["error"] == "second_factor_required"
    assert post_json(phone.http, "/api/v1/auth/otp", {"code": fresh_code(device)}).status_code \
        == 200
    key = phone.http.get("/api/v1/me/device-key")
    assert key.status_code == 200 and "no-store" in key["Cache-Control"]
    session_key = phone.http.cookies[settings.SESSION_COOKIE_NAME].value
    assert key.json()["device_key"] == b64url(hmac.new(
        settings.DEVICE_KEY_SECRET.encode(), session_key.encode(), hashlib.sha256).digest())
    phone.unlock()
    jar = phone.http.cookies
    assert post_json(phone.http, "/api/v1/auth/logout", {}).status_code == 200
    old = Client()
    old.cookies = jar
    assert old.get("/api/v1/me/device-key").status_code == 401


@pytest.mark.parametrize("field,value", [
    ("auth_key", "short"), ("auth_key", b64url(bytes(31))), ("account_salt", b64url(bytes(16))),
    ("work_factor", 21), ("work_factor", "10"), ("key_type", "rsa"), ("recipient", "age1nope"),
    ("signing_key", b64url(bytes(31))), ("wrapped_identity", "!!"),
    ("recovery_wrapped", base64.b64encode(b"not age").decode()),
])
def test_malformed_signups_are_refused_naming_the_field_and_store_nothing(field, value):
    r = Device("eve@example.com").signup(**{field: value})
    assert r.status_code == 400, r.content
    assert r.json()["field"] == field
    assert not User.objects.exists() and not ClientAuth.objects.exists()


def test_a_wrapped_identity_of_another_shape_is_refused():
    eve = Device("eve@example.com")
    body = eve.signup_body()
    # Work factor 11 instead of 10, and an X25519 stanza instead of scrypt.
    for blob in [agecrypt.encrypt(eve.identity.serialize(),
                                  [agecrypt.ScryptRecipient(eve.keys.passphrase,
                                                            work_factor=11)]),
                 agecrypt.encrypt(eve.identity.serialize(),
                                  [agecrypt.X25519Identity.generate().recipient()])]:
        r = post_json(Client(), "/api/v1/auth/signup",
                      {**body, "wrapped_identity": base64.b64encode(blob).decode()})
        assert r.status_code == 400 and r.json()["field"] == "wrapped_identity"
    assert not User.objects.exists()


def test_the_api_refuses_any_password_field():
    """The password never reaches the server: a login or signup body carrying one is 400
    (even next to a correct auth key), nobody is logged in and nothing is made."""
    alice = Device("alice@example.com")
    alice.signup()
    keys = alice.derive()
    client = Client()
    r = post_json(client, "/api/v1/auth/login",
                  {"email": "alice@example.com", "password": PASSWORD})
    assert r.status_code == 400 and r.json()["error"] == "password_refused"
    assert r.json()["field"] == "password" and "never receives passwords" in r.json()["detail"]
    r = post_json(client, "/api/v1/auth/login", {"email": "alice@example.com",
                                                 "auth_key": b64url(keys.auth_key),
                                                 "password": PASSWORD})
    assert r.status_code == 400 and "_auth_user_id" not in client.session
    assert post_json(client, "/api/v1/auth/login", {
        "email": "alice@example.com", "auth_key": b64url(keys.auth_key)}).status_code == 200
    r = post_json(Client(), "/api/v1/auth/signup",
                  {"email": "bob@example.com", "password": PASSWORD})
    assert r.status_code == 400 and r.json()["error"] == "password_refused"
    assert KeyGeneration.objects.get().number == 1
    assert not User.objects.filter(email="bob@example.com").exists()


def put_json(client, path, body):
    import json

    return client.put(path, json.dumps(body), content_type="application/json")


def test_the_pin_blob_is_stored_by_compare_and_swap():
    alice = Device("alice@example.com")
    alice.signup()
    phone = Device("alice@example.com")
    phone.login()
    assert alice.http.get("/api/v1/me/pins").json() == {"version": 0, "blob": None}
    first = base64.b64encode(b"age file v1").decode()
    r = put_json(alice.http, "/api/v1/me/pins", {"version": 1, "blob": first})
    assert r.status_code == 200 and r.json() == {"version": 1}
    # The phone had not seen version 1: its write of version 1 is refused with what is stored.
    stale = put_json(phone.http, "/api/v1/me/pins",
                     {"version": 1, "blob": base64.b64encode(b"phone's").decode()})
    assert stale.status_code == 409
    assert stale.json()["error"] == "version_conflict"
    assert (stale.json()["version"], stale.json()["blob"]) == (1, first)
    merged = base64.b64encode(b"merged v2").decode()
    assert put_json(phone.http, "/api/v1/me/pins", {"version": 2, "blob": merged}).status_code \
        == 200
    assert alice.http.get("/api/v1/me/pins").json() == {"version": 2, "blob": merged}
    for bad in ({"version": 0, "blob": merged}, {"version": "3", "blob": merged},
                {"version": 3, "blob": "!!"}, {"version": 3}):
        r = put_json(alice.http, "/api/v1/me/pins", bad)
        assert r.status_code == 400, bad
    assert alice.http.get("/api/v1/me/pins").json()["version"] == 2
    assert Client().get("/api/v1/me/pins").status_code == 401


def test_the_directory_shows_verified_accounts_and_hides_the_rest_alike():
    alice, bob, carol = (Device(f"{n}@example.com") for n in ("alice", "bob", "carol"))
    for device in (alice, bob, carol):
        assert device.signup().status_code == 201
    User.objects.filter(email="bob@example.com").update(email_verified_at=timezone.now())
    found = alice.http.get("/api/v1/directory", {"email": "BOB@example.com"})
    assert found.status_code == 200
    entry = found.json()
    assert entry["email"] == "bob@example.com"
    assert [(g["number"], g["recipient"]) for g in entry["key_generations"]] == [
        (1, bob.identity.recipient())]
    assert entry["key_generations"][0]["signing_key"] == b64url(
        bob.identity.signing_public_key())
    unverified = alice.http.get("/api/v1/directory", {"email": "carol@example.com"})
    unknown = alice.http.get("/api/v1/directory", {"email": "nobody@example.com"})
    assert unverified.status_code == unknown.status_code == 404
    assert unverified.json() == unknown.json()
    assert Client().get("/api/v1/directory", {"email": "bob@example.com"}).status_code == 401
    # Carol's own entry answers her even unverified (clients check their own keys at start).
    own = carol.http.get("/api/v1/directory", {"email": "Carol@example.com"})
    assert own.status_code == 200 and own.json()["email"] == "carol@example.com"


def test_logging_in_again_on_a_logged_in_session_starts_a_new_session():
    """A second login over a live session gets a new session key (no 500, no fixation)."""
    alice = Device("alice@example.com")
    assert alice.signup().status_code == 201
    first = alice.http.cookies[settings.SESSION_COOKIE_NAME].value
    r = alice.login()
    assert r.status_code == 200, r.content
    second = alice.http.cookies[settings.SESSION_COOKIE_NAME].value
    assert second != first
    assert alice.http.get("/api/v1/me").status_code == 200
