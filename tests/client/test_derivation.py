"""client.derivation: vectors, an independent re-derivation, and every refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import struct
import unicodedata

import pytest

import agecrypt
import agecrypt.scrypt
from agecrypt.header import Stanza, build_header, parse_header
from client import derivation
from client.derivation import (
    check_work_factor,
    check_wrapped_identity,
    derive_keys,
    prelogin_salt,
    scrypt_salt,
)
from client.errors import SaltError, UsageError, WorkFactorError, WrappedIdentityError
from client.identity import IdentityFile, unlock_with_password, unwrap_with_passphrase
from client.normalise import normalise_email
from tests.client._vectors import hkdf_sha256, load

EMAIL, SALT16, PASSWORD = "alice@example.com", bytes(range(16)), "correct horse battery staple"


@pytest.mark.parametrize("entry", load("derivation.json"), ids=lambda e: ascii(e["email"]))
def test_vectors(entry):
    keys = derive_keys(entry["email"], bytes.fromhex(entry["account_salt"]), entry["password"],
                       entry["work_factor"], min_work_factor=10)
    assert keys.salt.hex() == entry["salt"]
    assert keys.master.hex() == entry["master"]
    assert keys.auth_key.hex() == entry["auth_key"]
    assert keys.wrap_key.hex() == entry["wrap_key"]
    assert keys.passphrase == entry["passphrase"]


@pytest.mark.parametrize("entry", load("derivation.json"), ids=lambda e: ascii(e["email"]))
def test_vectors_against_an_independent_derivation(entry):
    """hashlib.scrypt, hmac-based HKDF and base64 written out here, not client/."""
    email_b = normalise_email(entry["email"]).encode("utf-8")
    salt = hashlib.sha256(b"securechat/v2/scrypt-salt" + struct.pack(">H", len(email_b))
                          + email_b + bytes.fromhex(entry["account_salt"])).digest()
    pw = unicodedata.normalize("NFKC", entry["password"]).encode("utf-8")
    n = 2 ** entry["work_factor"]
    master = hashlib.scrypt(pw, salt=salt, n=n, r=8, p=1, dklen=32, maxmem=256 * 1024 * 1024)
    wrap_key = hkdf_sha256(master, b"", b"securechat/v2/wrap")
    assert salt.hex() == entry["salt"]
    assert master.hex() == entry["master"]
    assert hkdf_sha256(master, b"", b"securechat/v2/auth").hex() == entry["auth_key"]
    assert wrap_key.hex() == entry["wrap_key"]
    assert base64.urlsafe_b64encode(wrap_key).decode().rstrip("=") == entry["passphrase"]
    assert len(entry["passphrase"]) == 43


def test_vectors_cover_what_the_spec_asks():
    entries = load("derivation.json")
    assert {e["work_factor"] for e in entries} == {10, 16}
    assert any(not e["password"].isascii() for e in entries)
    assert any(not e["email"].isascii() for e in entries)


def test_nfkc_equivalent_passwords_share_a_master():
    cafe = [e for e in load("derivation.json") if e["password"].startswith("Caf")]
    assert len(cafe) == 2 and cafe[0]["password"] != cafe[1]["password"]
    assert cafe[0]["master"] == cafe[1]["master"]


@pytest.mark.parametrize("entry", load("prelogin.json"), ids=lambda e: ascii(e["email"]))
def test_prelogin_vectors(entry):
    key = bytes.fromhex(entry["prelogin_key"])
    assert prelogin_salt(key, entry["email"]).hex() == entry["account_salt"]
    independent = hmac.new(key, normalise_email(entry["email"]).encode(), hashlib.sha256)
    assert independent.digest()[:16].hex() == entry["account_salt"]


def test_spellings_of_one_address_get_one_prelogin_salt():
    salts = {e["account_salt"] for e in load("prelogin.json") if "tefan" in e["email"].lower()
             or "\uff33" in e["email"]}
    assert len(salts) == 1


def test_salt_is_bound_to_the_address_and_the_account_salt():
    base = scrypt_salt(EMAIL, SALT16)
    assert scrypt_salt("ALICE@example.com", SALT16) == base
    assert scrypt_salt("bob@example.com", SALT16) != base
    assert scrypt_salt(EMAIL, bytes(16)) != base


@pytest.mark.parametrize("salt", [b"", bytes(15), bytes(17), "0" * 16, None])
def test_account_salt_must_be_16_bytes(salt):
    with pytest.raises(SaltError):
        derive_keys(EMAIL, salt, PASSWORD, 16)


@pytest.mark.parametrize("wf", [8, 9, 15, 21, 22, 30, -1, True, 16.0, "16", None])
def test_work_factor_outside_16_20_is_refused_before_scrypt(wf, monkeypatch):
    calls = []
    monkeypatch.setattr(derivation, "_scrypt", lambda *a: calls.append(a) or bytes(32))
    with pytest.raises(WorkFactorError):
        derive_keys(EMAIL, SALT16, PASSWORD, wf)
    assert calls == []


@pytest.mark.parametrize("wf", [16, 17, 20])
def test_work_factor_inside_the_range_is_accepted(wf):
    assert check_work_factor(wf) == wf


def test_the_test_floor_lowers_to_10_and_no_further():
    assert check_work_factor(10, min_work_factor=10) == 10
    with pytest.raises(WorkFactorError):
        check_work_factor(9, min_work_factor=10)
    for floor in (9, 17, True, "10"):
        with pytest.raises(UsageError):
            check_work_factor(16, min_work_factor=floor)
    with pytest.raises(WorkFactorError):  # the production default stays 16
        check_work_factor(10)


@pytest.mark.parametrize("password", ["", None, b"bytes", "lone \ud800 surrogate"])
def test_bad_passwords_are_refused(password):
    with pytest.raises(UsageError):
        derive_keys(EMAIL, SALT16, password, 10, min_work_factor=10)


def test_derived_keys_never_show_in_repr():
    keys = derive_keys(EMAIL, SALT16, PASSWORD, 10, min_work_factor=10)
    assert keys.master.hex() not in repr(keys) and keys.passphrase not in repr(keys)


# --- the wrapped identity's shape, checked before any scrypt -----------------

@pytest.fixture(scope="module")
def wrapped() -> tuple[bytes, str]:
    """A genuine password-wrapped identity (work factor 10) and its password."""
    from client.identity import wrap_with_passphrase

    keys = derive_keys(EMAIL, SALT16, PASSWORD, 10, min_work_factor=10)
    recipient = str(agecrypt.X25519Identity.generate().recipient())
    return wrap_with_passphrase(IdentityFile.create("x25519", recipient), keys.passphrase), PASSWORD


def _reheader(blob: bytes, stanzas: list[Stanza]) -> bytes:
    """The same payload under another header (its MAC is wrong, which must not matter)."""
    header = parse_header(io.BytesIO(blob))
    return build_header(stanzas, bytes(16)) + blob[len(header.raw):]


def _stanza(blob: bytes) -> Stanza:
    return parse_header(io.BytesIO(blob)).stanzas[0]


def _bad_blobs(blob: bytes) -> dict[str, bytes]:
    s = _stanza(blob)
    x25519 = agecrypt.X25519Identity.generate().recipient()._wrap(bytes(16))[0]
    return {
        "two scrypt stanzas": _reheader(blob, [s, s]),
        "scrypt and X25519": _reheader(blob, [s, x25519]),
        "X25519 only": _reheader(blob, [x25519]),
        "work factor 11": _reheader(blob, [Stanza("scrypt", (s.args[0], "11"), s.body)]),
        "work factor 9": _reheader(blob, [Stanza("scrypt", (s.args[0], "9"), s.body)]),
        "work factor 20": _reheader(blob, [Stanza("scrypt", (s.args[0], "20"), s.body)]),
        "work factor 010": _reheader(blob, [Stanza("scrypt", (s.args[0], "010"), s.body)]),
        "three arguments": _reheader(blob, [Stanza("scrypt", (*s.args, "x"), s.body)]),
        "armored": agecrypt.armor(blob).encode(),
        "not age": b"hello\n" + blob,
        "empty": b"",
    }


BAD_NAMES = [
    "two scrypt stanzas", "scrypt and X25519", "X25519 only", "work factor 11", "work factor 9",
    "work factor 20", "work factor 010", "three arguments", "armored", "not age", "empty"]


@pytest.fixture
def scrypt_calls(monkeypatch) -> list:
    """Counts every scrypt run: the client's password scrypt and agecrypt's stanza scrypt."""
    calls: list = []
    real_client, real_age = derivation._scrypt, agecrypt.scrypt._derive
    monkeypatch.setattr(derivation, "_scrypt", lambda *a: calls.append("client") or real_client(*a))
    monkeypatch.setattr(agecrypt.scrypt, "_derive", lambda *a: calls.append("age") or real_age(*a))
    return calls


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_wrapped_identity_is_refused_before_any_scrypt(name, wrapped, scrypt_calls):
    blob = _bad_blobs(wrapped[0])[name]
    with pytest.raises(WrappedIdentityError):
        check_wrapped_identity(blob)
    with pytest.raises(WrappedIdentityError):
        unlock_with_password(blob, EMAIL, SALT16, wrapped[1], 10, min_work_factor=10)
    with pytest.raises(WrappedIdentityError):
        unwrap_with_passphrase(blob, "x" * 43)
    assert scrypt_calls == []


def test_counter_sees_scrypt_on_a_good_file(wrapped, scrypt_calls):
    """Positive control: the same path on a well-formed file runs both scrypts once."""
    check_wrapped_identity(wrapped[0])
    unlock_with_password(wrapped[0], EMAIL, SALT16, wrapped[1], 10, min_work_factor=10)
    assert scrypt_calls == ["client", "age"]
