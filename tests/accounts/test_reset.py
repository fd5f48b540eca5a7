"""Password reset by emailed link (DESIGN.md §3, §4).

The link never bypasses an existing second factor. With the recovery code the
keys (and so the history) are kept and the code is rotated; without it the
account gets a new, unendorsed key generation, older content cannot be read, and
the user is told so plainly. Every session ends either way.
"""

from __future__ import annotations

import logging
import re

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client

import agecrypt
from accounts import actions
from accounts.identity import parse_recipient, recovery_identity, unwrap
from accounts.models import AuditEvent, KeyGeneration, LoginSession, User, WrappedIdentity
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits, post_json, wait_for_mail  # noqa: F401,E501
from tests.support.accounts import PASSWORD, make_user, session_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]

NEW_PASSWORD = "a brand new passphrase 7"
LINK = re.compile(r"https?://[^/\s]+/password-reset/([^/\s]+)/([^/\s]+)/")


def reset_link_for(email: str) -> tuple[str, str]:
    mail.outbox.clear()
    assert post_json(Client(), "/api/v1/auth/password-reset", {"email": email}).status_code == 200
    wait_for_mail()
    (message,) = mail.outbox
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(1), match.group(2)


def encrypt_to(user, plaintext: bytes) -> bytes:
    current = KeyGeneration.objects.current_for(user)
    return agecrypt.encrypt(plaintext, [parse_recipient(current.recipient)])


def state(user) -> tuple:
    """Everything a reset may change, to prove that a refused one changed nothing."""
    wrapped = WrappedIdentity.objects.get(user=user)
    return (User.objects.get(pk=user.pk).password, bytes(wrapped.password_blob),
            bytes(wrapped.recovery_blob), wrapped.recovery_recipient,
            list(KeyGeneration.objects.filter(user=user).values_list("number", "retired_at")),
            list(LoginSession.objects.filter(user=user).values_list("ended_at", flat=True)))


def test_request_always_answers_200_and_mails_only_real_accounts(caplog):
    alice = make_user()
    caplog.set_level(logging.DEBUG)
    unknown = post_json(Client(), "/api/v1/auth/password-reset", {"email": "nobody@example.com"})
    assert unknown.status_code == 200
    wait_for_mail()
    assert not mail.outbox
    known = post_json(Client(), "/api/v1/auth/password-reset", {"email": alice.email.upper()})
    assert known.status_code == 200
    wait_for_mail()
    assert known.json() == unknown.json()
    (message,) = mail.outbox
    assert message.to == [alice.email]
    uid, token = LINK.search(message.body).groups()
    # The token is in the mail (positive control of the probe) and in no log record.
    assert token in message.body
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in logged


