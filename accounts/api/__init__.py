"""JSON API of accounts (docs/api.md): shared request/response handling.

``api_view(*methods)`` wraps an endpoint: it refuses other methods (405),
parses a JSON object body (400 ``bad_request``), and maps the account errors
to ``{"error": code, "detail": text}`` with their status: ``AccountError``
and the code errors of ``accounts.otp`` carry ``code``/``status``;
``RateLimited`` and ``TooBusy`` answer 429 with ``Retry-After``.
"""

from __future__ import annotations

import json
from functools import wraps

from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from accounts.actions import AccountError
from accounts.otp import CodeError, CodeThrottled
from accounts.throttle import RateLimited, TooBusy

MAX_BODY = 16 * 1024


class BadBody(Exception):
    pass


def error(status: int, code: str, detail: str, *, field: str | None = None,
          retry_after: int | None = None) -> JsonResponse:
    payload = {"error": code, "detail": detail}
    if field:
        payload["field"] = field
    response = JsonResponse(payload, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(int(retry_after))
    return response


def json_body(request) -> dict:
    if not request.body:
        return {}
    if len(request.body) > MAX_BODY:
        raise BadBody("The request body is too large.")
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise BadBody("The body must be a JSON object.") from None
    if not isinstance(data, dict):
        raise BadBody("The body must be a JSON object.")
    return data


def api_view(*methods: str, login_required: bool = False):
    def decorate(view):
        @never_cache
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = error(405, "method_not_allowed",
                                 f"Use {' or '.join(methods)} here.")
                response["Allow"] = ", ".join(methods)
                return response
            if login_required and not request.user.is_authenticated:
                return error(401, "not_logged_in", "Log in first.")
            try:
                body = json_body(request) if request.method in {"POST", "DELETE", "PUT",
                                                                 "PATCH"} else {}
                return view(request, body, *args, **kwargs)
            except BadBody as exc:
                return error(400, "bad_request", str(exc))
            except CodeThrottled as exc:
                return error(exc.status, exc.code, str(exc), field="code",
                             retry_after=exc.retry_after)
            except CodeError as exc:
                return error(exc.status, exc.code, str(exc), field="code")
            except AccountError as exc:
                return error(exc.status, exc.code, str(exc), field=exc.field)
            except RateLimited as exc:
                return error(429, "rate_limited",
                             f"Too many attempts. Try again in {exc.retry_after} seconds.",
                             retry_after=exc.retry_after)
            except TooBusy as exc:
                return error(429, "busy", "The server is busy. Try again in a few seconds.",
                             retry_after=exc.retry_after)
        return wrapper
    return decorate


def text_field(body: dict, name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) else None
