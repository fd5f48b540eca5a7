"""Interoperability of agecrypt with pyrage (PyPI; Python bindings of the Rust `rage`).

Files go both ways with one and three X25519 recipients and with a
passphrase; plaintexts are compared by SHA-256. Keys are crossed: pyrage
encrypts to agecrypt-generated recipients, agecrypt to pyrage-generated ones.

pyrage is a test dependency: if it is missing the tests fail, they are not
skipped.
"""

from __future__ import annotations

import hashlib
import os

import pytest

import agecrypt

try:
    import pyrage
    from pyrage import passphrase as pyrage_passphrase
    from pyrage import x25519 as pyrage_x25519
except ImportError as exc:  # pragma: no cover - environment problem
    pyrage = None
    _PYRAGE_IMPORT_ERROR = exc

SIZES = [0, 1, 65535, 65536, 65537, 131072, 5 * 1024 * 1024 + 3]
SIZE_IDS = [f"{n}B" for n in SIZES]
PASSPHRASE = "correct horse battery staple ünïcödé"


@pytest.fixture(scope="module", autouse=True)
def _require_pyrage():
    if pyrage is None:
        pytest.fail(
            f"pyrage is not importable ({_PYRAGE_IMPORT_ERROR}); install the test "
            "requirements (the Makefile does this) to run the agecrypt interop tests"
        )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def rage_keys():
    """Three X25519 identities made by pyrage."""
    return [pyrage_x25519.Identity.generate() for _ in range(3)]


@pytest.fixture(scope="module")
def py_keys():
    """Three X25519 identities made by agecrypt."""
    return [agecrypt.X25519Identity.generate() for _ in range(3)]


def test_key_strings_agree(rage_keys, py_keys):
    """Identity and recipient strings round-trip between pyrage and agecrypt and derive the same
    recipient.
    """
    for rk in rage_keys:
        ident = agecrypt.X25519Identity.from_string(str(rk))
        assert str(ident) == str(rk)
        assert str(ident.recipient()) == str(rk.to_public())
    for pk in py_keys:
        rk = pyrage_x25519.Identity.from_str(str(pk))
        assert str(rk.to_public()) == str(pk.recipient())
        assert str(pyrage_x25519.Recipient.from_str(str(pk.recipient()))) == str(pk.recipient())


@pytest.mark.parametrize("nrec", [1, 3], ids=["1rcpt", "3rcpt"])
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_agecrypt_encrypts_pyrage_decrypts(size, nrec, rage_keys):
    """A file agecrypt encrypts to pyrage-generated recipients decrypts with pyrage for each
    recipient's identity.
    """
    data = os.urandom(size)
    keys = rage_keys[:nrec]
    recipients = [agecrypt.X25519Recipient.from_string(str(k.to_public())) for k in keys]
    ct = agecrypt.encrypt(data, recipients)
    for k in keys:
        assert sha(pyrage.decrypt(ct, [k])) == sha(data)


@pytest.mark.parametrize("nrec", [1, 3], ids=["1rcpt", "3rcpt"])
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_pyrage_encrypts_agecrypt_decrypts(size, nrec, py_keys):
    """A file pyrage encrypts to agecrypt-generated recipients decrypts with agecrypt for each
    identity.
    """
    data = os.urandom(size)
    keys = py_keys[:nrec]
    recipients = [pyrage_x25519.Recipient.from_str(str(k.recipient())) for k in keys]
    ct = pyrage.encrypt(data, recipients)
    for k in keys:
        assert sha(agecrypt.decrypt(ct, [k])) == sha(data)


def test_pyrage_file_key_identity_among_several(py_keys):
    """agecrypt finds the matching identity when given several, only the last of which matches the
    pyrage file.
    """
    data = os.urandom(1000)
    ct = pyrage.encrypt(data, [pyrage_x25519.Recipient.from_str(str(py_keys[2].recipient()))])
    assert agecrypt.decrypt(ct, [py_keys[0], py_keys[1], py_keys[2]]) == data
    with pytest.raises(agecrypt.NoIdentityMatchError):
        agecrypt.decrypt(ct, [py_keys[0], py_keys[1]])


def test_agecrypt_passphrase_pyrage_decrypts():
    """A file agecrypt encrypts with ScryptRecipient (work factor 10) decrypts with
    pyrage.passphrase.decrypt.
    """
    data = os.urandom(70_000)
    ct = agecrypt.encrypt(data, [agecrypt.ScryptRecipient(PASSPHRASE, work_factor=10)])
    assert sha(pyrage_passphrase.decrypt(ct, PASSPHRASE)) == sha(data)
    with pytest.raises(pyrage.DecryptError):
        pyrage_passphrase.decrypt(ct, "wrong")


def test_pyrage_passphrase_agecrypt_decrypts():
    """A file pyrage.passphrase.encrypt makes (rage's calibrated work factor) decrypts with
    agecrypt.ScryptIdentity.
    """
    data = os.urandom(70_000)
    ct = pyrage_passphrase.encrypt(data, PASSPHRASE)
    assert b"\n-> scrypt " in ct
    assert sha(agecrypt.decrypt(ct, [agecrypt.ScryptIdentity(PASSPHRASE)])) == sha(data)


def test_agecrypt_armor_pyrage_decrypts(rage_keys):
    """An agecrypt-armored file, as text, decrypts with pyrage (which detects the armor)."""
    data = os.urandom(100_001)
    text = agecrypt.armor(
        agecrypt.encrypt(
            data, [agecrypt.X25519Recipient.from_string(str(rage_keys[0].to_public()))]
        )
    )
    assert sha(pyrage.decrypt(text.encode(), [rage_keys[0]])) == sha(data)