def test_request_is_rate_limited_per_address(settings):
    settings.SECURECHAT_RATE_LIMITS = {**settings.SECURECHAT_RATE_LIMITS,
                                       "reset_address": (3, 3600)}
    client = Client()
    statuses = [post_json(client, "/api/v1/auth/password-reset",
                          {"email": "someone@example.com"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_with_recovery_code_history_is_kept_and_the_code_rotates():
    alice = make_user()
    before = encrypt_to(alice.user, b"old but gold")
    _, other = session_for(alice), session_for(alice)
    uid, token = reset_link_for(alice.email)

    response = post_json(Client(), "/api/v1/auth/password-reset/confirm", {
        "uid": uid, "token": token, "new_password": NEW_PASSWORD,
        "recovery_code": alice.recovery_code.lower()})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["keys_kept"] is True
    new_code = body["recovery_code"]
    assert new_code != alice.recovery_code

    _, identity_file = actions.check_credentials(alice.email, NEW_PASSWORD)
    assert agecrypt.decrypt(before, identity_file.identities) == b"old but gold"
    assert identity_file.fingerprint() == alice.identity_file.fingerprint()
    assert KeyGeneration.objects.filter(user=alice.user).count() == 1

    wrapped = WrappedIdentity.objects.get(user=alice.user)
    with pytest.raises(agecrypt.AgeError):  # the old code opens nothing any more
        unwrap(bytes(wrapped.recovery_blob), recovery_identity(alice.recovery_code, "hybrid"))
    assert unwrap(bytes(wrapped.recovery_blob),
                  recovery_identity(new_code, "hybrid")).fingerprint() == \
        alice.identity_file.fingerprint()

    assert not Session.objects.filter(session_key=other.session_key).exists()
    assert not LoginSession.objects.active().filter(user=alice.user).exists()
    kinds = set(AuditEvent.objects.filter(user=alice.user).values_list("kind", flat=True))
    assert {"password_reset", "recovery_code_used"} <= kinds and "keys_reset" not in kinds

    # The link is single-use, and the old code fails on a new link.
    again = post_json(Client(), "/api/v1/auth/password-reset/confirm", {
        "uid": uid, "token": token, "new_password": PASSWORD, "recovery_code": new_code})
    assert again.status_code == 400 and again.json()["error"] == "invalid_link"
    uid2, token2 = reset_link_for(alice.email)
    old = post_json(Client(), "/api/v1/auth/password-reset/confirm", {
        "uid": uid2, "token": token2, "new_password": PASSWORD,
        "recovery_code": alice.recovery_code})
    assert old.status_code == 403 and old.json()["error"] == "wrong_recovery_code"


def test_without_recovery_code_the_account_gets_new_unendorsed_keys():
    alice = make_user()
    before = encrypt_to(alice.user, b"lost forever")
    uid, token = reset_link_for(alice.email)

    response = post_json(Client(), "/api/v1/auth/password-reset/confirm",
                         {"uid": uid, "token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["keys_kept"] is False
    assert "can no longer be read" in body["detail"]

    old_gen, new_gen = KeyGeneration.objects.filter(user=alice.user).order_by("number")
    assert (old_gen.number, new_gen.number) == (1, 2)
    assert old_gen.retired_at is not None and new_gen.retired_at is None
    assert not new_gen.endorsed

    _, identity_file = actions.check_credentials(alice.email, NEW_PASSWORD)
    assert identity_file.current_generation == 2
    assert [n for n, _ in identity_file.generations] == [2]
    assert str(identity_file.recipient()) == new_gen.recipient
    assert identity_file.fingerprint() != alice.identity_file.fingerprint()
    with pytest.raises(agecrypt.NoIdentityMatchError):
        agecrypt.decrypt(before, identity_file.identities)
    assert agecrypt.decrypt(before, alice.identity_file.identities) == b"lost forever"  # control
    wrapped = WrappedIdentity.objects.get(user=alice.user)
    assert unwrap(bytes(wrapped.recovery_blob),
                  recovery_identity(body["recovery_code"], "hybrid")).current_generation == 2
    assert AuditEvent.objects.filter(user=alice.user, kind="keys_reset").exists()
    subjects = [m.subject for m in mail.outbox]
    assert any("keys were reset" in s for s in subjects)


@pytest.mark.parametrize("with_recovery_code", [False, True])
def test_reset_never_skips_the_second_factor(with_recovery_code):
    alice = make_user()
    device, backup_codes = enrol_totp(alice.user)
    uid, token = reset_link_for(alice.email)
    extra = {"recovery_code": alice.recovery_code} if with_recovery_code else {}
    body = {"uid": uid, "token": token, "new_password": NEW_PASSWORD, **extra}
    before = state(alice.user)

    missing = post_json(Client(), "/api/v1/auth/password-reset/confirm", body)
    assert missing.status_code == 403 and missing.json()["error"] == "code_required"
    wrong = post_json(Client(), "/api/v1/auth/password-reset/confirm", {**body, "code": "123456"})
    assert wrong.status_code == 400
    assert state(alice.user) == before
    with pytest.raises(actions.InvalidCredentials):
        actions.check_credentials(alice.email, NEW_PASSWORD)

    device.refresh_from_db()
    device.throttle_reset()  # django-otp's back-off after the wrong code, not under test here
    ok = post_json(Client(), "/api/v1/auth/password-reset/confirm",
                   {**body, "code": fresh_code(device)})
    assert ok.status_code == 200, ok.content
    assert ok.json()["keys_kept"] is with_recovery_code
    actions.check_credentials(alice.email, NEW_PASSWORD)


def test_a_backup_code_also_satisfies_the_second_factor():
    alice = make_user()
    _, backup_codes = enrol_totp(alice.user)
    uid, token = reset_link_for(alice.email)
    ok = post_json(Client(), "/api/v1/auth/password-reset/confirm", {
        "uid": uid, "token": token, "new_password": NEW_PASSWORD,
        "recovery_code": alice.recovery_code, "code": backup_codes[0]})
    assert ok.status_code == 200, ok.content


@pytest.mark.parametrize("change,status,error", [
    ({"token": "abc-123"}, 400, "invalid_link"),
    ({"uid": "!!"}, 400, "invalid_link"),
    ({"uid": None}, 400, "invalid_link"),
    ({"new_password": "short"}, 400, "invalid"),
    ({"new_password": None}, 400, "invalid"),
    ({"recovery_code": "not a code"}, 400, "invalid"),
    ({"recovery_code": "0" * 26}, 403, "wrong_recovery_code"),
])
def test_bad_input_changes_nothing(change, status, error):
    alice = make_user()
    uid, token = reset_link_for(alice.email)
    before = state(alice.user)
    body = {"uid": uid, "token": token, "new_password": NEW_PASSWORD, **change}
    response = post_json(Client(), "/api/v1/auth/password-reset/confirm", body)
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    assert state(alice.user) == before


def test_an_expired_link_is_refused(settings):
    alice = make_user()
    uid, token = reset_link_for(alice.email)
    before = state(alice.user)
    settings.PASSWORD_RESET_TIMEOUT = -1  # every link is older than that
    response = post_json(Client(), "/api/v1/auth/password-reset/confirm",
                         {"uid": uid, "token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 400 and response.json()["error"] == "invalid_link"
    assert state(alice.user) == before


# --- Key rotation while the old identity is available: an endorsed generation ---------

def test_rotation_adds_a_generation_endorsed_by_the_previous_signing_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from accounts.identity import endorsement_message

    alice = make_user()
    before = encrypt_to(alice.user, b"before rotation")
    _, other = session_for(alice), session_for(alice)
    new_file = actions.do_rotate_keys(alice.user, alice.identity_file, PASSWORD)

    old_gen, new_gen = KeyGeneration.objects.filter(user=alice.user).order_by("number")
    assert old_gen.retired_at is not None and new_gen.retired_at is None
    assert new_gen.number == 2 and new_gen.recipient == str(new_file.recipient())
    assert new_gen.endorsed
    Ed25519PublicKey.from_public_bytes(bytes(old_gen.signing_public_key)).verify(
        bytes(new_gen.endorsement),
        endorsement_message(alice.user.pk, 2, new_gen.recipient, bytes(new_gen.signing_public_key)))

    _, unlocked = actions.check_credentials(alice.email, PASSWORD)
    assert [n for n, _ in unlocked.generations] == [2, 1]
    assert agecrypt.decrypt(before, unlocked.identities) == b"before rotation"
    after = encrypt_to(alice.user, b"after rotation")
    assert agecrypt.decrypt(after, unlocked.identities) == b"after rotation"
    wrapped = WrappedIdentity.objects.get(user=alice.user)
    from_recovery = unwrap(bytes(wrapped.recovery_blob),
                           recovery_identity(alice.recovery_code, "hybrid"))
    assert from_recovery.current_generation == 2  # the unchanged code opens the new file
    assert not Session.objects.filter(session_key=other.session_key).exists()


def test_rotation_refuses_a_wrong_password_or_a_stale_identity():
    alice = make_user()
    before = state(alice.user)
    with pytest.raises(actions.InvalidCredentials):
        actions.do_rotate_keys(alice.user, alice.identity_file, "not the password 123")
    assert state(alice.user) == before
    actions.do_rotate_keys(alice.user, alice.identity_file, PASSWORD)
    rotated = state(alice.user)
    with pytest.raises(actions.AccountError):  # generation 1 is no longer current
        actions.do_rotate_keys(alice.user, alice.identity_file, PASSWORD)
    assert state(alice.user) == rotated


def run_together(*calls) -> list:
    """Run the calls in threads (each with its own database connection), released
    together by a barrier; returns their results in order."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int, call) -> None:
        try:
            barrier.wait()
            results[index] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


# --- Concurrency: one link, two parallel confirmations ---------------------------------

@pytest.mark.dbsensitive
@pytest.mark.parametrize("with_recovery_code", [False, True])
def test_one_link_used_twice_in_parallel_resets_once(with_recovery_code, settings):
    """Two requests with the same link, released together on separate connections:
    exactly one resets, the other is refused as a used link; repeated to matter."""
    from functools import partial

    settings.SECURECHAT_RATE_LIMITS = {**settings.SECURECHAT_RATE_LIMITS,
                                       "reset_address": (1000, 3600)}
    rounds = 6
    for _ in range(rounds):
        alice = make_user()
        uid, token = reset_link_for(alice.email)
        passwords = [f"{NEW_PASSWORD} {i}" for i in range(2)]
        extra = {"recovery_code": alice.recovery_code} if with_recovery_code else {}
        responses = run_together(*(
            partial(post_json, Client(), "/api/v1/auth/password-reset/confirm",
                    {"uid": uid, "token": token, "new_password": password, **extra})
            for password in passwords))
        results = [(password, r.status_code, r.json().get("error"))
                   for password, r in zip(passwords, responses, strict=True)]
        statuses = sorted((status, error) for _, status, error in results)
        assert statuses == [(200, None), (400, "invalid_link")], results
        (winner,) = [password for password, status, _ in results if status == 200]
        actions.check_credentials(alice.email, winner)
        expected = 1 if with_recovery_code else 2
        assert KeyGeneration.objects.filter(user=alice.user).count() == expected
        assert KeyGeneration.objects.current().filter(user=alice.user).count() == 1
