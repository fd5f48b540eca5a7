"""Prometheus metrics of the account code (served by ``securechat.metrics``).

Each process keeps its own counts (see docs/operations.md, "Metrics").
"""

from prometheus_client import Counter

LOGIN_FAILURES = Counter(
    "securechat_login_failures_total",
    "Password steps refused for a wrong email address or password.")
THROTTLED = Counter(
    "securechat_throttled_total",
    "Requests refused by a rate limit, by scope.", ["scope"])
RATE_LIMIT_FALLBACKS = Counter(
    "securechat_rate_limit_fallbacks_total",
    "Rate-limit checks counted in this process because the shared cache (Redis) failed.")
CHANNEL_LAYER_ERRORS = Counter(
    "securechat_channel_layer_errors_total",
    "Channel-layer (Redis) operations that failed, by operation.", ["operation"])
