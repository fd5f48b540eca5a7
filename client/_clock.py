"""The single private clock seam of :mod:`client`.

The signed client clock of a message (``client_clock_ms``) comes from
:func:`_now_ms`. Tests pin it with :func:`frozen`, which only affects code
inside the ``with`` block (a :class:`contextvars.ContextVar`).
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

__all__ = ["_now_ms", "frozen"]

_override: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "client_clock_override", default=None
)


def _now_ms() -> int:
    """Milliseconds since the Unix epoch (wall clock), or the frozen value inside :func:`frozen`."""
    pinned = _override.get()
    if pinned is not None:
        return pinned
    return time.time_ns() // 1_000_000


@contextlib.contextmanager
def frozen(ms: int) -> Iterator[None]:
    """Within the block, :func:`_now_ms` returns ``ms`` (tests only)."""
    token = _override.set(int(ms))
    try:
        yield
    finally:
        _override.reset(token)
