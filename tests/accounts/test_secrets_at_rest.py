"""Second-factor secrets at rest (issue 17): TOTP seeds sealed under SECURECHAT_TOTP_KEY
(rotatable: old keys open, ``reseal_totp_keys`` moves rows to the new key), and backup
codes of 74 bits, Argon2id-hashed, each under a non-secret index so a check costs one
hash."""

from __future__ import annotations

import base64
import math
import re
import secrets
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import stages, totp_keys
from accounts.models import BackupCode, BackupCodeDevice, ForgivingTOTPDevice
from accounts.models.devices import BACKUP_CODE_ALPHABET, BACKUP_CODE_LENGTH, BackupCodeHasher
from accounts.otp import verify_code
from tests.accounts import code_at, current_t, enrol_totp, fresh_code, fresh_rate_limits, post_json  # noqa: F401,E501
from tests.support.accounts import login_client, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_limits")]


def stored_key(device) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM otp_totp_totpdevice WHERE id = %s", [device.pk])
        return cursor.fetchone()[0]


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


@override_settings(SECURECHAT_REQUIRE_2FA=True)
def test_the_seed_is_stored_sealed_and_enrolment_and_codes_still_work():
    alice = make_user()
    client = login_client(alice, stage=stages.STAGE_ENROL)  # the mandatory first enrolment
    r = post_json(client, "/api/v1/me/totp", {})
    assert r.status_code == 201
    secret = r.json()["secret"]
    device = ForgivingTOTPDevice.objects.get(user=alice.user)
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    assert device.bin_key == seed and f"secret={secret}" in r.json()["otpauth_uri"]
    raw = stored_key(device)
    assert raw.startswith("enc1$") and len(raw) <= 80
    for form in (seed.hex(), seed.hex().upper(), secret, base64.b64encode(seed).decode()):
        assert form not in raw
    # django-otp's plain class cannot read it: closed, not open.
    with pytest.raises(ValueError):
        TOTPDevice.objects.get(pk=device.pk).bin_key  # noqa: B018
    r = post_json(client, "/api/v1/me/totp/confirm", {"code": code_at(device, current_t(device))})
    assert r.status_code == 200
    assert verify_code(alice.user, fresh_code(device)).pk == device.pk


def test_a_seed_copied_to_another_users_row_does_not_open():
    alice, bob = make_user(), make_user()
    a, _ = enrol_totp(alice.user)
    b, _ = enrol_totp(bob.user)
    TOTPDevice.objects.filter(pk=b.pk).update(key=stored_key(a))
    with pytest.raises(totp_keys.SealedKeyError):
        ForgivingTOTPDevice.objects.get(pk=b.pk).bin_key  # noqa: B018


def test_rotation_old_keys_open_and_the_command_reseals(settings):
    alice = make_user()
    device, _ = enrol_totp(alice.user)
    seed, old = device.bin_key, settings.SECURECHAT_TOTP_KEY
    settings.SECURECHAT_TOTP_KEY = new_key()
    with pytest.raises(totp_keys.SealedKeyError):  # positive control: the new key alone
        ForgivingTOTPDevice.objects.get(pk=device.pk).bin_key  # noqa: B018
    settings.SECURECHAT_TOTP_OLD_KEYS = [old]
    assert ForgivingTOTPDevice.objects.get(pk=device.pk).bin_key == seed
    before = stored_key(device)
    out = StringIO()
    call_command("reseal_totp_keys", stdout=out)  # dry run
    assert "Would re-seal 1" in out.getvalue() and stored_key(device) == before
    call_command("reseal_totp_keys", "--yes", stdout=StringIO())
    assert totp_keys.sealed_key_id(stored_key(device)) == totp_keys.current_key_id()
    settings.SECURECHAT_TOTP_OLD_KEYS = []
    assert ForgivingTOTPDevice.objects.get(pk=device.pk).bin_key == seed
    assert verify_code(alice.user, fresh_code(device)).pk == device.pk
    # A row no configured key opens is reported, not touched.
    settings.SECURECHAT_TOTP_KEY = new_key()
    with pytest.raises(CommandError, match="no configured key"):
        call_command("reseal_totp_keys", "--yes", stdout=StringIO())


def test_the_migration_seals_seeds_written_in_the_clear():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("accounts.migrations.0006_sealed_totp_seeds_and_indexed_backup_codes")
    alice = make_user()
    seed = secrets.token_bytes(20)
    device = TOTPDevice.objects.create(user=alice.user, name="old", key=seed.hex())
    migration.seal_plain_seeds(apps, None)
    assert stored_key(device).startswith("enc1$")
    assert ForgivingTOTPDevice.objects.get(pk=device.pk).bin_key == seed
    migration.unseal_seeds(apps, None)
    assert stored_key(device) == seed.hex()


def test_backup_codes_carry_64_bits_and_an_index_and_are_stored_with_argon2():
    assert BACKUP_CODE_LENGTH * math.log2(len(BACKUP_CODE_ALPHABET)) >= 64
    alice = make_user()
    _, codes = enrol_totp(alice.user)
    assert len(codes) == 10
    assert [c.split("-")[0] for c in codes] == [str(i) for i in range(10)]
    assert all(re.fullmatch(r"\d-[a-z2-9]{5}-[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    rows = BackupCode.objects.filter(device__user=alice.user).order_by("index")
    assert [r.index for r in rows] == list(range(10))
    for row, code in zip(rows, codes, strict=True):
        assert row.code_hash.startswith("argon2$argon2id$")
        assert code.replace("-", "")[1:] not in row.code_hash


def test_checking_a_backup_code_costs_one_slow_hash(monkeypatch):
    alice = make_user()
    _, codes = enrol_totp(alice.user)
    calls = []
    real = BackupCodeHasher.verify
    monkeypatch.setattr(BackupCodeHasher, "verify",
                        lambda self, *a: calls.append(1) or real(self, *a))
    wrong = codes[9][:-1] + ("a" if codes[9][-1] != "a" else "b")
    assert not BackupCodeDevice.objects.get(user=alice.user).verify_token(wrong)
    assert len(calls) == 1
    assert BackupCodeDevice.objects.get(user=alice.user).verify_token(codes[9].upper())
    assert len(calls) == 2
    assert not BackupCodeDevice.objects.get(user=alice.user).verify_token(codes[9])  # used


def test_codes_made_before_the_index_still_work_once():
    alice = make_user()
    device, _ = enrol_totp(alice.user)
    backup = BackupCodeDevice.objects.get(user=alice.user)
    backup.salt = "legacy-salt"
    backup.save(update_fields=["salt"])
    BackupCode.objects.filter(device=backup).delete()
    BackupCode.objects.create(device=backup, code_hash=backup.legacy_hash("abcde-fghjk"))
    assert backup.verify_token("ABCDE-FGHJK")
    assert not BackupCodeDevice.objects.get(pk=backup.pk).verify_token("abcdefghjk")
