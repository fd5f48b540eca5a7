"""client.identity: the v2 identity file, its wrapped copies, and interop with age tools."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess

import pyrage
import pytest
from pyrage import passphrase as pyrage_passphrase
from pyrage import x25519 as pyrage_x25519

import agecrypt
from agecrypt.header import parse_header
from client import _rand
from client.derivation import check_wrapped_identity
from client.errors import (
    IdentityFileError,
    KeyMismatchError,
    UnwrapError,
    UsageError,
    WrappedIdentityError,
)
from client.identity import (
    IdentityFile,
    unwrap_with_passphrase,
    unwrap_with_recovery,
    wrap_to_recovery,
    wrap_with_passphrase,
)
from client.recovery import generate_code, recovery_identity
from tests.client._vectors import load

VECTOR = load("identity.json")[0]
PASSPHRASE = VECTOR["passphrase"]


@pytest.fixture(scope="module")
def code() -> str:
    return generate_code()


@pytest.fixture(scope="module")
def identity_file(code) -> IdentityFile:
    recipient = str(recovery_identity(code, "x25519").recipient())
    return IdentityFile.create("x25519", recipient).with_new_generation("x25519")


def test_vector_file_parses_and_serializes_to_the_same_bytes():
    f = IdentityFile.parse(VECTOR["identity_file"].encode())
    assert f.serialize().decode() == VECTOR["identity_file"]
    assert f.signing_generation == VECTOR["signing_generation"] == f.current_generation
    assert f.signing_public_key().hex() == VECTOR["signing_public"]
    assert f.recovery_recipient == VECTOR["recovery_recipient"]
    assert [{"number": n, "recipient": str(i.recipient())} for n, i in f.generations] == \
        VECTOR["generations"]


def test_vector_wrapped_copies_open():
    expected = VECTOR["identity_file"].encode()
    wrapped = bytes.fromhex(VECTOR["wrapped"])
    check_wrapped_identity(wrapped)
    assert unwrap_with_passphrase(wrapped, PASSPHRASE).serialize() == expected
    copy = bytes.fromhex(VECTOR["recovery_copy"])
    assert unwrap_with_recovery(copy, VECTOR["recovery_code"], "x25519").serialize() == expected


def test_vector_wrapped_identity_opens_with_pyrage():
    """Interop: rage (Rust) accepts our scrypt stanza and passphrase encoding."""
    plain = pyrage_passphrase.decrypt(bytes.fromhex(VECTOR["wrapped"]), PASSPHRASE)
    assert plain == VECTOR["identity_file"].encode()
    rec = str(recovery_identity(VECTOR["recovery_code"], "x25519"))
    ident = pyrage_x25519.Identity.from_str(rec)
    assert pyrage.decrypt(bytes.fromhex(VECTOR["recovery_copy"]), [ident]) == plain


def test_fresh_wrapped_identity_opens_with_pyrage(identity_file):
    wrapped = wrap_with_passphrase(identity_file, PASSPHRASE)
    assert pyrage_passphrase.decrypt(wrapped, PASSPHRASE) == identity_file.serialize()


def test_unwrapped_identity_file_works_with_age_cli(identity_file, tmp_path):
    """`age -d -i` reads the file as it is (comments ignored) for every generation."""
    age = shutil.which("age")
    if age is None:
        pytest.fail("`age` not on PATH (the Makefile installs the Debian package `age`)")
    unwrapped = unwrap_with_passphrase(wrap_with_passphrase(identity_file, PASSPHRASE), PASSPHRASE)
    keyfile = tmp_path / "identity.txt"
    keyfile.write_bytes(unwrapped.serialize())
    for number, ident in identity_file.generations:
        src = tmp_path / f"msg{number}.age"
        src.write_bytes(agecrypt.encrypt(f"generation {number}".encode(), [ident.recipient()]))
        out = subprocess.run([age, "-d", "-i", str(keyfile), str(src)], capture_output=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr.decode()
        assert out.stdout == f"generation {number}".encode()


def test_wrap_uses_one_scrypt_stanza_of_work_factor_10(identity_file):
    header = parse_header(io.BytesIO(wrap_with_passphrase(identity_file, PASSPHRASE)))
    assert [(s.type, s.args[1]) for s in header.stanzas] == [("scrypt", "10")]


@pytest.mark.parametrize("key_type", ["x25519", "hybrid"])
def test_round_trip_through_both_wrapped_copies(key_type):
    code = generate_code()
    f = IdentityFile.create(key_type, str(recovery_identity(code, key_type).recipient()))
    f = f.with_new_generation(key_type).with_new_generation(key_type)
    assert [n for n, _ in f.generations] == [3, 2, 1]
    assert IdentityFile.parse(f.serialize()).serialize() == f.serialize()
    assert unwrap_with_passphrase(wrap_with_passphrase(f, "p" * 43), "p" * 43).serialize() == \
        f.serialize()
    assert unwrap_with_recovery(wrap_to_recovery(f), code, key_type).serialize() == f.serialize()


def test_keys_come_from_the_randomness_seam():
    rec = str(recovery_identity(generate_code(), "x25519").recipient())
    with _rand.replay(bytes(64)):
        a = IdentityFile.create("x25519", rec)
    with _rand.replay(bytes(64)):
        b = IdentityFile.create("x25519", rec)
    assert a.serialize() == b.serialize()
    assert str(a.current_identity) == str(agecrypt.X25519Identity.from_seed(bytes(32)))


def test_repr_shows_no_secret(identity_file):
    assert "AGE-SECRET" not in repr(identity_file)


def test_create_refuses_bad_input():
    with pytest.raises(UsageError):
        IdentityFile.create("rsa", VECTOR["recovery_recipient"])
    with pytest.raises(IdentityFileError):
        IdentityFile.create("x25519", "age1notarecipient")


# --- strict parsing ----------------------------------------------------------

GOOD = VECTOR["identity_file"]
LINES = GOOD.split("\n")[:-1]
SIGNING_LINE = next(i for i, x in enumerate(LINES) if x.startswith("# securechat-signing-key"))
FIRST_GEN = next(i for i, x in enumerate(LINES) if x.startswith("# securechat-generation"))


def _swap(i: int, new: str) -> str:
    return "\n".join([*LINES[:i], new, *LINES[i + 1:]]) + "\n"


def _seed_b64() -> str:
    return LINES[SIGNING_LINE].rsplit(" ", 1)[1]


MUTATIONS = {
    "no final newline": GOOD[:-1],
    "CRLF": GOOD.replace("\n", "\r\n"),
    "blank line": GOOD + "\n",
    "not UTF-8": None,
    "no signing key": _swap(SIGNING_LINE, "# a comment"),
    "two signing keys": GOOD + LINES[SIGNING_LINE] + "\n",
    "no recovery line": _swap(SIGNING_LINE + 1, "# a comment"),
    "two recovery lines": GOOD + LINES[SIGNING_LINE + 1] + "\n",
    "bad recovery recipient": _swap(SIGNING_LINE + 1, "# securechat-recovery: age1xyz"),
    "recipient not canonical": _swap(
        SIGNING_LINE + 1, "# securechat-recovery: " + VECTOR["recovery_recipient"].upper()),
    "unknown directive": GOOD + "# securechat-other: 1\n",
    "signing key of an old generation": _swap(SIGNING_LINE, f"# securechat-signing-key: 1 "
                                                             f"{_seed_b64()}"),
    "signing seed unpadded": _swap(SIGNING_LINE, LINES[SIGNING_LINE].rstrip("=")),
    "signing seed 31 bytes": _swap(SIGNING_LINE, "# securechat-signing-key: 2 "
                                   + base64.b64encode(bytes(31)).decode()),
    "generation 02": _swap(FIRST_GEN, "# securechat-generation: 02"),
    "generation 0": _swap(FIRST_GEN, "# securechat-generation: 0"),
    "generations oldest first": "\n".join([*LINES[:FIRST_GEN], *LINES[FIRST_GEN + 2:],
                                           *LINES[FIRST_GEN:FIRST_GEN + 2]]) + "\n",
    "identity without generation": GOOD + LINES[FIRST_GEN + 1] + "\n",
    "generation without identity": GOOD + "# securechat-generation: 7\n",
    "lowercase identity": _swap(FIRST_GEN + 1, LINES[FIRST_GEN + 1].lower()),
    "garbage line": GOOD + "hello\n",
    "empty": "",
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_parse_refuses_what_it_would_not_write(name):
    data = b"\xff" + GOOD.encode() if MUTATIONS[name] is None else MUTATIONS[name].encode()
    with pytest.raises(IdentityFileError):
        IdentityFile.parse(data)


def test_other_comments_are_ignored():
    f = IdentityFile.parse(("# hello\n" + GOOD).encode())
    assert f.serialize().decode() == GOOD


# --- unwrapping failures -----------------------------------------------------

def test_wrong_passphrase_is_an_unwrap_error(identity_file):
    with pytest.raises(UnwrapError):
        unwrap_with_passphrase(wrap_with_passphrase(identity_file, PASSPHRASE), "wrong" * 9)


def test_tampered_payload_is_an_unwrap_error(identity_file):
    blob = bytearray(wrap_with_passphrase(identity_file, PASSPHRASE))
    blob[-5] ^= 1
    with pytest.raises(UnwrapError):
        unwrap_with_passphrase(bytes(blob), PASSPHRASE)


def test_wrong_recovery_code_is_an_unwrap_error(identity_file):
    with pytest.raises(UnwrapError):
        unwrap_with_recovery(wrap_to_recovery(identity_file), generate_code(), "x25519")


def test_recovery_copy_must_be_one_stanza_of_the_key_type(identity_file, code):
    passphrase_copy = wrap_with_passphrase(identity_file, PASSPHRASE)
    with pytest.raises(WrappedIdentityError):
        unwrap_with_recovery(passphrase_copy, code, "x25519")
    with pytest.raises(WrappedIdentityError):
        unwrap_with_recovery(wrap_to_recovery(identity_file), code, "hybrid")
    two = agecrypt.encrypt(identity_file.serialize(), [
        recovery_identity(code, "x25519").recipient(), agecrypt.X25519Identity.generate()
        .recipient()])
    with pytest.raises(WrappedIdentityError):
        unwrap_with_recovery(two, code, "x25519")


def test_recovery_copy_naming_another_recovery_recipient_is_refused(identity_file, code):
    other = str(recovery_identity(generate_code(), "x25519").recipient())
    swapped = identity_file.with_recovery_recipient(other)
    blob = agecrypt.encrypt(swapped.serialize(), [recovery_identity(code, "x25519").recipient()])
    with pytest.raises(KeyMismatchError):
        unwrap_with_recovery(blob, code, "x25519")


def test_oversized_blob_is_refused_before_parsing(identity_file):
    blob = wrap_with_passphrase(identity_file, PASSPHRASE) + bytes(1024 * 1024)
    with pytest.raises(WrappedIdentityError):
        unwrap_with_passphrase(blob, PASSPHRASE)
