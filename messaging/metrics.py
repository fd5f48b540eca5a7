"""Prometheus metrics of messaging (served by ``securechat.metrics``)."""

from prometheus_client import Counter, Gauge

WEBSOCKET_CONNECTIONS = Gauge(
    "securechat_websocket_connections", "Logged-in websockets open in this process.")
MESSAGES_SENT = Counter(
    "securechat_messages_sent_total", "Messages stored (repeats of a client_id excluded).",
    ["kind"])
MESSAGES_DELIVERED = Counter(
    "securechat_messages_delivered_total",
    "Message frames written to websockets (live pushes and sync replays).")
SYNC_REPLAYS = Counter(
    "securechat_sync_replays_total", "sync requests answered (each replays what was missed).")


def socket_closed(user) -> None:
    """Count a socket out, if it was counted in (only logged-in sockets are)."""
    if user is not None:
        WEBSOCKET_CONNECTIONS.dec()
