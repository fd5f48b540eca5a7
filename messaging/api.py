"""JSON API of messaging (docs/api.md). Every view calls one action or reader.

Errors are ``{"error": code, "detail": text}``: 401 ``not_logged_in`` /
``locked``, 400 ``bad_json`` / ``invalid``, 403 ``forbidden`` / ``blocked`` /
``left``, 404 ``not_found`` (also for conversations the user is not in),
405 ``method_not_allowed``, 409 ``key_changed``, 413 ``too_big``.
"""

from __future__ import annotations

import json
from functools import wraps

from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from accounts.api import error as json_error
from accounts.unlock import unlocked_identity
from messaging import actions, listing
from messaging.access import access_conversation
from messaging.errors import Invalid, MessagingError

DEFAULT_PAGE = 50
MAX_PAGE = 200


def api_view(*methods):
    """Method check, login and unlocked identity, JSON body, MessagingError → JSON error."""

    def decorate(view):
        @wraps(view)
        @never_cache
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = json_error(405, "method_not_allowed",
                                      f"Use {' or '.join(methods)} here.")
                response["Allow"] = ", ".join(methods)
                return response
            if not request.user.is_authenticated:
                return json_error(401, "not_logged_in", "Log in first.")
            identity = unlocked_identity(request)
            if identity is None:
                return json_error(401, "locked", "Your keys are locked: log in again.")
            data = {}
            if request.method in ("POST", "PUT", "PATCH") and request.body:
                try:
                    data = json.loads(request.body)
                except (ValueError, RecursionError):
                    return json_error(400, "bad_json", "The body must be a JSON object.")
                if not isinstance(data, dict):
                    return json_error(400, "bad_json", "The body must be a JSON object.")
            try:
                return view(request, identity, data, *args, **kwargs)
            except MessagingError as exc:
                return JsonResponse({"error": exc.code, "detail": str(exc), **(exc.extra or {})},
                                    status=exc.status)

        return wrapper

    return decorate


@api_view("GET", "POST")
def conversations(request, identity, data):
    """GET: the user's conversations. POST {email}: start (or return) a direct conversation."""
    if request.method == "POST":
        conversation = actions.do_start_conversation(request.user, data.get("email"))
        return JsonResponse({"id": conversation.pk}, status=201)
    return JsonResponse(listing.conversation_list(request.user, identity), safe=False)


@api_view("DELETE")
def conversation(request, identity, data, conversation_id):
    """DELETE: delete the conversation on my side (hide its history up to now)."""
    actions.do_delete_conversation(request.user, conversation_id)
    return JsonResponse({"ok": True})


def _page_arg(request, name):
    value = request.GET.get(name)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise Invalid(f"{name} must be a non-negative integer.")
    return int(value)


@api_view("GET", "POST")
def messages(request, identity, data, conversation_id):
    """GET ?before|after&limit: a page of decrypted messages. POST {body, client_id}: send."""
    if request.method == "POST":
        sent = actions.do_send_message(request.user, identity, conversation_id,
                                       data.get("body"), data.get("client_id"))
        return JsonResponse({"id": str(sent.id), "seq": sent.seq},
                            status=201 if sent.created else 200)
    conversation = access_conversation(request.user, conversation_id)
    before, after = _page_arg(request, "before"), _page_arg(request, "after")
    limit = _page_arg(request, "limit")
    limit = DEFAULT_PAGE if limit is None else limit
    if before is not None and after is not None:
        raise Invalid("Use before or after, not both.")
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit is from 1 to {MAX_PAGE}.")
    page = listing.message_page(request.user, identity, conversation, before=before,
                                after=after, limit=limit)
    return JsonResponse(page)


@api_view("DELETE")
def message(request, identity, data, conversation_id, message_id):
    """DELETE: unsend my own message (a tombstone keeps its seq)."""
    actions.do_unsend_message(request.user, conversation_id, message_id)
    return JsonResponse({"ok": True})


@api_view("POST")
def read(request, identity, data, conversation_id):
    seq = actions.do_mark_read(request.user, conversation_id, data.get("seq"))
    return JsonResponse({"last_read_seq": seq})


@api_view("POST")
def leave(request, identity, data, conversation_id):
    actions.do_leave_conversation(request.user, conversation_id)
    return JsonResponse({"ok": True})


@api_view("POST")
def accept_key(request, identity, data, conversation_id):
    accepted = actions.do_accept_key(request.user, identity, conversation_id)
    return JsonResponse({"accepted": accepted})


@api_view("POST")
def expiry(request, identity, data, conversation_id):
    if "seconds" not in data:
        raise Invalid("Send {\"seconds\": n} or {\"seconds\": null}.")
    conversation = actions.do_set_expiry(request.user, conversation_id, data["seconds"])
    return JsonResponse({"expiry_seconds": conversation.expiry_seconds})


@api_view("POST")
def block(request, identity, data):
    actions.do_block(request.user, data.get("email"))
    return JsonResponse({"ok": True})


@api_view("POST")
def unblock(request, identity, data):
    actions.do_unblock(request.user, data.get("email"))
    return JsonResponse({"ok": True})
