"""The age header: stanzas, strict parsing, serialization and the header MAC.

Wire format (C2SP age, "age-encryption.org/v1")::

    age-encryption.org/v1\\n
    -> TYPE ARG1 ARG2\\n            (one or more stanzas)
    BODY (canonical unpadded base64, 64-column lines, ending with a short line)
    --- MAC\\n                      (HMAC-SHA256 over everything up to "---")

Parsing is strict: every deviation (CRLF, padding, non-canonical base64, long
lines, missing final short line, bad MAC line) is a :class:`HeaderError`.
The MAC is checked (:func:`verify_mac`) before any payload byte is released.
This module also defines the abstract :class:`Recipient` / :class:`Identity`
interfaces and the file-key unwrapping loop shared by every key type.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable, Sequence

from .errors import (
    HeaderError,
    HeaderMACError,
    MixedRecipientsError,
    NoIdentityMatchError,
    RecipientError,
    UsageError,
)
from .primitives import (
    FILE_KEY_SIZE,
    b64decode,
    b64encode,
    bytes_equal,
    hkdf_sha256,
    hmac_sha256,
)

__all__ = [
    "VERSION_LINE",
    "Header",
    "Identity",
    "Recipient",
    "Stanza",
    "build_header",
    "parse_header",
    "unwrap_file_key",
    "verify_mac",
    "wrap_file_key",
]

VERSION_LINE = b"age-encryption.org/v1\n"
_STANZA_PREFIX = b"-> "
_MAC_PREFIX = b"--- "
_COLUMNS = 64
_MAX_LINE = 64 * 1024  # generous: a hybrid stanza line is ~1.5 KB
_MAX_HEADER = 4 * 1024 * 1024
_MAX_STANZAS = 1024


class Stanza:
    """One recipient stanza: a type, string arguments and a binary body."""

    __slots__ = ("type", "args", "body")

    def __init__(self, type: str, args: tuple[str, ...], body: bytes) -> None:
        self.type = type
        self.args = tuple(args)
        self.body = bytes(body)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stanza) and (self.type, self.args, self.body) == (
            other.type,
            other.args,
            other.body,
        )

    def __hash__(self) -> int:
        return hash((self.type, self.args, self.body))

    def __repr__(self) -> str:
        return f"Stanza({self.type!r}, {self.args!r}, <{len(self.body)} bytes>)"


# A stanza argument is one or more printable ASCII characters (VCHAR). A
# regex, not a per-character loop: hybrid arguments are ~1.5 KB each.
_ARG = re.compile(r"[\x21-\x7e]+")


def _valid_arg(arg: str) -> bool:
    return _ARG.fullmatch(arg) is not None


class Header:
    """A parsed header. ``raw`` is the exact header bytes, MAC line included."""

    __slots__ = ("stanzas", "mac", "mac_input", "raw")

    def __init__(
        self, stanzas: tuple[Stanza, ...], mac: bytes, mac_input: bytes, raw: bytes
    ) -> None:
        self.stanzas = stanzas
        self.mac = mac
        self.mac_input = mac_input
        self.raw = raw


class Recipient(abc.ABC):
    """Something that can wrap a file key into stanzas (a public key, a passphrase)."""

    #: labels that must be identical across all recipients of one file (age 1.3)
    _labels: frozenset[str] = frozenset()

    @abc.abstractmethod
    def _wrap(self, file_key: bytes) -> list[Stanza]: ...


class Identity(abc.ABC):
    """Something that can unwrap a file key from stanzas (a secret key, a passphrase)."""

    @abc.abstractmethod
    def _unwrap_stanza(self, stanza: Stanza) -> bytes | None:
        """Return the file key, ``None`` if the stanza is not for this identity.

        Raise :class:`HeaderError` if the stanza has this identity's type but
        is malformed.
        """

    def _unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            key = self._unwrap_stanza(stanza)
            if key is not None:
                return key
        return None


# --- serialization ---


def _stanza_bytes(stanza: Stanza) -> bytes:
    if not _valid_arg(stanza.type) or not all(_valid_arg(a) for a in stanza.args):
        raise UsageError("invalid stanza type or argument")
    out = [_STANZA_PREFIX + " ".join((stanza.type, *stanza.args)).encode("ascii") + b"\n"]
    body = b64encode(stanza.body).encode("ascii")
    for i in range(0, len(body), _COLUMNS):
        out.append(body[i : i + _COLUMNS] + b"\n")
    if len(body) % _COLUMNS == 0:  # a full last line requires a following (empty) line
        out.append(b"\n")
    return b"".join(out)


def _mac(file_key: bytes, mac_input: bytes) -> bytes:
    return hmac_sha256(hkdf_sha256(file_key, None, b"header"), mac_input)


def build_header(stanzas: Iterable[Stanza], file_key: bytes) -> bytes:
    """Serialize a header for ``stanzas`` with its MAC keyed by ``file_key``."""
    mac_input = VERSION_LINE + b"".join(_stanza_bytes(s) for s in stanzas) + b"---"
    return mac_input + b" " + b64encode(_mac(file_key, mac_input)).encode("ascii") + b"\n"


def verify_mac(file_key: bytes, header: Header) -> None:
    if not bytes_equal(_mac(file_key, header.mac_input), header.mac):
        raise HeaderMACError("header MAC does not verify")


# --- parsing ---


def _readline(source, total: int) -> bytes:
    line = source.readline(_MAX_LINE)
    if not line.endswith(b"\n"):
        if len(line) >= _MAX_LINE:
            raise HeaderError("header line too long")
        raise HeaderError("unexpected end of header")
    if total + len(line) > _MAX_HEADER:
        raise HeaderError("header too large")
    return line


def parse_header(source) -> Header:
    """Parse a header from a :class:`~agecrypt._io.Source`, consuming exactly its bytes."""
    raw = bytearray()
    line = source.readline(len(VERSION_LINE))
    if line != VERSION_LINE:
        raise HeaderError("not an age v1 file (bad or unsupported version line)")
    raw += line
    stanzas: list[Stanza] = []
    while True:
        line = _readline(source, len(raw))
        if line.startswith(b"---"):
            mac_input = bytes(raw) + b"---"
            raw += line
            if not line.startswith(_MAC_PREFIX):
                raise HeaderError("malformed MAC line")
            try:
                mac = b64decode(line[len(_MAC_PREFIX) : -1])
            except ValueError:
                raise HeaderError("malformed MAC line") from None
            if len(mac) != 32:
                raise HeaderError("malformed MAC line")
            return Header(tuple(stanzas), mac, mac_input, bytes(raw))
        if not line.startswith(_STANZA_PREFIX):
            raise HeaderError("unexpected header line")
        raw += line
        if len(stanzas) >= _MAX_STANZAS:
            raise HeaderError("too many stanzas")
        try:
            fields = line[len(_STANZA_PREFIX) : -1].decode("ascii").split(" ")
        except UnicodeDecodeError:
            raise HeaderError("non-ASCII stanza line") from None
        if not all(_valid_arg(f) for f in fields):
            raise HeaderError("invalid stanza argument")
        body = bytearray()
        while True:
            bline = _readline(source, len(raw))
            raw += bline
            text = bline[:-1]
            if len(text) > _COLUMNS:
                raise HeaderError("stanza body line longer than 64 columns")
            try:
                body += b64decode(text)
            except ValueError:
                raise HeaderError("invalid stanza body encoding") from None
            if len(text) < _COLUMNS:
                break
        stanzas.append(Stanza(fields[0], tuple(fields[1:]), bytes(body)))


# --- file key wrapping / unwrapping ---


def wrap_file_key(recipients: Sequence[Recipient], file_key: bytes) -> list[Stanza]:
    """Wrap ``file_key`` for every recipient, enforcing age's combination rules."""
    recipients = list(recipients)
    if not recipients:
        raise RecipientError("no recipients")
    if not all(isinstance(r, Recipient) for r in recipients):
        raise RecipientError("not an agecrypt recipient")
    labels = recipients[0]._labels
    stanzas: list[Stanza] = []
    for r in recipients:
        if r._labels != labels:
            raise MixedRecipientsError(
                "post-quantum and classic recipients cannot be mixed: the file would "
                "only be as strong as its weakest recipient"
            )
        stanzas.extend(r._wrap(file_key))
    if len(stanzas) != 1 and any(s.type == "scrypt" for s in stanzas):
        raise RecipientError("a passphrase (scrypt) recipient must be the only recipient")
    return stanzas


def unwrap_file_key(header: Header, identities: Sequence[Identity]) -> bytes:
    """Find the file key with the first identity that matches; verify the header MAC."""
    identities = list(identities)
    if not identities:
        raise UsageError("no identities")
    if not all(isinstance(i, Identity) for i in identities):
        raise UsageError("not an agecrypt identity")
    if len(header.stanzas) != 1 and any(s.type == "scrypt" for s in header.stanzas):
        raise HeaderError("an scrypt stanza must be the only stanza")
    for identity in identities:
        file_key = identity._unwrap(header.stanzas)
        if file_key is not None:
            if len(file_key) != FILE_KEY_SIZE:  # defensive: unwrappers check sizes
                raise HeaderError("unwrapped file key has the wrong size")
            verify_mac(file_key, header)
            return file_key
    raise NoIdentityMatchError("no identity matched any of the recipients")
