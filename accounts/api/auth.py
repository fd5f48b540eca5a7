"""JSON endpoints of the login flow (docs/api.md).

Non-browser clients keep both cookies (the session and ``securechat_key``),
take the CSRF token from ``GET /api/v1/csrf`` and send ``X-CSRFToken`` and
``Origin`` with every POST.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.middleware.csrf import get_token

from accounts import actions, clientauth, unlock
from accounts.actions.clientkeys import (
    check_client_signup,
    do_client_login,
    do_client_signup,
    do_prelogin,
)
from accounts.api import api_view, text_field
from accounts.errors import ApiError


@api_view("GET")
def csrf(request, body):
    """Set the CSRF cookie and return the token for the X-CSRFToken header."""
    return JsonResponse({"csrf_token": get_token(request)}, headers={"Cache-Control": "no-store"})


def _stage_payload(stage: str) -> dict:
    return {"otp_required": stage == unlock.STAGE_OTP,
            "email_verification_required": stage == unlock.STAGE_VERIFY,
            "enrolment_required": stage in (unlock.STAGE_VERIFY, unlock.STAGE_ENROL)}


CLIENT_SIGNUP_FIELDS = ("email", "auth_key", "account_salt", "work_factor", "key_type",
                        "recipient", "signing_key", "wrapped_identity", "recovery_wrapped",
                        "invitation")


@api_view("POST", fields=("email",))
def prelogin(request, body):
    """``{email}`` -> ``{account_salt, work_factor}`` for every address (version 2)."""
    answer = do_prelogin(body.get("email"), ip=actions.client_ip(request))
    return JsonResponse({"account_salt": clientauth.b64url(answer.account_salt),
                         "work_factor": answer.work_factor})


@api_view("POST", fields=("password", *CLIENT_SIGNUP_FIELDS))
def signup(request, body):
    """Version 2 (keys made on the client, no password field; docs/api.md) -> 201 with the
    stage; version 1 ``{email, password, invitation?}`` -> 201 ``{recovery_code,
    email_verification_sent, …}``, or 202 with ``claim_pending: true`` and nobody logged
    in when an unverified registration held the address (its emailed link decides).
    """
    if "password" not in body:
        user, stage = do_client_signup(request, check_client_signup(body))
        return JsonResponse({"email_verification_sent": not user.email_verified,
                             **_stage_payload(stage)}, status=201)
    result, stage = actions.do_register(
        request, body.get("email"), body.get("password"),
        invitation_token=text_field(body, "invitation"))
    if result.claim_pending:
        return JsonResponse({"recovery_code": result.recovery_code,
                             "email_verification_sent": True, "claim_pending": True,
                             **_stage_payload(unlock.STAGE_DONE)}, status=202)
    return JsonResponse({
        "recovery_code": result.recovery_code,
        "email_verification_sent": not result.user.email_verified,
        "claim_pending": False,
        **_stage_payload(stage),
    }, status=201)


@api_view("POST", fields=("email", "password", "auth_key"))
def login(request, body):
    """``{email, auth_key}`` (version 2) or ``{email, password}`` (version 1)
    -> ``{otp_required, enrolment_required}``."""
    if "auth_key" in body and "password" not in body:
        stage = do_client_login(request, body.get("email"), body.get("auth_key"))
    else:
        stage = actions.do_login(request, body.get("email"), body.get("password"))
    return JsonResponse(_stage_payload(stage))


@api_view("POST", fields=("code",), login_required=True)
def otp(request, body):
    """``{code}``: a TOTP code or a backup code completes the login."""
    actions.do_login_code(request, body.get("code"))
    return JsonResponse({"ok": True})


@api_view("POST")
def logout(request, body):
    actions.do_logout(request)
    return JsonResponse({"ok": True})


@api_view("POST", login_required=True)
def recovery_confirm(request, body):
    """The user saved the recovery code: the server forgets its copy."""
    if not actions.do_confirm_recovery_code(request):
        raise ApiError("No recovery code is waiting for confirmation.",
                       code="nothing_pending", status=409)
    return JsonResponse({"ok": True})


@api_view("POST", fields=("token",))
def verify_email(request, body):
    """``{token}`` from the emailed link."""
    actions.do_verify_email(body.get("token"))
    return JsonResponse({"ok": True})


@api_view("POST", login_required=True)
def verify_email_resend(request, body):
    if request.user.email_verified:
        raise ApiError("Your email address is already verified.",
                       code="already_verified", status=409)
    actions.rate_limit("verify_email_account", request.user.pk)
    actions.do_send_email_verification(request.user)
    return JsonResponse({"ok": True, "email_verification_sent": True})
