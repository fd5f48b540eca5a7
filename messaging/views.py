"""Server-rendered history of one conversation (works without JavaScript)."""

from __future__ import annotations

import secrets

from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.unlock import unlocked_identity
from accounts.views import full_login_required
from messaging import actions, listing
from messaging.access import access_conversation
from messaging.errors import MessagingError, NotFound

PAGE = 50


@require_http_methods(["GET", "POST"])
@full_login_required
def history(request, conversation_id):
    try:
        conversation = access_conversation(request.user, conversation_id)
    except NotFound:
        raise Http404("No such conversation.") from None
    identity = unlocked_identity(request)
    error = None
    if request.method == "POST":
        try:
            if request.POST.get("action") == "accept_key":
                actions.do_accept_key(request.user, identity, conversation.pk)
            else:
                actions.do_send_message(
                    request.user, identity, conversation.pk, request.POST.get("text", ""),
                    request.POST.get("client_id") or secrets.token_hex(8))
            return redirect("conversation-history", conversation_id=conversation.pk)
        except MessagingError as exc:
            error = str(exc)
    before = request.GET.get("before")
    before = int(before) if before and before.isascii() and before.isdigit() \
        and len(before) < 19 else None
    page = listing.message_page(request.user, identity, conversation, before=before,
                                limit=PAGE)
    members = {m.user_id: m.user.email
               for m in conversation.memberships.select_related("user")}
    for item in page["messages"]:
        item["sender_email"] = members.get(item["sender"], "(deleted account)")
    status = 400 if error else 200
    return render(request, "messaging/history.html", {
        "conversation": conversation,
        "page": page,
        "members": sorted(members.values()),
        "error": error,
        "older": page["messages"][0]["seq"] if page["has_before"] and page["messages"] else None,
        "newer": (page["messages"][-1]["seq"] + PAGE + 1)
        if page["has_after"] and page["messages"] else None,
        "client_id": secrets.token_hex(8),
        "can_send": conversation.membership.is_joined,
    }, status=status)
