"""agecrypt — the age v1 file format (age-encryption.org/v1) on ``cryptography``.

Imports nothing from Django. Files are standard age files: they decrypt with
the ``age`` CLI (≥ 1.3 for post-quantum recipients), ``pyrage`` and
``age-encryption`` (npm), and theirs decrypt here. Conformance is checked
against the C2SP/CCTV test vectors.

Keys
----
``X25519Identity`` / ``X25519Recipient`` (``AGE-SECRET-KEY-1…`` / ``age1…``),
``HybridIdentity`` / ``HybridRecipient`` (post-quantum ``mlkem768x25519``,
``AGE-SECRET-KEY-PQ-1…`` / ``age1pq1…``), ``ScryptRecipient(passphrase,
work_factor=18)`` / ``ScryptIdentity(passphrase, max_work_factor=22)``.
Identities have ``generate()``, ``from_seed(32 bytes)``, ``from_string(s)``,
``str(identity)`` and ``identity.recipient()``; recipients ``from_string`` and
``str``. ``parse_identities(text)`` reads an identity file. Post-quantum and
classic recipients cannot be mixed in one file (:class:`MixedRecipientsError`);
a passphrase recipient must be alone (:class:`RecipientError`).

One-shot
--------
``encrypt(plaintext, recipients) -> bytes`` and ``decrypt(ciphertext,
identities) -> bytes`` (binary or armored input). ``armor(data) -> str`` and
``dearmor(text) -> bytes`` convert to and from strict ASCII armor.

Streaming (constant memory)
---------------------------
``with Encryptor(out, recipients, armor=False) as enc: enc.write(piece)``
emits the file as it goes (the final chunk is written by ``close()``).
``decrypt_stream(fileobj, identities)`` verifies the header (and its MAC)
immediately and returns an iterator of verified plaintext chunks; a chunk
whose tag fails raises :class:`PayloadError` and nothing of it is released.

Chunk-addressable STREAM
------------------------
The payload is split into chunks of ``CHUNK_SIZE`` = 65536 plaintext bytes
(65552 ciphertext bytes; only the last chunk may be shorter, and it is empty
only for an empty file). :class:`FileCipher` exposes the layout::

    fc = FileCipher.create(recipients)       # new file: key, header, nonce
    fc.header_bytes + fc.nonce               # the first fc.payload_offset bytes
    fc.encrypt_chunk(i, plaintext, last)     # any order, e.g. as uploads arrive
    fc.chunk_offset(i)                       # where chunk i goes in the file
    fc.ciphertext_size(n) / fc.plaintext_size(total_len)

    fc = FileCipher.open(fileobj, identities)  # existing file: header + nonce
    fc.decrypt_chunk(i, ciphertext, last)
    fc.decrypt_range(fileobj, start, end)      # HTTP Range: reads only touched chunks,
                                               # verifies the final chunk at the end

The file key never leaves the package; ``FileCipher`` keeps only the derived
payload cipher.

Structure without keys
----------------------
``inspect(fileobj) -> HeaderInfo(stanza_types, header_len, payload_offset,
payload_len, plaintext_len)`` parses the header and nonce and checks that the
length is one a whole file can have (storage checks); ``expected_size(
payload_offset, plaintext_len)`` is the inverse. Without a key nothing is
authenticated: a file that passes is well-formed, not proven intact.

Errors
------
All errors derive from :class:`AgeError`: :class:`ArmorError`,
:class:`HeaderError`, :class:`HeaderMACError`, :class:`NoIdentityMatchError`,
:class:`PayloadError` (the test vectors' ``armor failure``, ``header
failure``, ``HMAC failure``, ``no match``, ``payload failure``), plus
:class:`KeyFormatError`, :class:`RecipientError`, :class:`MixedRecipientsError`
and :class:`UsageError`.

Randomness comes from one private seam, ``agecrypt._rand`` (tests only).
"""

from __future__ import annotations

from .armor import armor, dearmor
from .errors import (
    AgeError,
    ArmorError,
    HeaderError,
    HeaderMACError,
    KeyFormatError,
    MixedRecipientsError,
    NoIdentityMatchError,
    PayloadError,
    RecipientError,
    UsageError,
)
from .filecipher import FileCipher
from .header import Identity, Recipient
from .hybrid import HybridIdentity, HybridRecipient
from .identityfile import parse_identities, parse_identity, parse_recipient
from .inspection import HeaderInfo, expected_size, inspect
from .scrypt import ScryptIdentity, ScryptRecipient
from .stream import CHUNK_SIZE, ENC_CHUNK_SIZE
from .streaming import Encryptor, decrypt, decrypt_stream, encrypt
from .x25519 import X25519Identity, X25519Recipient

__all__ = [
    "CHUNK_SIZE",
    "ENC_CHUNK_SIZE",
    "AgeError",
    "ArmorError",
    "Encryptor",
    "FileCipher",
    "HeaderError",
    "HeaderInfo",
    "HeaderMACError",
    "HybridIdentity",
    "HybridRecipient",
    "Identity",
    "KeyFormatError",
    "MixedRecipientsError",
    "NoIdentityMatchError",
    "PayloadError",
    "Recipient",
    "RecipientError",
    "ScryptIdentity",
    "ScryptRecipient",
    "UsageError",
    "X25519Identity",
    "X25519Recipient",
    "armor",
    "dearmor",
    "decrypt",
    "decrypt_stream",
    "encrypt",
    "expected_size",
    "inspect",
    "parse_identities",
    "parse_identity",
    "parse_recipient",
]
