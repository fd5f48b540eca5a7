"""JSON API of messaging outside the v2 conversations (docs/api.md): blocks.

The conversations themselves are ``messaging.v2.api``. Errors come from
``accounts.api.api_view`` (one mapping): 401 ``not_logged_in``, 400 ``invalid``,
405 ``method_not_allowed``, 429 ``rate_limited``.
"""

from __future__ import annotations

from django.http import JsonResponse

from accounts.api import api_view
from accounts.api.me import require_complete_login
from messaging import blocks


@api_view("POST", fields=("email",), login_required=True)
def block(request, data):
    require_complete_login(request)
    blocks.do_block(request.user, data.get("email"))
    return JsonResponse({"ok": True})


@api_view("POST", fields=("email",), login_required=True)
def unblock(request, data):
    require_complete_login(request)
    blocks.do_unblock(request.user, data.get("email"))
    return JsonResponse({"ok": True})
