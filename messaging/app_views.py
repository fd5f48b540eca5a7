"""The chat application shell: one page that the ES modules in static/js/chat/ drive.

Anonymous visitors get the landing page. A logged-in user whose recovery code
still waits for confirmation is sent to it first (it is shown until they confirm).
Everything else of the chat (conversations, messages, uploads) goes through the
JSON API and the websocket; this view only renders the shell and its data
attributes (the user's id and email, the websocket path).
"""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts import unlock


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
