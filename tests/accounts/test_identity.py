"""accounts.identity (DESIGN.md §3): a user's secret keys as one standard age identity
file (every generation newest first, the signing key in a comment), the fingerprint
(12 groups of 5 digits), recovery codes (130 bits, forgiving input), the two
wrappings (password via scrypt, recovery recipient) and generation endorsements.
No database here.
"""

from __future__ import annotations

import re

import pyrage
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import agecrypt
from accounts import identity as keys

WORK_FACTOR = 10


@pytest.fixture(scope="module", params=["hybrid", "x25519"])
def key_type(request):
    return request.param


def test_identity_file_round_trips_and_is_a_standard_identity_file(key_type):
    original = keys.IdentityFile.create(key_type).with_new_generation(key_type)
    data = original.serialize()
    parsed = keys.IdentityFile.parse(data)
    assert parsed.serialize() == data
    assert [n for n, _ in parsed.generations] == [2, 1]
    assert parsed.fingerprint() == original.fingerprint()
    # What the age tools see: only the identity lines, newest first.
    identities = agecrypt.parse_identities(data.decode())
    assert [str(i) for i in identities] == [str(i) for i in original.identities]
    prefix = "AGE-SECRET-KEY-PQ-1" if key_type == "hybrid" else "AGE-SECRET-KEY-1"
    assert all(str(i).startswith(prefix) for i in identities)


def test_new_generation_keeps_history_and_replaces_the_signing_key(key_type):
    first = keys.IdentityFile.create(key_type)
    old_ciphertext = agecrypt.encrypt(b"history", [first.recipient()])
    second = first.with_new_generation(key_type)
    assert second.current_generation == 2 and second.signing_generation == 2
    assert second.signing_public_key() != first.signing_public_key()
    assert str(second.recipient()) != str(first.recipient())
    assert agecrypt.decrypt(old_ciphertext, second.identities) == b"history"
    assert keys.key_type_of(second.current_identity) == key_type


@pytest.mark.parametrize("mutate", [
    lambda t: t.replace("# securechat-signing-key: ", "# securechat-signing-key: x"),
    lambda t: "\n".join(line for line in t.splitlines() if "signing-key" not in line),
    lambda t: "\n".join(line for line in t.splitlines() if "generation:" not in line),
    lambda t: t.replace("# securechat-generation: 1", "# securechat-generation: 3"),
    lambda t: t.replace("# securechat-generation: 1", "# securechat-generation: 2"),
    lambda t: t.replace("# securechat-generation: 2", "# securechat-generation: one"),
    lambda t: t.replace("AGE-SECRET-KEY-", "AGE-SECRET-KEX-", 1),
    lambda t: re.sub(r"(# securechat-signing-key: )2", r"\g<1>1", t),
    lambda t: "",
    lambda t: t + t,
])
def test_malformed_identity_files_are_refused(mutate):
    text = keys.IdentityFile.create("x25519").with_new_generation("x25519").serialize().decode()
    keys.IdentityFile.parse(text.encode())  # control: the unmutated file parses
    with pytest.raises(keys.IdentityFileError):
        keys.IdentityFile.parse(mutate(text).encode())


def test_non_utf8_is_refused_without_echoing_the_content():
    with pytest.raises(keys.IdentityFileError) as caught:
        keys.IdentityFile.parse(b"\xff\xfe AGE-SECRET-KEY")
    assert "AGE-SECRET" not in str(caught.value)


def test_fingerprint_is_twelve_groups_of_five_digits_and_tracks_the_keys():
    identity_file = keys.IdentityFile.create("hybrid")
    fingerprint = identity_file.fingerprint()
    assert re.fullmatch(r"\d{5}( \d{5}){11}", fingerprint)
    recipient, signing = str(identity_file.recipient()), identity_file.signing_public_key()
    assert keys.fingerprint(recipient, signing) == fingerprint
    assert keys.fingerprint(recipient, bytes(32)) != fingerprint
    other = keys.IdentityFile.create("hybrid")
    assert keys.fingerprint(str(other.recipient()), signing) != fingerprint


