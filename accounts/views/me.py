"""The one server-rendered page of one's own account: the email-change confirmation
the link sent to the new address opens. It needs no login and no keys; the rest of
the profile is the browser shell's ``/me/``.

The link carries a token in its path. The page that receives it keeps the token
in the session and redirects to a URL without it, so it does not leak through the
Referer header or the browser history; it changes nothing on GET (mail scanners
open links).
"""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts import actions
from accounts.views import action_page

SESSION_EMAIL_TOKEN = "_securechat_email_change_token"  # noqa: S105 - a session key name


@never_cache
@require_GET
def email_confirm_link(request, token):
    request.session[SESSION_EMAIL_TOKEN] = token[:1000]
    return redirect("me-email-confirm")


@never_cache
@require_http_methods(["GET", "POST"])
def email_confirm(request):
    token = request.session.get(SESSION_EMAIL_TOKEN)
    context = {"has_token": bool(token)}
    if request.method == "POST" and token:
        request.session.pop(SESSION_EMAIL_TOKEN, None)  # the link is spent, used or refused
        return action_page(request, "accounts/me/email_confirm.html",
                           actions.do_confirm_email_change, token, request=request,
                           done=lambda user: {"done": True, "email": user.email},
                           refused=context)
    return render(request, "accounts/me/email_confirm.html", context,
                  status=200 if token or request.method == "GET" else 400)
