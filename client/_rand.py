"""The single private randomness seam of :mod:`client`.

Every random value the library draws — recovery codes, identity and signing
seeds, message box salts — comes from :func:`_random_bytes`, which reads
:func:`os.urandom`. Tests replay fixed bytes with :func:`replay` (the same
design as ``agecrypt._rand``: a :class:`contextvars.ContextVar`, so only code
inside the ``with`` block is affected, and nothing in settings, the
environment or the public API can reach it).

Note that age encryption itself (file keys, scrypt salts, X25519 ephemerals)
draws from ``agecrypt._rand``; a test that needs byte-identical age files
replays both seams.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator

__all__ = ["_random_bytes", "replay"]

_override: contextvars.ContextVar[Callable[[int], bytes] | None] = contextvars.ContextVar(
    "client_rand_override", default=None
)


def _random_bytes(n: int) -> bytes:
    """Return ``n`` cryptographically random bytes (or replayed bytes inside :func:`replay`)."""
    source = _override.get()
    if source is None:
        return os.urandom(n)
    out = source(n)
    if len(out) != n:
        raise RuntimeError("replayed randomness source returned the wrong length")
    return out


class _ByteReplay:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(bytes(data))
        self._pos = 0

    def __call__(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise RuntimeError("replayed randomness exhausted")
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return out


@contextlib.contextmanager
def replay(source: bytes | Callable[[int], bytes]) -> Iterator[None]:
    """Within the block, draw randomness from ``source`` instead of the OS (tests only).

    ``source`` is bytes consumed front to back (running out raises
    :class:`RuntimeError`, so a test never silently reuses randomness), or a
    callable ``f(n) -> bytes``.
    """
    fn = source if callable(source) else _ByteReplay(source)
    token = _override.set(fn)
    try:
        yield
    finally:
        _override.reset(token)