def test_recovery_codes_encode_130_bits_and_accept_sloppy_typing():
    code = keys.new_recovery_code()
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}-[0-9A-HJKMNP-TV-Z]",
                        code)
    assert len(keys.RECOVERY_ALPHABET) ** keys.RECOVERY_LENGTH >= 2 ** 128
    assert len({keys.new_recovery_code() for _ in range(50)}) == 50
    raw = code.replace("-", "")
    sloppy = " ".join(raw[i:i + 4] for i in range(0, len(raw), 4)).lower()
    assert keys.normalize_recovery_code(sloppy) == raw
    assert keys.normalize_recovery_code("O" + "I" * 12 + "L" * 13) == "0" + "1" * 25


@pytest.mark.parametrize("text", ["", "ABC", "U" * 26, "0" * 25, "0" * 27, None, 12345,
                                  "0" * 200])
def test_malformed_recovery_codes_are_refused(text):
    with pytest.raises(keys.RecoveryCodeError):
        keys.normalize_recovery_code(text)


def test_recovery_identity_is_deterministic_per_code_and_key_type(key_type):
    code = keys.new_recovery_code()
    first = keys.recovery_identity(code, key_type)
    again = keys.recovery_identity(code.lower().replace("-", " "), key_type)
    assert str(first) == str(again)
    assert str(keys.recovery_identity(keys.new_recovery_code(), key_type)) != str(first)
    other_type = "x25519" if key_type == "hybrid" else "hybrid"
    assert keys.key_type_of(keys.recovery_identity(code, other_type)) == other_type
    with pytest.raises(ValueError):
        keys.recovery_identity(code, "rsa")


def test_password_wrapping_is_a_standard_scrypt_age_file(key_type):
    identity_file = keys.IdentityFile.create(key_type)
    blob = keys.wrap_under_password(identity_file, "pass phrase 1234", WORK_FACTOR)
    assert blob.startswith(b"age-encryption.org/v1\n-> scrypt ")
    assert pyrage.passphrase.decrypt(blob, "pass phrase 1234") == identity_file.serialize()
    opened = keys.unwrap(blob, agecrypt.ScryptIdentity("pass phrase 1234"))
    assert opened.fingerprint() == identity_file.fingerprint()
    with pytest.raises(agecrypt.AgeError):
        keys.unwrap(blob, agecrypt.ScryptIdentity("pass phrase 1235"))


def test_recovery_wrapping_opens_only_with_the_code(key_type):
    identity_file = keys.IdentityFile.create(key_type)
    code = keys.new_recovery_code()
    recipient = keys.recovery_identity(code, key_type).recipient()
    blob = keys.wrap_to_recipient(identity_file, keys.parse_recipient(str(recipient)))
    assert keys.unwrap(blob, keys.recovery_identity(code, key_type)).serialize() == \
        identity_file.serialize()
    with pytest.raises(agecrypt.AgeError):
        keys.unwrap(blob, keys.recovery_identity(keys.new_recovery_code(), key_type))


def test_parse_recipient_reads_both_types(key_type):
    recipient = str(keys.new_age_identity(key_type).recipient())
    assert str(keys.parse_recipient(recipient)) == recipient
    with pytest.raises(agecrypt.AgeError):
        keys.parse_recipient("age1notarecipient")


def test_endorsement_verifies_only_for_the_exact_new_generation():
    old = keys.IdentityFile.create("hybrid")
    new = old.with_new_generation("hybrid")
    message = keys.endorsement_message(7, 2, str(new.recipient()), new.signing_public_key())
    signature = old.signing_key.sign(message)
    public = Ed25519PublicKey.from_public_bytes(old.signing_public_key())
    public.verify(signature, message)  # control
    for changed in (
        keys.endorsement_message(8, 2, str(new.recipient()), new.signing_public_key()),
        keys.endorsement_message(7, 3, str(new.recipient()), new.signing_public_key()),
        keys.endorsement_message(7, 2, str(old.recipient()), new.signing_public_key()),
        keys.endorsement_message(7, 2, str(new.recipient()), old.signing_public_key()),
    ):
        with pytest.raises(InvalidSignature):
            public.verify(signature, changed)


def test_endorsement_fields_are_length_prefixed():
    """Moving bytes between fields gives a different message (no concatenation ambiguity)."""
    assert keys.endorsement_message(1, 12, "age1x", b"k") != \
        keys.endorsement_message(11, 2, "age1x", b"k")
