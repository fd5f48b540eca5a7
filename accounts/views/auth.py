"""Server-rendered pages of the login flow that need no keys and no password: the
emailed links (email verification, a registration claim) with their confirm buttons,
the "check your inbox" step of a login with mandatory 2FA, and logout. Signup, login
and everything else run in the browser shell (accounts.views.v2); every state change
goes through ``accounts.actions``.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import actions
from accounts.actions.verification import AlreadyVerified
from accounts.throttle import RateLimited
from accounts.views import LOGIN_PATH, SHELL_PATH, action_page


def safe_next(request, default: str = "/") -> str:
    """``?next=`` only when it is a same-site relative path; anything else is ignored."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                require_https=request.is_secure())):
        return target
    return default


@never_cache
@require_http_methods(["GET", "POST"])
def verify_email(request, token):
    """The emailed link: GET shows a confirm button (and changes nothing), POST verifies.

    Mail scanners and link previews open links with GET; only a person pressing
    the button (a POST with the CSRF token) verifies the address (issue 17, M3).
    """
    posted = request.method == "POST"
    return action_page(request, "accounts/auth/verify_email.html",
                       actions.do_verify_email if posted else actions.check_verify_email, token,
                       done={"ok": posted, "confirm": not posted}, refused={"ok": False},
                       status=400)


@never_cache
@require_http_methods(["GET"])
def verify_email_pending(request):
    """Mandatory 2FA, address not verified yet: "check your inbox", resend, log out."""
    if not request.user.is_authenticated:
        return redirect(LOGIN_PATH)
    if request.user.email_verified:
        return redirect(SHELL_PATH)  # the shell shows the next step (enrolment)
    return render(request, "accounts/auth/verify_email_pending.html",
                  {"email": request.user.email})


@never_cache
@require_http_methods(["GET", "POST"])
def claim_registration(request, token):
    """A claim's emailed link: GET shows the confirm button (changes nothing), POST claims."""
    posted = request.method == "POST"
    return action_page(request, "accounts/auth/claim.html",
                       actions.do_claim_registration if posted else actions.check_claim, token,
                       done={"done": posted}, status=400)


@require_POST
def verify_email_resend(request):
    if not request.user.is_authenticated:
        return redirect(LOGIN_PATH)
    try:
        actions.do_resend_email_verification(request.user)
    except AlreadyVerified as exc:
        messages.info(request, str(exc))
    except RateLimited:
        messages.error(request, "A link was sent a moment ago; check your inbox first.")
    else:
        messages.success(request, "A new verification link is on its way.")
    return redirect(safe_next(request))


@never_cache
@require_http_methods(["GET", "POST"])
def logout(request):
    if request.method == "POST":
        actions.do_logout(request)
        messages.info(request, "You are logged out.")
        return redirect(LOGIN_PATH)
    return render(request, "accounts/auth/logout.html")
