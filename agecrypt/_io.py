"""A small buffered reader over any binary file object (private).

The header is parsed line by line and must not swallow payload bytes the
caller will read afterwards, so :class:`Source` uses the underlying object's
own ``readline`` when it has one (``io.BufferedReader``, ``BytesIO``, Django
``File`` ...), and only buffers when it has to (plain ``read``-only objects,
peeking for armor detection).
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["Source"]

_BLOCK = 8192


class Source:
    """Wrap a binary file object; offers ``readline``, ``peek`` and exact ``readinto``."""

    __slots__ = ("_f", "_buf", "_readinto", "_readline")

    def __init__(self, f: Any) -> None:
        self._f = f
        self._buf = bytearray()  # bytes read from f but not yet consumed
        self._readinto = getattr(f, "readinto", None)
        self._readline = getattr(f, "readline", None)

    def _read_raw(self, n: int) -> bytes:
        data = self._f.read(n)
        if data is None:  # non-blocking stream with nothing available
            return b""
        return bytes(data)

    def peek(self, n: int) -> bytes:
        """Return up to ``n`` upcoming bytes without consuming them (fewer only at EOF)."""
        while len(self._buf) < n:
            data = self._read_raw(max(n - len(self._buf), _BLOCK))
            if not data:
                break
            self._buf += data
        return bytes(self._buf[:n])

    def skip(self, n: int) -> None:
        """Consume ``n`` bytes previously returned by :meth:`peek`."""
        del self._buf[:n]

    def readline(self, limit: int) -> bytes:
        """Read through the next ``\\n`` (included), at most ``limit`` bytes; less only at EOF."""
        out = bytearray()
        if self._buf:
            idx = self._buf.find(b"\n", 0, limit)
            if idx >= 0:
                out += self._buf[: idx + 1]
                del self._buf[: idx + 1]
                return bytes(out)
            take = min(limit, len(self._buf))
            out += self._buf[:take]
            del self._buf[:take]
        while len(out) < limit and not out.endswith(b"\n"):
            if self._readline is not None:
                data = self._readline(limit - len(out))
                if not data:
                    break
                out += data
                continue
            data = self._read_raw(_BLOCK)
            if not data:
                break
            idx = data.find(b"\n", 0, limit - len(out))
            if idx >= 0:
                out += data[: idx + 1]
                self._buf += data[idx + 1 :]
                break
            room = limit - len(out)
            out += data[:room]
            self._buf += data[room:]
        return bytes(out)

    def readinto_exact(self, mv: memoryview) -> int:
        """Fill ``mv`` completely unless EOF comes first; return the number of bytes read."""
        n = 0
        size = len(mv)
        if self._buf:
            n = min(size, len(self._buf))
            mv[:n] = self._buf[:n]
            del self._buf[:n]
        while n < size:
            if self._readinto is not None:
                got = self._readinto(mv[n:])
                if not got:
                    break
            else:
                data = self._read_raw(size - n)
                if not data:
                    break
                got = len(data)
                mv[n : n + got] = data
            n += got
        return n

    def memory(self) -> tuple[memoryview, int] | None:
        """Zero-copy access for in-memory sources (``io.BytesIO``): ``(view, start)``.

        ``view`` covers the whole content (``BytesIO.getvalue()`` shares its
        immutable bytes object, no copy) and ``start`` is the position of the
        next unconsumed byte. The caller must call :meth:`release_memory` with
        the position it consumed up to. Returns ``None`` for other sources.
        """
        if type(self._f) is not io.BytesIO:  # exact type: a subclass may override read()
            return None
        start = self._f.tell() - len(self._buf)
        self._buf.clear()
        return memoryview(self._f.getvalue()), start

    def release_memory(self, view: memoryview, end: int) -> None:
        view.release()
        self._f.seek(end)

    def read(self, n: int) -> bytes:
        buf = bytearray(n)
        got = self.readinto_exact(memoryview(buf))
        del buf[got:]
        return bytes(buf)
