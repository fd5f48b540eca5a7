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

__all__ = ["RandomnessSeam", "_random_bytes", "replay"]


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


class RandomnessSeam:
    """One package's randomness: :meth:`random_bytes` reads the OS, or replayed bytes
    inside :meth:`replay`. Each package has its own (its own ``ContextVar``), so a test
    replays one without touching the other (``client._rand`` is the second)."""

    def __init__(self, name: str) -> None:
        self._override: contextvars.ContextVar[Callable[[int], bytes] | None] = (
            contextvars.ContextVar(name, default=None))

    def random_bytes(self, n: int) -> bytes:
        """``n`` cryptographically random bytes (or replayed bytes inside :meth:`replay`)."""
        source = self._override.get()
        if source is None:
            return os.urandom(n)
        out = source(n)
        if len(out) != n:
            raise RuntimeError("replayed randomness source returned the wrong length")
        return out

    @contextlib.contextmanager
    def replay(self, source: bytes | Callable[[int], bytes]) -> Iterator[None]:
        """Within the block, draw randomness from ``source`` instead of the OS (tests only).

        ``source`` is either bytes consumed front to back (running out raises
        :class:`RuntimeError`, so a test never silently reuses randomness), or a
        callable ``f(n) -> bytes``.
        """
        fn = source if callable(source) else _ByteReplay(source)
        token = self._override.set(fn)
        try:
            yield
        finally:
            self._override.reset(token)


_seam = RandomnessSeam("agecrypt_rand_override")
_random_bytes = _seam.random_bytes
replay = _seam.replay
