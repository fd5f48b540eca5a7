"""Limits on the expensive and the guessable: key derivation and login attempts.

Every Argon2 or scrypt derivation runs inside ``kdf_slot()``: at most
``SECURECHAT_KDF_CONCURRENCY`` at once in a process, and a caller that cannot
get a slot within ``SECURECHAT_KDF_WAIT_SECONDS`` gets ``TooBusy`` (HTTP 429)
instead of queueing without bound, so a flood of signups costs bounded
memory (scrypt at 2^16 takes 64 MiB per derivation).

``check_rate(scope, key, limit, window)`` counts attempts per client address
and per account in the cache (Redis when configured, so all processes share
the count) and raises ``RateLimited`` when a window is full.
"""

from __future__ import annotations

import hashlib
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache

from accounts.metrics import THROTTLED


class TooBusy(Exception):
    """No key-derivation slot came free in time."""

    retry_after = 5


class RateLimited(Exception):
    """Too many attempts in the current window."""

    def __init__(self, retry_after: int):
        super().__init__(f"rate limited; retry after {retry_after}s")
        self.retry_after = retry_after


class KdfLimiter:
    """A counting limit on concurrent derivations, with peak tracking for tests."""

    def __init__(self, limit: int):
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0

    @contextmanager
    def slot(self, wait_seconds: float):
        if not self._semaphore.acquire(timeout=wait_seconds):
            THROTTLED.labels("kdf").inc()
            raise TooBusy()
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1
            self._semaphore.release()


_limiter: KdfLimiter | None = None
_limiter_lock = threading.Lock()


def kdf_limiter() -> KdfLimiter:
    global _limiter
    with _limiter_lock:
        limit = settings.SECURECHAT_KDF_CONCURRENCY
        if _limiter is None or _limiter.limit != limit:
            _limiter = KdfLimiter(limit)
        return _limiter


@contextmanager
def kdf_slot():
    with kdf_limiter().slot(settings.SECURECHAT_KDF_WAIT_SECONDS):
        yield


def _bucket(scope: str, key: str, window: int) -> tuple[str, int]:
    now = int(time.time())
    start = now - now % window
    digest = hashlib.sha256(f"{scope}:{key}".lower().encode()).hexdigest()[:32]
    return f"rl:{scope}:{digest}:{start}", start + window - now


def check_rate(scope: str, key: str, limit: int, window: int) -> None:
    """Count one attempt; RateLimited when more than ``limit`` fell in this window."""
    if not key or limit <= 0:
        return
    name, remaining = _bucket(scope, key, window)
    cache.add(name, 0, timeout=window + 1)
    try:
        count = cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.set(name, 1, timeout=window + 1)
        count = 1
    if count > limit:
        THROTTLED.labels(scope).inc()
        raise RateLimited(max(1, remaining))


def reset_rate(scope: str, key: str, window: int) -> None:
    name, _ = _bucket(scope, key, window)
    cache.delete(name)
