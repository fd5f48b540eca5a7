"""Typed errors of the :mod:`client` crypto library.

Every failure is a :class:`ClientCryptoError`. Each class carries a stable
``code`` (a short ASCII string) so that test vectors shared with the browser
client can name the expected failure (``"error": "bad_tag"``) without naming a
Python class. Messages never contain secrets or the rejected input itself.
"""

from __future__ import annotations

__all__ = [
    "BoxAuthError",
    "BoxError",
    "BoxFormatError",
    "ClientCryptoError",
    "EmailError",
    "IdentityFileError",
    "KeyMismatchError",
    "PaddingError",
    "RecoveryCodeError",
    "SafetyNumberError",
    "SaltError",
    "SignatureError",
    "StatementError",
    "UnwrapError",
    "UsageError",
    "WorkFactorError",
    "WrappedIdentityError",
]


class ClientCryptoError(Exception):
    """Base class of every error raised by :mod:`client`."""

    code = "client_error"


class UsageError(ClientCryptoError, ValueError):
    """An argument has the wrong type or is out of range (a programming error)."""

    code = "usage"


class StatementError(ClientCryptoError, ValueError):
    """A statement or field is malformed or non-canonical (wrong tag, length, trailing bytes)."""

    code = "bad_statement"


class EmailError(ClientCryptoError, ValueError):
    """The text does not normalise to a valid address (one ``@``, non-empty parts)."""

    code = "bad_email"


class SaltError(ClientCryptoError, ValueError):
    """An account salt is not exactly 16 bytes."""

    code = "bad_salt"


class WorkFactorError(ClientCryptoError, ValueError):
    """A work factor outside the range the client accepts (refused before scrypt runs)."""

    code = "bad_work_factor"


class WrappedIdentityError(ClientCryptoError, ValueError):
    """A wrapped identity is not an age file of the required shape (checked before scrypt)."""

    code = "bad_wrapped_identity"


class UnwrapError(ClientCryptoError):
    """A well-formed wrapped identity did not open (wrong passphrase or recovery code, tampered)."""

    code = "unwrap_failed"


class IdentityFileError(ClientCryptoError, ValueError):
    """An identity file is not one this client writes (never says what it holds)."""

    code = "bad_identity_file"


class KeyMismatchError(ClientCryptoError):
    """Keys that must agree do not (e.g. a recovery copy names another recovery recipient)."""

    code = "key_mismatch"


class RecoveryCodeError(ClientCryptoError, ValueError):
    """The text is not a well-formed recovery code."""

    code = "bad_recovery_code"


class SafetyNumberError(ClientCryptoError, ValueError):
    """Safety-number input is invalid (same user twice) or a QR payload is malformed."""

    code = "bad_safety_input"


class SignatureError(ClientCryptoError):
    """An Ed25519 signature does not verify, or a key or signature has the wrong size."""

    code = "bad_signature"


class BoxError(ClientCryptoError):
    """A message box could not be sealed or opened."""

    code = "bad_box"


class BoxFormatError(BoxError, ValueError):
    """The box is structurally invalid: unknown version byte or a size out of range."""

    code = "bad_format"


class BoxAuthError(BoxError):
    """The AEAD tag does not verify: wrong context, epoch secret, salt, or a tampered byte."""

    code = "bad_tag"


class PaddingError(BoxError):
    """The authenticated plaintext is not canonically padded (never released)."""

    code = "bad_padding"
