"""Typed errors of :mod:`agecrypt`.

Every failure is an :class:`AgeError`. The classes map onto the outcomes of the
C2SP/CCTV age test vectors:

=====================  ==========================
vector ``expect:``     exception
=====================  ==========================
``armor failure``      :class:`ArmorError`
``header failure``     :class:`HeaderError`
``HMAC failure``       :class:`HeaderMACError`
``no match``           :class:`NoIdentityMatchError`
``payload failure``    :class:`PayloadError`
=====================  ==========================

:class:`HeaderMACError` is deliberately *not* a subclass of :class:`HeaderError`
so callers (and the vector tests) can tell the two apart.
"""

from __future__ import annotations

__all__ = [
    "AgeError",
    "ArmorError",
    "HeaderError",
    "HeaderMACError",
    "KeyFormatError",
    "MixedRecipientsError",
    "NoIdentityMatchError",
    "PayloadError",
    "RecipientError",
    "UsageError",
]


class AgeError(Exception):
    """Base class of every error raised by :mod:`agecrypt`."""


class ArmorError(AgeError):
    """The ASCII armor is malformed (not strict PEM, not canonical base64, ...)."""


class HeaderError(AgeError):
    """The age header is malformed, or a recipient stanza of a known type is invalid."""


class HeaderMACError(AgeError):
    """The file key was unwrapped but the header MAC does not verify."""


class NoIdentityMatchError(AgeError):
    """None of the identities could unwrap any recipient stanza of the header."""


class PayloadError(AgeError):
    """The STREAM payload is truncated, tampered with, reordered or has trailing data."""


class KeyFormatError(AgeError, ValueError):
    """A recipient or identity string (Bech32) or raw key is malformed."""


class RecipientError(AgeError, ValueError):
    """The set of recipients given for encryption is not allowed."""


class MixedRecipientsError(RecipientError):
    """Post-quantum and classic recipients were mixed in one encryption.

    Mixing them would silently downgrade the file to classic security, so age
    refuses it; decryption still accepts such files.
    """


class UsageError(AgeError, ValueError):
    """An argument is out of range (chunk index, chunk length, byte range, work factor)."""
