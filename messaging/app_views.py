"""The chat application shell: one page that the ES modules in static/js/chat/ drive.

Anonymous visitors get the landing page. A logged-in user whose recovery code
still waits for confirmation is sent to it first (it is shown until they confirm).
Everything else of the chat (conversations, messages, uploads) goes through the
JSON API and the websocket; this view only renders the shell and its data
attributes (the user's id and email, the websocket path). ``contact_keys`` is
the read-only JSON the shell needs for fingerprints.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts import unlock
from accounts.actions import rate_limit
from accounts.api import api_view
from accounts.models import KeyGeneration
from messaging.access import access_conversation
from messaging.actions import contact_key_states
from messaging.pins import load_pins


@never_cache
@require_GET
def chat_app(request, conversation_id: int | None = None):
    """``/`` and ``/c/<id>/`` (a deep link to one conversation)."""
    if not request.user.is_authenticated:
        if conversation_id is not None:
            return redirect(f"/login/?next=/c/{conversation_id}/")
        return render(request, "securechat/home.html")
    if unlock.pending_recovery_code(request) is not None:
        return redirect("recovery-code")
    return render(request, "chat/app.html", {
        "conversation_id": conversation_id,
        "email_verified": bool(getattr(request.user, "email_verified", False)),
    })


@api_view("GET", login_required=True)
def contact_keys(request, body, conversation_id: int):
    """``GET /api/v1/conversations/<id>/keys``: the other members' key fingerprints.

    For the chat's "Verify keys" panel and key-change notice: per contact the
    fingerprint the viewer pinned (what they accepted), the current directory
    fingerprint (not verified: directory rows could be edited), and the state
    (``ok``; ``changed`` blocks sending until the viewer accepts). First use pins
    silently, like the conversation list does.
    """
    identity = unlock.require_unlocked_identity(request)
    rate_limit("key_lookup_user", request.user.pk)
    conversation = access_conversation(request.user, conversation_id)
    pins = load_pins(request.user, identity)
    states = contact_key_states(request.user, identity, conversation, pins)
    rows = {row.user_id: row for row in KeyGeneration.objects.current().filter(
        user_id__in=list(states)).select_related("user")}
    contacts = []
    for user_id, state in sorted(states.items()):
        row = rows[user_id]
        entry = pins.entry(user_id) or {}
        contacts.append({
            "id": user_id,
            "email": row.user.email,
            "state": state,
            "pinned_fingerprint": entry.get("fingerprint"),
            "directory_fingerprint": row.directory_fingerprint,
            "notice": entry.get("notice"),
        })
    return JsonResponse({"conversation": conversation.pk, "contacts": contacts})
