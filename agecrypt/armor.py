"""ASCII armor: strict PEM with type ``AGE ENCRYPTED FILE``.

Encoding: ``-----BEGIN AGE ENCRYPTED FILE-----``, canonical padded base64 in
64-column lines (the last line 1–64 columns), ``-----END AGE ENCRYPTED FILE-----``.

Decoding is strict, like age's reference: LF or CRLF line endings, no
headers, no empty lines, no whitespace inside lines, no line longer than 64
columns, only the last data line may be shorter, canonical base64 with
padding. Only whitespace (space, tab, CR, LF) is allowed before the BEGIN line
and after the END line. Anything else is an :class:`ArmorError`.

:class:`_ArmorReader` and :class:`_ArmorWriter` are the streaming forms used
by :func:`agecrypt.decrypt_stream` and :class:`agecrypt.Encryptor`.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from typing import Any

from ._io import Source
from .errors import ArmorError

__all__ = ["BEGIN", "END", "armor", "dearmor"]

BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
END = b"-----END AGE ENCRYPTED FILE-----"
_COLUMNS = 64
_BYTES_PER_LINE = 48
_WHITESPACE = b" \t\r\n"
_MAX_LEADING_WS = 1024
_MAX_TRAILING = 1024
_LINE_RE = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def armor(data: bytes) -> str:
    """Return ``data`` armored (LF line endings, trailing newline)."""
    out = io.BytesIO()
    w = _ArmorWriter(out)
    w.write(data)
    w.close()
    return out.getvalue().decode("ascii")


def dearmor(text: str | bytes) -> bytes:
    """Strictly decode an armored age file; raise :class:`ArmorError` if malformed."""
    if isinstance(text, str):
        try:
            text = text.encode("ascii")
        except UnicodeEncodeError:
            raise ArmorError("non-ASCII character in armored data") from None
    reader = _ArmorReader(Source(io.BytesIO(text)))
    out = bytearray()
    while True:
        chunk = reader.read(1 << 16)
        if not chunk:
            return bytes(out)
        out += chunk


def _strip_eol(line: bytes) -> bytes | None:
    """Return the line without its LF / CRLF terminator, or ``None`` if it has none."""
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith(b"\n"):
        return line[:-1]
    return None


class _ArmorReader:
    """Streaming strict dearmor over a :class:`Source`; ``read`` returns decoded bytes."""

    def __init__(self, source: Source) -> None:
        self._src = source
        self._started = False
        self._done = False
        self._pending = b""

    def _begin(self) -> None:
        skipped = 0
        while True:
            b = self._src.peek(1)
            if not b or b not in _WHITESPACE:
                break
            self._src.skip(1)
            skipped += 1
            if skipped > _MAX_LEADING_WS:
                raise ArmorError("too much whitespace before the armor")
        line = self._src.readline(len(BEGIN) + 2)
        if _strip_eol(line) != BEGIN:
            raise ArmorError("invalid armor: missing or malformed BEGIN line")
        self._started = True

    def _finish(self, end_line: bytes) -> None:
        # end_line is the END line as read (maybe without EOL, at EOF)
        rest = self._src.read(_MAX_TRAILING + 1)
        if len(rest) > _MAX_TRAILING or rest.strip(_WHITESPACE):
            raise ArmorError("invalid armor: data after the END line")
        if not end_line.endswith(b"\n") and rest:
            raise ArmorError("invalid armor: malformed END line")
        self._done = True

    def _next_line(self) -> bytes:
        """Decode the next data line; return b"" at the END line."""
        raw = self._src.readline(_COLUMNS + 2)
        line = _strip_eol(raw)
        if line is None:
            if raw == END:
                self._finish(raw)
                return b""
            if len(raw) >= _COLUMNS + 2:
                raise ArmorError("invalid armor: line longer than 64 columns")
            raise ArmorError("invalid armor: unexpected end of input")
        if line == END:
            self._finish(raw)
            return b""
        if not line:
            raise ArmorError("invalid armor: empty line")
        if len(line) > _COLUMNS:
            raise ArmorError("invalid armor: line longer than 64 columns")
        if not _LINE_RE.fullmatch(line) or len(line) % 4:
            raise ArmorError("invalid armor: bad base64 line")
        try:
            data = binascii.a2b_base64(line, strict_mode=True)
        except binascii.Error:
            raise ArmorError("invalid armor: bad base64 line") from None
        if base64.b64encode(data) != line:
            raise ArmorError("invalid armor: non-canonical base64")
        if len(line) < _COLUMNS or line.endswith(b"="):
            end = self._src.readline(len(END) + 2)
            if _strip_eol(end) != END and end != END:
                raise ArmorError("invalid armor: short line not followed by the END line")
            self._finish(end)
        return data

    def read(self, n: int = -1) -> bytes:
        if not self._started:
            self._begin()
        out = bytearray(self._pending)
        self._pending = b""
        while (n < 0 or len(out) < n) and not self._done:
            out += self._next_line()
        if n >= 0 and len(out) > n:
            self._pending = bytes(out[n:])
            del out[n:]
        return bytes(out)


class _ArmorWriter:
    """Streaming armor encoder; ``close`` writes the final line and END (not closing ``out``)."""

    def __init__(self, out: Any) -> None:
        self._out = out
        self._buf = bytearray()
        self._started = False

    def write(self, data: bytes) -> int:
        if not self._started:
            self._out.write(BEGIN + b"\n")
            self._started = True
        self._buf += data
        full = len(self._buf) - len(self._buf) % _BYTES_PER_LINE
        if full:
            enc = base64.b64encode(memoryview(self._buf)[:full])
            self._out.write(
                b"".join(enc[i : i + _COLUMNS] + b"\n" for i in range(0, len(enc), _COLUMNS))
            )
            del self._buf[:full]
        return len(data)

    def close(self) -> None:
        if not self._started:
            self.write(b"")
        if self._buf:
            self._out.write(base64.b64encode(self._buf) + b"\n")
            self._buf.clear()
        self._out.write(END + b"\n")
