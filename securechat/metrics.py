"""``GET /api/v1/metrics``: Prometheus metrics of this process, behind a bearer token.

The apps define their own metrics next to the code they count
(``accounts.metrics``, ``messaging.metrics``, ``filestore.metrics``); this module
adds requests and latency by route and serves the process's registry. Metrics
are per process: Prometheus scrapes each process on its own port
(docs/operations.md, "Metrics").

The endpoint answers 404 while ``SECURECHAT_METRICS_TOKEN`` is unset (disabled),
and 401 without ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpResponse
from django.utils.crypto import constant_time_compare
from django.utils.deprecation import MiddlewareMixin
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from accounts.errors import ApiError, NotFound, error_response

# The ASGI scope key where the route (the URL pattern, not the path) is left for
# ``observe_requests``: by Django's URL resolution, or by the raw upload routing.
ROUTE_KEY = "securechat.route"
UNMATCHED = "unmatched"
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

REQUESTS = Counter("securechat_http_requests_total", "HTTP requests answered, by route.",
                   ["route", "method", "status"])
LATENCY = Histogram("securechat_http_request_duration_seconds",
                    "Time from the request to the end of its response, by route.", ["route"])


class RouteLabelMiddleware(MiddlewareMixin):
    """Leave the matched URL pattern in the ASGI scope (a bounded label, unlike the path)."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        scope = getattr(request, "scope", None)
        if scope is not None and request.resolver_match is not None:
            scope[ROUTE_KEY] = request.resolver_match.route
        return None


def observe_requests(app):
    """ASGI wrapper: count each HTTP request and time it to its last response byte."""

    async def observed(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # if the app fails before it starts a response

        async def send_and_note_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_and_note_status)
        finally:
            route = scope.get(ROUTE_KEY, UNMATCHED)
            method = scope["method"] if scope["method"] in METHODS else "other"
            REQUESTS.labels(route, method, str(status)).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)

    return observed


@require_GET
def metrics(request):
    """The registry in Prometheus' text format, for a caller with the token."""
    token = settings.SECURECHAT_METRICS_TOKEN
    if not token:
        return error_response(NotFound("Metrics are disabled (SECURECHAT_METRICS_TOKEN)."))
    if not constant_time_compare(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return error_response(ApiError("Send Authorization: Bearer <metrics token>.",
                                       code="unauthorized", status=401,
                                       headers={"WWW-Authenticate": "Bearer"}))
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})
