"""Limits on the guessable: login, signup and other attempts per address and account.

(The server derives no keys in version 2 — clients run scrypt — so there is no
derivation limit here.)

``check_rate(scope, key, limit, window)`` counts attempts per client address
and per account in the cache (Redis when configured, so all processes share
the count) and raises ``RateLimited`` when a window is full. When the cache
fails (Redis down), the count falls back to a per-process counter with a
logged warning: logins and resets keep working under a limit that is per
process instead of shared, never a 500.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from django.core.cache import cache

from accounts.errors import TooManyRequests, seconds_phrase
from accounts.metrics import RATE_LIMIT_FALLBACKS, THROTTLED

logger = logging.getLogger(__name__)

# At most one "cache failed" warning per this many seconds per process.
FALLBACK_WARNING_INTERVAL = 60
MAX_LOCAL_COUNTERS = 10_000



class RateLimited(TooManyRequests):
    """Too many attempts in the current window."""

    code = "rate_limited"

    def __init__(self, retry_after: int):
        super().__init__(f"Too many attempts. Try again in {seconds_phrase(retry_after)}.",
                         retry_after)




def _bucket(scope: str, key: str, window: int) -> tuple[str, int]:
    now = int(time.time())
    start = now - now % window
    digest = hashlib.sha256(f"{scope}:{key}".lower().encode()).hexdigest()[:32]
    return f"rl:{scope}:{digest}:{start}", start + window - now


class LocalCounts:
    """Per-process window counters: the fallback while the shared cache fails."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}  # name -> (count, expires)
        self._last_warning = float("-inf")

    def incr(self, name: str, window: int) -> int:
        now = time.monotonic()
        with self._lock:
            if len(self._counts) > MAX_LOCAL_COUNTERS:  # bounded memory during a long outage
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            count, expires = self._counts.get(name, (0, now + window + 1))
            if expires <= now:
                count, expires = 0, now + window + 1
            self._counts[name] = (count + 1, expires)
            return count + 1

    def warn(self, exc: Exception) -> None:
        """Log that the cache failed, at most once per ``FALLBACK_WARNING_INTERVAL``
        (the error's type only: its text may name the Redis URL)."""
        RATE_LIMIT_FALLBACKS.inc()
        now = time.monotonic()
        with self._lock:
            if now - self._last_warning < FALLBACK_WARNING_INTERVAL:
                return
            self._last_warning = now
        logger.warning("rate limits: the cache (Redis) failed (%s); counting per process "
                       "until it answers again", type(exc).__name__)


local_counts = LocalCounts()


def _shared_incr(name: str, window: int) -> int:
    cache.add(name, 0, timeout=window + 1)
    try:
        return cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.set(name, 1, timeout=window + 1)
        return 1


def check_rate(scope: str, key: str, limit: int, window: int) -> None:
    """Count one attempt; RateLimited when more than ``limit`` fell in this window."""
    if not key or limit <= 0:
        return
    name, remaining = _bucket(scope, key, window)
    try:
        count = _shared_incr(name, window)
    except Exception as exc:  # noqa: BLE001 - any cache failure: a per-process limit, not a 500
        local_counts.warn(exc)
        count = local_counts.incr(name, window)
    if count > limit:
        THROTTLED.labels(scope).inc()
        raise RateLimited(max(1, remaining))
