"""Prometheus metrics of uploads (served by ``securechat.metrics``)."""

from prometheus_client import Counter, Gauge

UPLOAD_BYTES = Counter(
    "securechat_upload_bytes_total", "Upload body bytes accepted (tus PATCH).")
ACTIVE_UPLOADS = Gauge(
    "securechat_active_uploads", "tus PATCH requests streaming into this process now.")
