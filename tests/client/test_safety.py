"""client.safety: safety numbers and QR payloads."""

from __future__ import annotations

import hashlib
import struct

import pytest

from client.errors import SafetyNumberError, UsageError
from client.safety import UserKeys, fingerprint, qr_payload, safety_number, verify_qr
from tests.client._vectors import field, load

VECTORS = load("safety.json")


def _user(d: dict) -> UserKeys:
    return UserKeys(d["user_id"], bytes.fromhex(d["ed25519"]), d["recipient"])


@pytest.mark.parametrize("entry", VECTORS)
def test_vectors(entry):
    a, b = _user(entry["a"]), _user(entry["b"])
    assert fingerprint(a).hex() == entry["F_a"]
    assert fingerprint(b).hex() == entry["F_b"]
    assert safety_number(a, b) == safety_number(b, a) == entry["safety_number"]
    assert qr_payload(a, b) == qr_payload(b, a) == entry["qr"]
    assert verify_qr(entry["qr"], b, a)


@pytest.mark.parametrize("entry", VECTORS)
def test_vectors_against_an_independent_computation(entry):
    def f(d: dict) -> bytes:
        data = (field(b"securechat/v2/safety") + field(struct.pack(">Q", d["user_id"]))
                + field(bytes.fromhex(d["ed25519"])) + field(d["recipient"].encode()))
        return hashlib.sha512(data).digest()

    def groups(digest: bytes) -> list[str]:
        return [str(int.from_bytes(digest[i:i + 5], "big") % 100000).zfill(5)
                for i in range(0, 30, 5)]

    low, high = sorted([entry["a"], entry["b"]], key=lambda d: d["user_id"])
    number = " ".join(groups(f(low)) + groups(f(high)))
    assert number == entry["safety_number"]
    assert len(number.split(" ")) == 12
    assert entry["qr"] == f"securechat-safety:2:{f(low).hex()}:{f(high).hex()}"


def test_vectors_include_a_pair_given_in_reverse_id_order():
    assert any(e["a"]["user_id"] > e["b"]["user_id"] for e in VECTORS)


def test_any_key_change_changes_the_number():
    a, b = _user(VECTORS[0]["a"]), _user(VECTORS[0]["b"])
    other = _user(VECTORS[2]["b"])
    base = safety_number(a, b)
    assert safety_number(UserKeys(a.user_id, other.ed25519, a.recipient), b) != base
    assert safety_number(UserKeys(a.user_id, a.ed25519, other.recipient), b) != base
    assert safety_number(UserKeys(3, a.ed25519, a.recipient), b) != base


def test_qr_of_other_keys_does_not_verify_and_garbage_is_refused():
    a, b = _user(VECTORS[0]["a"]), _user(VECTORS[0]["b"])
    assert verify_qr(VECTORS[1]["qr"], a, b) is False
    for bad in ["", "securechat-safety:1:" + VECTORS[0]["qr"][20:], VECTORS[0]["qr"].upper(),
                VECTORS[0]["qr"] + "\n", VECTORS[0]["qr"][:-1], None]:
        with pytest.raises(SafetyNumberError):
            verify_qr(bad, a, b)


def test_same_user_twice_is_refused():
    a = _user(VECTORS[0]["a"])
    with pytest.raises(SafetyNumberError):
        safety_number(a, a)


@pytest.mark.parametrize("bad", [
    UserKeys(1, bytes(31), "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"),
    UserKeys(-1, bytes(32), "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"),
    UserKeys(1, bytes(32), "not a recipient"),
])
def test_malformed_keys_are_refused(bad):
    with pytest.raises(UsageError):
        fingerprint(bad)
