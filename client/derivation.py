"""From password to keys: salt binding, scrypt master, auth_key, wrap_key, passphrase.

docs/protocol.md §3–§5::

    email_b    = utf8(normalise(email))
    salt       = SHA-256("securechat/v2/scrypt-salt" || u16be(len(email_b)) || email_b
                         || account_salt)
    master     = scrypt(utf8(NFKC(password)), salt, N=2^wf, r=8, p=1, dkLen=32)
    auth_key   = HKDF-SHA256(master, salt=empty, info="securechat/v2/auth", 32)
    wrap_key   = HKDF-SHA256(master, salt=empty, info="securechat/v2/wrap", 32)
    passphrase = base64url_nopad(wrap_key)

The client enforces the work factor itself: ``wf`` in [``min_work_factor``,
:data:`MAX_WORK_FACTOR`], where ``min_work_factor`` defaults to
:data:`MIN_WORK_FACTOR` (16). Only tests pass a lower floor, and never below
:data:`TEST_MIN_WORK_FACTOR` (10); nothing here reads the environment.

A wrapped identity is accepted only if it is an age file with exactly one
scrypt stanza of work factor exactly :data:`WRAP_WORK_FACTOR` (10):
:func:`check_wrapped_identity` decides that from the header alone, before any
scrypt runs, so a lying server cannot make the client burn time or memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
import unicodedata
from dataclasses import dataclass

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

import agecrypt
from agecrypt.header import parse_header

from .errors import SaltError, UsageError, WorkFactorError, WrappedIdentityError
from .normalise import normalise_email

__all__ = [
    "ACCOUNT_SALT_SIZE",
    "MAX_WORK_FACTOR",
    "MIN_WORK_FACTOR",
    "TEST_MIN_WORK_FACTOR",
    "WRAP_WORK_FACTOR",
    "DerivedKeys",
    "check_work_factor",
    "check_wrapped_identity",
    "derive_keys",
    "password_bytes",
    "prelogin_salt",
    "scrypt_salt",
]

MIN_WORK_FACTOR = 16  # the production floor; a constant, not a setting
MAX_WORK_FACTOR = 20  # typage (the browser's age library) refuses more
TEST_MIN_WORK_FACTOR = 10  # the lowest floor a test may pass as min_work_factor
WRAP_WORK_FACTOR = 10  # the scrypt stanza over the (already high-entropy) wrap key
ACCOUNT_SALT_SIZE = 16

_SALT_TAG = b"securechat/v2/scrypt-salt"
_AUTH_INFO = b"securechat/v2/auth"
_WRAP_INFO = b"securechat/v2/wrap"
_WF_ARG = re.compile(r"[1-9][0-9]{0,2}")  # how agecrypt itself reads the argument


@dataclass(frozen=True, repr=False)
class DerivedKeys:
    """The secrets derived from one password. ``repr`` never shows them."""

    salt: bytes
    master: bytes
    auth_key: bytes
    wrap_key: bytes

    @property
    def passphrase(self) -> str:
        """base64url without padding of ``wrap_key``: 43 ASCII characters."""
        return base64.urlsafe_b64encode(self.wrap_key).rstrip(b"=").decode("ascii")

    def __repr__(self) -> str:
        return "<DerivedKeys (secret)>"


def prelogin_salt(prelogin_key: bytes, email: str) -> bytes:
    """``HMAC-SHA256(prelogin_key, utf8(normalise(email)))[:16]`` (the server's answer)."""
    if not isinstance(prelogin_key, bytes | bytearray) or not prelogin_key:
        raise UsageError("the prelogin key is non-empty bytes")
    email_b = normalise_email(email).encode("utf-8")
    return hmac.new(bytes(prelogin_key), email_b, hashlib.sha256).digest()[:ACCOUNT_SALT_SIZE]


def scrypt_salt(email: str, account_salt: bytes) -> bytes:
    """The scrypt salt binding the normalised address to the server's account salt."""
    if not isinstance(account_salt, bytes | bytearray) or len(account_salt) != ACCOUNT_SALT_SIZE:
        raise SaltError("an account salt is exactly 16 bytes")
    email_b = normalise_email(email).encode("utf-8")
    if len(email_b) > 0xFFFF:
        raise UsageError("the address is too long")
    return hashlib.sha256(
        _SALT_TAG + len(email_b).to_bytes(2, "big") + email_b + bytes(account_salt)
    ).digest()


def check_work_factor(work_factor: int, *, min_work_factor: int = MIN_WORK_FACTOR) -> int:
    """Return ``work_factor`` if it lies in [min_work_factor, 20], else :class:`WorkFactorError`."""
    if (
        not isinstance(min_work_factor, int)
        or isinstance(min_work_factor, bool)
        or not TEST_MIN_WORK_FACTOR <= min_work_factor <= MIN_WORK_FACTOR
    ):
        raise UsageError("min_work_factor may only be lowered to 10, never raised past 16")
    if (
        not isinstance(work_factor, int)
        or isinstance(work_factor, bool)
        or not min_work_factor <= work_factor <= MAX_WORK_FACTOR
    ):
        raise WorkFactorError(f"work factor must be in [{min_work_factor}, {MAX_WORK_FACTOR}]")
    return work_factor


def password_bytes(password: str) -> bytes:
    """``utf8(NFKC(password))``; no trimming and no case folding (a decision: protocol.md §4)."""
    if not isinstance(password, str) or not password:
        raise UsageError("a password is a non-empty str")
    try:
        return unicodedata.normalize("NFKC", password).encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError("the password is not valid Unicode") from None


def _scrypt(password: bytes, salt: bytes, work_factor: int) -> bytes:
    # The one place the client runs scrypt: tests patch it to count calls.
    return Scrypt(salt=salt, length=32, n=1 << work_factor, r=8, p=1).derive(password)


def _hkdf(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(master)


def derive_keys(
    email: str,
    account_salt: bytes,
    password: str,
    work_factor: int,
    *,
    min_work_factor: int = MIN_WORK_FACTOR,
) -> DerivedKeys:
    """Derive ``master``, ``auth_key`` and ``wrap_key`` for a login or signup.

    Every input is checked (address, salt size, work factor range) before
    scrypt runs; a failure raises a :class:`ClientCryptoError` subclass.
    """
    check_work_factor(work_factor, min_work_factor=min_work_factor)
    salt = scrypt_salt(email, account_salt)
    master = _scrypt(password_bytes(password), salt, work_factor)
    return DerivedKeys(salt, master, _hkdf(master, _AUTH_INFO), _hkdf(master, _WRAP_INFO))


def check_wrapped_identity(blob: bytes) -> None:
    """Refuse anything but an age file with exactly one scrypt stanza of work factor 10.

    Reads the header only (agecrypt's strict parser); runs no scrypt and no
    decryption. Raises :class:`WrappedIdentityError` otherwise.
    """
    if not isinstance(blob, bytes | bytearray):
        raise WrappedIdentityError("a wrapped identity is bytes")
    try:
        header = parse_header(io.BytesIO(bytes(blob)))
    except agecrypt.AgeError:
        raise WrappedIdentityError("not a binary age file") from None
    if len(header.stanzas) != 1:
        raise WrappedIdentityError("a wrapped identity has exactly one stanza")
    stanza = header.stanzas[0]
    if stanza.type != "scrypt" or len(stanza.args) != 2:
        raise WrappedIdentityError("a wrapped identity has one scrypt stanza")
    if not _WF_ARG.fullmatch(stanza.args[1]) or int(stanza.args[1]) != WRAP_WORK_FACTOR:
        raise WrappedIdentityError("the wrapped identity's work factor must be exactly 10")
