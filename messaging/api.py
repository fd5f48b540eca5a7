"""JSON API of messaging (docs/api.md). Every view calls one action or reader.

Errors come from ``accounts.api.api_view`` (one mapping): 401 ``not_logged_in`` /
``locked``, 400 ``bad_request`` / ``invalid``, 403 ``forbidden`` / ``blocked`` /
``left``, 404 ``not_found`` (also for conversations the user is not in),
405 ``method_not_allowed``, 409 ``key_changed``, 413 ``too_big``.
"""

from __future__ import annotations

from django.http import JsonResponse

from accounts.actions import rate_limit
from accounts.api import api_view
from accounts.unlock import require_unlocked_identity
from messaging import actions, listing
from messaging.access import access_conversation
from messaging.errors import Invalid

DEFAULT_PAGE = 50
MAX_PAGE = 200


@api_view("GET", "POST", fields=("email",), login_required=True)
def conversations(request, data):
    """GET: the user's conversations. POST {email}: start (or return) a direct conversation."""
    identity = require_unlocked_identity(request)
    if request.method == "POST":
        # Counted before the address is looked at: every start costs the same.
        rate_limit("conversation_start_user", request.user.pk)
        conversation = actions.do_start_conversation(request.user, data.get("email"))
        return JsonResponse({"id": conversation.pk}, status=201)
    return JsonResponse(listing.conversation_list(request.user, identity), safe=False)


@api_view("DELETE", login_required=True)
def conversation(request, data, conversation_id):
    """DELETE: delete the conversation on my side (hide its history up to now)."""
    require_unlocked_identity(request)
    actions.do_delete_conversation(request.user, conversation_id)
    return JsonResponse({"ok": True})


def _page_arg(request, name):
    value = request.GET.get(name)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise Invalid(f"{name} must be a non-negative integer.")
    return int(value)


@api_view("GET", "POST", fields=("body", "client_id"), login_required=True)
def messages(request, data, conversation_id):
    """GET ?before|after&limit: a page of decrypted messages. POST {body, client_id}: send."""
    identity = require_unlocked_identity(request)
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


@api_view("DELETE", login_required=True)
def message(request, data, conversation_id, message_id):
    """DELETE: unsend my own message (a tombstone keeps its seq)."""
    require_unlocked_identity(request)
    actions.do_unsend_message(request.user, conversation_id, message_id)
    return JsonResponse({"ok": True})


@api_view("POST", fields=("seq",), login_required=True)
def read(request, data, conversation_id):
    """POST {seq}: I have read up to ``seq``."""
    require_unlocked_identity(request)
    seq = actions.do_mark_read(request.user, conversation_id, data.get("seq"))
    return JsonResponse({"last_read_seq": seq})


@api_view("POST", login_required=True)
def leave(request, data, conversation_id):
    require_unlocked_identity(request)
    actions.do_leave_conversation(request.user, conversation_id)
    return JsonResponse({"ok": True})


@api_view("POST", login_required=True)
def accept_key(request, data, conversation_id):
    identity = require_unlocked_identity(request)
    accepted = actions.do_accept_key(request.user, identity, conversation_id)
    return JsonResponse({"accepted": accepted})


@api_view("POST", fields=("seconds",), login_required=True)
def expiry(request, data, conversation_id):
    require_unlocked_identity(request)
    if "seconds" not in data:
        raise Invalid("Send {\"seconds\": n} or {\"seconds\": null}.")
    conversation = actions.do_set_expiry(request.user, conversation_id, data["seconds"])
    return JsonResponse({"expiry_seconds": conversation.expiry_seconds})


@api_view("POST", fields=("email",), login_required=True)
def block(request, data):
    require_unlocked_identity(request)
    rate_limit("block_user", request.user.pk)
    actions.do_block(request.user, data.get("email"))
    return JsonResponse({"ok": True})


@api_view("POST", fields=("email",), login_required=True)
def unblock(request, data):
    require_unlocked_identity(request)
    rate_limit("block_user", request.user.pk)
    actions.do_unblock(request.user, data.get("email"))
    return JsonResponse({"ok": True})
