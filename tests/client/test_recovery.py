"""client.recovery: codes, their parsing rules, and the recovery identity."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

import agecrypt
from client import _rand
from client.errors import RecoveryCodeError, UsageError
from client.recovery import (
    ALPHABET,
    format_code,
    generate_code,
    parse_code,
    recovery_identity,
    recovery_seed,
)
from tests.client._vectors import hkdf_sha256, load, positives

DISPLAY = re.compile(r"([0-9A-HJKMNP-TV-Z]{5}-){5}[0-9A-HJKMNP-TV-Z]")


@pytest.mark.parametrize("entry", positives("recovery.json"), ids=lambda e: ascii(e["code"]))
def test_vectors(entry):
    assert parse_code(entry["code"]) == entry["normalised"]
    assert recovery_seed(entry["code"], entry["key_type"]).hex() == entry["seed"]
    ident = recovery_identity(entry["code"], entry["key_type"])
    assert str(ident) == entry["identity"]
    assert str(ident.recipient()) == entry["recipient"]


@pytest.mark.parametrize("entry", positives("recovery.json"), ids=lambda e: ascii(e["code"]))
def test_vector_seeds_against_an_independent_hkdf(entry):
    seed = hkdf_sha256(entry["normalised"].encode("ascii"), b"securechat/v2/recovery",
                       entry["key_type"].encode())
    assert seed.hex() == entry["seed"]
    prefix = "AGE-SECRET-KEY-PQ-1" if entry["key_type"] == "hybrid" else "AGE-SECRET-KEY-1"
    assert entry["identity"].startswith(prefix) and entry["identity"] == entry["identity"].upper()
    assert agecrypt.parse_identity(entry["identity"]).recipient() == agecrypt.parse_recipient(
        entry["recipient"])


def test_x25519_vector_recipients_agree_with_age_keygen(tmp_path):
    keygen = shutil.which("age-keygen")
    if keygen is None:
        pytest.fail("age-keygen not on PATH (the Makefile installs the Debian package `age`)")
    for entry in positives("recovery.json"):
        if entry["key_type"] != "x25519":
            continue
        path = tmp_path / "id.txt"
        path.write_text(entry["identity"] + "\n")
        out = subprocess.run([keygen, "-y", str(path)], capture_output=True, check=True)
        assert out.stdout.decode().strip() == entry["recipient"]


def test_vectors_cover_both_key_types_and_sloppy_spellings():
    entries = positives("recovery.json")
    assert {e["key_type"] for e in entries} == {"hybrid", "x25519"}
    assert any(e["code"] != format_code(e["normalised"]) for e in entries)
    assert any("o" in e["code"] or "l" in e["code"] for e in entries)


INVALID = next(v["invalid"] for v in load("recovery.json") if "invalid" in v)


@pytest.mark.parametrize("text", INVALID, ids=ascii)
def test_invalid_vectors_are_refused(text):
    with pytest.raises(RecoveryCodeError):
        parse_code(text)
    with pytest.raises(RecoveryCodeError):
        recovery_identity(text, "x25519")


@pytest.mark.parametrize("text", [None, 123, b"0" * 26])
def test_non_text_is_refused(text):
    with pytest.raises(RecoveryCodeError):
        parse_code(text)


def test_error_never_echoes_the_input():
    secret = "ABCDEFGHJKMNPQRSTVWXYZ012"  # 25 characters
    with pytest.raises(RecoveryCodeError) as info:
        parse_code(secret)
    assert secret not in str(info.value)


def test_generated_codes_have_the_display_form_and_130_bits():
    codes = {generate_code() for _ in range(50)}
    assert len(codes) == 50 and all(DISPLAY.fullmatch(c) for c in codes)
    assert {c for code in codes for c in code.replace("-", "")} <= set(ALPHABET)


def test_generation_uses_the_randomness_seam():
    with _rand.replay(bytes(17)):
        assert generate_code() == "00000-00000-00000-00000-00000-0"
    with _rand.replay(b"\xff" * 17):
        assert generate_code() == "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-Z"
    with _rand.replay(bytes(16) + b"\x40"):  # bit 6 of the last byte is the lowest used bit
        assert generate_code() == "00000-00000-00000-00000-00000-1"


def test_same_code_same_key_different_types_different_keys():
    code = generate_code()
    assert str(recovery_identity(code, "x25519")) == str(recovery_identity(code.lower(), "x25519"))
    assert recovery_seed(code, "x25519") != recovery_seed(code, "hybrid")


def test_unknown_key_type_is_refused():
    with pytest.raises(UsageError):
        recovery_seed(generate_code(), "rsa")
