"""Version 2 account changes through the API, with the real client library on the other
side: password change, key rotation (two-way endorsements), work-factor upgrade, and the
reset with the recovery code (DESIGN.md §3, §4; docs/api.md "Version 2 account changes").

Every refusal is checked to change nothing (the stored auth hash, wrapped identity,
recovery copy and directory rows are compared before and after), and no request body
any test client sent holds a password or a recovery code.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone

import agecrypt
from accounts.models import ClientAuth, KeyGeneration, LoginSession, User, WrappedIdentity
from client import account as client_account
from client import changes, derivation
from client.errors import DirectoryMismatch, UnwrapError
from client.identity import unwrap_with_passphrase, wrap_with_passphrase
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits, post_json, wait_for_mail  # noqa: F401
from tests.accounts.test_client_keys import PASSWORD, TEST_FLOOR, Device, b64url

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

EMAIL = "carol@example.org"
NEW_PASSWORD = "a different long passphrase 9"
LINK = re.compile(r"https?://[^/\s]+/password-reset/([^/\s]+)/([^/\s]+)/")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Changer(Device):
    """A device that also unlocks identities of several generations and checks their chain."""

    def unlock_generations(self):
        r = self.http.get("/api/v1/me/wrapped-identity")
        assert r.status_code == 200, r.content
        data = r.json()
        keys = keys_for(self, self.password, self.work_factor)
        identity = unwrap_with_passphrase(base64.b64decode(data["wrapped_identity"]),
                                          keys.passphrase)
        client_account.self_check(identity, data["key_generations"])
        changes.check_endorsement_chain(data["user_id"], data["key_generations"],
                                        since=min(n for n, _ in identity.generations))
        return identity


def account(email: str = EMAIL) -> Changer:
    """A signed-up, logged-in version 2 device (address verified, so 2FA can be enrolled)."""
    device = Changer(email)
    assert device.signup().status_code == 201
    User.objects.filter(email=email).update(email_verified_at="2026-01-01T00:00:00Z")
    device.user = User.objects.get(email=email)
    return device


def with_second_factor(device: Changer) -> tuple[Changer, object]:
    """Enrol TOTP for ``device``'s account and log in again with a code (a session from
    before the enrolment is no longer complete)."""
    totp, _ = enrol_totp(device.user)
    again = Changer(device.email, device.password)
    assert again.login().json()["otp_required"] is True
    assert again.post("/api/v1/auth/otp", {"code": fresh_code(totp)}).status_code == 200
    again.user, again.identity, again.recovery_code = device.user, device.identity, \
        device.recovery_code
    again.keys = keys_for(again, again.password, again.work_factor)
    return again, totp


def stored(user) -> tuple:
    """Everything a refused change must leave as it was."""
    auth = ClientAuth.objects.get(user=user)
    wrapped = WrappedIdentity.objects.get(user=user)
    rows = list(KeyGeneration.objects.filter(user=user).order_by("number").values_list(
        "number", "recipient", "signing_public_key", "endorsement", "retired_at"))
    return (bytes(auth.auth_hash), auth.work_factor, bytes(wrapped.password_blob),
            bytes(wrapped.recovery_blob), [tuple(bytes(v) if isinstance(v, memoryview) else v
                                                 for v in row) for row in rows])


def keys_for(device: Device, password: str, work_factor: int) -> derivation.DerivedKeys:
    return derivation.derive_keys(device.email, device.account_salt, password, work_factor,
                                  min_work_factor=TEST_FLOOR)


def password_body(device: Device, *, new_password=NEW_PASSWORD, identity=None, **override):
    """A password change as client.changes builds it (current keys from ``device.keys``)."""
    new_keys = keys_for(device, new_password, settings.SECURECHAT_CLIENT_WORK_FACTOR)
    body = {"auth_key": b64url(device.keys.auth_key), "new_auth_key": b64url(new_keys.auth_key),
            "work_factor": settings.SECURECHAT_CLIENT_WORK_FACTOR,
            "wrapped_identity": b64(wrap_with_passphrase(identity or device.identity,
                                                         new_keys.passphrase))}
    body.update(override)
    return body


def rotation_body(device: Device, **override) -> tuple:
    new, fields = changes.rotation_fields(device.identity, device.user.pk,
                                          settings.SECURECHAT_KEY_TYPE)
    body = {"auth_key": b64url(device.keys.auth_key),
            "wrapped_identity": b64(wrap_with_passphrase(new, device.keys.passphrase)),
            **fields}
    body.update(override)
    return new, body


def flip(text: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(text + "=="))
    raw[5] ^= 1
    return b64url(bytes(raw))


def assert_no_secret_sent(device: Device, *secrets: str) -> None:
    sent = b"\n".join(device.sent)
    for secret in (device.password, *secrets):
        for form in (secret.encode(), b64(secret.encode()).encode(),
                     b64url(secret.encode()).encode()):
            assert form not in sent


# --- password change -------------------------------------------------------------------


def test_password_change_rewraps_in_one_request_and_ends_the_other_sessions():
    device = account()
    other = Device(EMAIL)
    assert other.login().status_code == 200
    r = device.post("/api/v1/me/v2/password", password_body(device))
    assert r.status_code == 200, r.content
    assert r.json()["other_sessions_ended"] is True
    assert other.http.get("/api/v1/me").status_code == 401
    assert device.http.get("/api/v1/me").status_code == 200  # this session stays
    assert [m.subject for m in mail.outbox][-1] == "Your SecureChat password was changed"

    device.password = NEW_PASSWORD
    fresh = Device(EMAIL, NEW_PASSWORD)
    assert fresh.login().status_code == 200
    assert fresh.unlock().recipient() == device.identity.recipient()  # same keys
    assert Device(EMAIL, PASSWORD).login().status_code == 401
    assert_no_secret_sent(device, PASSWORD, device.recovery_code)


def test_a_wrong_step_up_changes_nothing_and_a_second_factor_is_required():
    device = account()
    before = stored(device.user)
    wrong = keys_for(device, "not the password at all", device.work_factor)
    r = device.post("/api/v1/me/v2/password",
                    password_body(device, auth_key=b64url(wrong.auth_key)))
    assert (r.status_code, r.json()["error"]) == (403, "wrong_password")

    device, totp = with_second_factor(device)
    r = device.post("/api/v1/me/v2/password", password_body(device))
    assert (r.status_code, r.json()["error"]) == (403, "code_required")
    r = device.post("/api/v1/me/v2/password", password_body(device, code="000000"))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_code"), r.content
    assert stored(device.user) == before
    # Positive control: the same request with a fresh code goes through.
    r = device.post("/api/v1/me/v2/password", password_body(device, code=fresh_code(totp)))
    assert r.status_code == 200, r.content
    assert stored(device.user) != before


def wrapped_of_other_shape(device: Device, kind: str) -> str:
    plain = device.identity.serialize()
    if kind == "scrypt wf 11":
        return b64(agecrypt.encrypt(plain, [agecrypt.ScryptRecipient("x", work_factor=11)]))
    if kind == "x25519":
        return b64(agecrypt.encrypt(plain, [agecrypt.X25519Identity.generate().recipient()]))
    return b64(b"not an age file")


@pytest.mark.parametrize("change, field", [
    ({"wrapped_identity": "scrypt wf 11"}, "wrapped_identity"),
    ({"wrapped_identity": "x25519"}, "wrapped_identity"),
    ({"wrapped_identity": "garbage"}, "wrapped_identity"),
    ({"work_factor": 9}, "work_factor"),
    ({"new_auth_key": "short"}, "new_auth_key"),
])
def test_a_malformed_password_change_is_a_400_naming_the_field_and_changes_nothing(
        change, field):
    device = account()
    before = stored(device.user)
    override = dict(change)
    if "wrapped_identity" in override:
        override["wrapped_identity"] = wrapped_of_other_shape(device, override["wrapped_identity"])
    r = device.post("/api/v1/me/v2/password", password_body(device, **override))
    assert (r.status_code, r.json().get("field")) == (400, field), r.content
    assert stored(device.user) == before


def test_the_api_never_accepts_a_password_field():
    device = account()
    r = device.post("/api/v1/me/v2/password", {**password_body(device), "password": PASSWORD})
    assert r.status_code == 400 and r.json()["field"] == "password"


def test_an_anonymous_client_cannot_use_the_version_2_endpoints():
    r = post_json(Client(), "/api/v1/me/v2/rotate-keys", {})
    assert r.status_code == 401


# --- rotation ---------------------------------------------------------------------------


def test_rotation_stores_a_generation_endorsed_both_ways_and_keeps_history():
    device = account()
    new, body = rotation_body(device)
    r = device.post("/api/v1/me/v2/rotate-keys", body)
    assert r.status_code == 200, r.content
    assert r.json()["key_generation"] == 2
    rows = list(KeyGeneration.objects.filter(user=device.user).order_by("number"))
    assert [(g.number, g.retired_at is None) for g in rows] == [(1, False), (2, True)]
    assert rows[1].endorsement and rows[1].endorsement_back
    unlocked = device.unlock_generations()
    assert unlocked.current_generation == 2 and len(unlocked.generations) == 2
    assert "Your SecureChat keys were renewed" in [m.subject for m in mail.outbox]


@pytest.mark.parametrize("field", ["endorsement", "endorsement_back", "generation",
                                   "signing_key"])
def test_a_rotation_whose_endorsements_do_not_verify_is_refused_and_changes_nothing(field):
    device = account()
    before = stored(device.user)
    new, body = rotation_body(device)
    if field == "generation":
        body["generation"] = 3
    elif field == "signing_key":  # a key the endorsements were not made for
        _, other = changes.rotation_fields(device.identity, device.user.pk,
                                           settings.SECURECHAT_KEY_TYPE)
        body["signing_key"] = other["signing_key"]
    else:
        body[field] = flip(body[field])
    r = device.post("/api/v1/me/v2/rotate-keys", body)
    assert r.status_code == 400 and r.json()["field"] in (field, "endorsement",
                                                          "endorsement_back"), r.content
    assert stored(device.user) == before


def test_password_change_with_rotation_is_one_request():
    device = account()
    new, rotation = rotation_body(device)
    body = password_body(device, identity=new)
    body.update({k: v for k, v in rotation.items() if k not in ("auth_key",
                                                                "wrapped_identity")})
    r = device.post("/api/v1/me/v2/password", body)
    assert r.status_code == 200 and r.json()["key_generation"] == 2, r.content
    fresh = Changer(EMAIL, NEW_PASSWORD)
    assert fresh.login().status_code == 200
    assert fresh.unlock_generations().current_generation == 2


# --- work-factor upgrade ----------------------------------------------------------------


def test_a_raised_server_work_factor_is_applied_by_the_client_after_login(settings):
    device = account()
    assert device.work_factor == 10
    settings.SECURECHAT_CLIENT_WORK_FACTOR = 11
    answer = device.http.get("/api/v1/me/wrapped-identity").json()
    assert (answer["work_factor"], answer["target_work_factor"]) == (10, 11)
    _, prelogin_factor = device.prelogin()
    assert prelogin_factor == 10  # the account's own until it is upgraded

    stale = dict(password_body(device, new_password=PASSWORD), work_factor=10)
    stale.pop("new_auth_key")
    r = device.post("/api/v1/me/v2/work-factor", {**stale, "new_auth_key": stale["auth_key"]})
    assert (r.status_code, r.json()["field"]) == (400, "work_factor")

    body = password_body(device, new_password=PASSWORD)
    r = device.post("/api/v1/me/v2/work-factor", body)
    assert r.status_code == 200 and r.json()["work_factor"] == 11, r.content
    assert ClientAuth.objects.get(user=device.user).work_factor == 11
    assert device.http.get("/api/v1/me").status_code == 200  # the session stays
    again = Device(EMAIL)
    assert again.prelogin()[1] == 11 and again.login().status_code == 200
    r = device.post("/api/v1/me/v2/work-factor", body)
    assert (r.status_code, r.json()["error"]) == (409, "no_upgrade_due")


def test_the_upgrade_needs_a_recent_login_and_the_current_auth_key(settings):
    device = account()
    settings.SECURECHAT_CLIENT_WORK_FACTOR = 11
    before = stored(device.user)
    wrong = keys_for(device, "not the password at all", 10)
    body = password_body(device, new_password=PASSWORD, auth_key=b64url(wrong.auth_key))
    assert device.post("/api/v1/me/v2/work-factor", body).status_code == 403
    LoginSession.objects.filter(user=device.user).update(
        created_at=timezone.now() - timedelta(minutes=11))
    r = device.post("/api/v1/me/v2/work-factor", password_body(device, new_password=PASSWORD))
    assert (r.status_code, r.json()["error"]) == (403, "login_too_old")
    assert stored(device.user) == before


# --- reset with the recovery code -------------------------------------------------------


def reset_link(email: str = EMAIL) -> changes.ResetLink:
    mail.outbox.clear()
    assert post_json(Client(), "/api/v1/auth/password-reset", {"email": email}).status_code == 200
    wait_for_mail()
    (message,) = mail.outbox
    return changes.parse_reset_link(LINK.search(message.body).group(0))


def recovery_material(link) -> dict:
    r = post_json(Client(), "/api/v1/auth/v2/reset/recovery", {"uid": link.uid,
                                                                "token": link.token})
    assert r.status_code == 200, r.content
    return r.json()


def reset_body(device: Device, link, identity, **override) -> dict:
    from client.identity import wrap_to_recovery
    from client.recovery import generate_code, recovery_identity

    code = generate_code()
    identity = identity.with_recovery_recipient(
        str(recovery_identity(code, settings.SECURECHAT_KEY_TYPE).recipient()))
    keys = keys_for(device, NEW_PASSWORD, settings.SECURECHAT_CLIENT_WORK_FACTOR)
    body = {"uid": link.uid, "token": link.token, "auth_key": b64url(keys.auth_key),
            "work_factor": settings.SECURECHAT_CLIENT_WORK_FACTOR,
            "wrapped_identity": b64(wrap_with_passphrase(identity, keys.passphrase)),
            "recovery_wrapped": b64(wrap_to_recovery(identity))}
    body.update(override)
    return body


def test_reset_with_the_recovery_code_keeps_the_keys_and_rotates_the_code():
    device = account()
    link = reset_link()
    material = recovery_material(link)
    identity = changes.open_recovery(material, EMAIL, device.recovery_code)
    assert identity.recipient() == device.identity.recipient()
    r = post_json(Client(), "/api/v1/auth/v2/reset/confirm", reset_body(device, link, identity))
    assert r.status_code == 200 and r.json()["keys_kept"] is True, r.content
    assert device.http.get("/api/v1/me").status_code == 401  # every session ended
    fresh = Device(EMAIL, NEW_PASSWORD)
    assert fresh.login().status_code == 200
    assert fresh.unlock().recipient() == device.identity.recipient()
    # The old recovery code no longer opens the (new) recovery copy.
    with pytest.raises(UnwrapError):
        changes.open_recovery(recovery_material(reset_link()), EMAIL, device.recovery_code)


def test_a_replayed_reset_link_is_refused_and_changes_nothing():
    device = account()
    link = reset_link()
    identity = changes.open_recovery(recovery_material(link), EMAIL, device.recovery_code)
    assert post_json(Client(), "/api/v1/auth/v2/reset/confirm",
                     reset_body(device, link, identity)).status_code == 200
    before = stored(device.user)
    r = post_json(Client(), "/api/v1/auth/v2/reset/confirm", reset_body(device, link, identity))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_link"), r.content
    r = post_json(Client(), "/api/v1/auth/v2/reset/recovery", {"uid": link.uid,
                                                                "token": link.token})
    assert r.status_code == 400
    assert stored(device.user) == before


def test_a_reset_never_skips_the_second_factor():
    device = account()
    totp, _ = enrol_totp(device.user)
    link = reset_link()
    identity = changes.open_recovery(recovery_material(link), EMAIL, device.recovery_code)
    before = stored(device.user)
    r = post_json(Client(), "/api/v1/auth/v2/reset/confirm", reset_body(device, link, identity))
    assert (r.status_code, r.json()["error"]) == (403, "code_required")
    assert stored(device.user) == before
    r = post_json(Client(), "/api/v1/auth/v2/reset/confirm",
                  reset_body(device, link, identity, code=fresh_code(totp)))
    assert r.status_code == 200, r.content


def test_the_version_1_reset_with_a_password_is_gone():
    """The server never takes a new password: the version 1 endpoint no longer exists and
    a link used there changes nothing."""
    device = account()
    link = reset_link()
    before = stored(device.user)
    r = post_json(Client(), "/api/v1/auth/password-reset/confirm",
                  {"uid": link.uid, "token": link.token, "new_password": NEW_PASSWORD})
    assert r.status_code == 404
    assert stored(device.user) == before


def test_the_recovered_identity_is_refused_when_the_directory_chain_was_tampered():
    device = account()
    new, body = rotation_body(device)
    assert device.post("/api/v1/me/v2/rotate-keys", body).status_code == 200
    material = recovery_material(reset_link())
    assert changes.open_recovery(material, EMAIL, device.recovery_code)  # control: it opens
    # A server that swaps generation 1's signing key (the identity file holds only the
    # newest signing key, so only the endorsements tie generation 1 to it).
    KeyGeneration.objects.filter(user=device.user, number=1).update(
        signing_public_key=bytes(32 * [7]))
    with pytest.raises(DirectoryMismatch, match="endorsements"):
        changes.open_recovery(recovery_material(reset_link()), EMAIL, device.recovery_code)
    # And one that drops the endorsements (an unendorsed generation 2).
    KeyGeneration.objects.filter(user=device.user, number=2).update(endorsement_back=None)
    with pytest.raises(DirectoryMismatch, match="not endorsed"):
        changes.open_recovery(recovery_material(reset_link()), EMAIL, device.recovery_code)


def test_no_request_in_these_flows_carries_a_password_or_recovery_code():
    device = account()
    device.post("/api/v1/me/v2/password", password_body(device))
    sent = json.dumps([s.decode() for s in device.sent])
    assert NEW_PASSWORD not in sent and PASSWORD not in sent
    assert device.recovery_code not in sent
    # Positive control: the recorder would have seen a password had one been sent.
    device.post("/api/v1/me/v2/password", {"password": PASSWORD})
    assert PASSWORD in b"\n".join(device.sent).decode()



def test_an_export_is_stepped_up_audited_and_mailed_and_the_server_stores_nothing():
    """POST /api/v1/me/v2/exported: the browser re-wraps its identity itself; the server
    checks the step-up (the current auth key, then the code when 2FA is on), records
    the export and tells the owner. A refused step-up records and mails nothing."""
    from accounts.models import AuditEvent

    device = account()
    before = stored(device.user)
    wrong = keys_for(device, "not the password at all", device.work_factor)
    mail.outbox.clear()
    r = device.post("/api/v1/me/v2/exported", {"auth_key": b64url(wrong.auth_key)})
    assert (r.status_code, r.json()["error"], r.json()["field"]) == (403, "wrong_password",
                                                                     "auth_key")
    assert not AuditEvent.objects.filter(user=device.user, kind="identity_exported").exists()
    assert mail.outbox == []

    device, totp = with_second_factor(device)
    r = device.post("/api/v1/me/v2/exported", {"auth_key": b64url(device.keys.auth_key)})
    assert (r.status_code, r.json()["error"]) == (403, "code_required")
    r = device.post("/api/v1/me/v2/exported", {"auth_key": b64url(device.keys.auth_key),
                                                "code": fresh_code(totp)})
    assert r.status_code == 200, r.content
    assert AuditEvent.objects.filter(user=device.user, kind="identity_exported").count() == 1
    assert [m.subject for m in mail.outbox][-1] == "Your SecureChat keys were exported"
    assert stored(device.user) == before
    # Not without a login, and never with a password field.
    assert post_json(Client(), "/api/v1/me/v2/exported",
                     {"auth_key": b64url(device.keys.auth_key)}).status_code == 401
    r = device.post("/api/v1/me/v2/exported", {"auth_key": b64url(device.keys.auth_key),
                                                "password": PASSWORD})
    assert (r.status_code, r.json()["field"]) == (400, "password")
