"""JSON API of accounts (docs/api.md): the one ``api_view`` decorator every app uses.

``api_view(*methods, fields=..., login_required=...)`` wraps an endpoint: other
methods get the JSON 405 with ``Allow``; a body must be a JSON object sent as
``Content-Type: application/json`` and may hold only the declared ``fields``
(400 ``bad_request`` naming the unknown ones); every ``ApiError`` the endpoint
raises becomes ``{"error": code, "detail": text, ...}`` through
``accounts.errors.error_response``. Nothing else builds error JSON.
"""

from __future__ import annotations

import inspect
import json
from functools import wraps

from django.views.decorators.cache import never_cache

from accounts.errors import ApiError, BadRequest, MethodNotAllowed, NotLoggedIn, error_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Largest JSON body the API reads (the pin blob and envelopes will raise it per route).
MAX_BODY = 16 * 1024
JSON_TYPE = "application/json"


def json_body(request, fields, max_body: int = MAX_BODY) -> dict:
    """The request's JSON object, holding only ``fields``; ``{}`` for an empty body.

    Refused with ``BadRequest``: another content type, a body over ``MAX_BODY``,
    anything but a JSON object, and names outside ``fields`` (all listed).
    """
    if not request.body:
        return {}
    content_type = request.content_type or ""
    if content_type.lower() != JSON_TYPE:
        raise BadRequest(f"Send the body as JSON with Content-Type: {JSON_TYPE}.",
                         extra={"content_type": content_type})
    if len(request.body) > max_body:
        raise ApiError("The request body is too large.", code="too_big", status=413)
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("The body must be a JSON object.") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise BadRequest(f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.",
                         field=unknown[0], extra={"unknown_fields": unknown})
    return data


def api_view(*methods: str, fields=(), login_required: bool = False, max_body: int = MAX_BODY,
             error_headers: dict[str, str] | None = None):
    """Decorate ``view(request, body, *args, **kwargs)`` as a JSON endpoint (see module doc).

    ``fields`` names what a body may hold (the same for every method of the
    endpoint), ``max_body`` its largest size in bytes; ``login_required``
    answers 401 ``not_logged_in`` to anonymous callers (half-logged-in sessions
    are stopped earlier by the middleware); ``error_headers`` go on every error
    response of the endpoint (a download's errors keep its sandboxing headers).
    """
    allowed = tuple(methods)
    accepted = frozenset(fields)

    def admit(request, user) -> dict:
        if request.method not in allowed:
            raise MethodNotAllowed(allowed)
        if login_required and not user.is_authenticated:
            raise NotLoggedIn()
        return json_body(request, accepted, max_body) if request.method in BODY_METHODS else {}

    def decorate(view):
        if inspect.iscoroutinefunction(view):
            async def wrapper(request, *args, **kwargs):
                try:
                    body = admit(request, await request.auser())
                    return await view(request, body, *args, **kwargs)
                except ApiError as exc:
                    return error_response(exc, headers=error_headers)
        else:
            def wrapper(request, *args, **kwargs):
                try:
                    body = admit(request, request.user)
                    return view(request, body, *args, **kwargs)
                except ApiError as exc:
                    return error_response(exc, headers=error_headers)

        wrapper = never_cache(wraps(view)(wrapper))
        wrapper.api_methods = allowed
        wrapper.api_fields = accepted
        return wrapper

    return decorate


def text_field(body: dict, name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) else None
