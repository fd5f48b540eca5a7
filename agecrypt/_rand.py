"""The single private randomness seam of :mod:`agecrypt`.

Every random value the package draws — file keys, payload nonces, X25519
ephemeral secrets, scrypt salts, newly generated identities — comes from
:func:`_random_bytes`, which reads :func:`os.urandom`.

Tests can replay fixed bytes with :func:`replay`::

    with _rand.replay(bytes(range(256))):
        blob = agecrypt.encrypt(b"x", [recipient])   # byte-identical every run

The override lives in a :class:`contextvars.ContextVar`, so it only affects the
code running inside the ``with`` block (other threads and tasks keep using the
OS CSPRNG). Nothing in settings, the environment or the public API can reach
it.

Limitation: ``cryptography``'s HPKE (used by the post-quantum
``mlkem768x25519`` recipient) draws its encapsulation randomness inside
OpenSSL and takes no injected randomness, so hybrid stanzas are never
reproducible. The file key and payload nonce of a hybrid file still come from
this seam.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator

__all__ = ["_random_bytes", "replay"]

_override: contextvars.ContextVar[Callable[[int], bytes] | None] = contextvars.ContextVar(
    "agecrypt_rand_override", default=None
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

    ``source`` is either bytes consumed front to back (running out raises
    :class:`RuntimeError`, so a test never silently reuses randomness), or a
    callable ``f(n) -> bytes``.
    """
    fn = source if callable(source) else _ByteReplay(source)
    token = _override.set(fn)
    try:
        yield
    finally:
        _override.reset(token)
