"""JSON endpoints of the login flow (docs/api.md).

Non-browser clients keep the session cookie, take the CSRF token from
``GET /api/v1/csrf`` and send ``X-CSRFToken`` and ``Origin`` with every POST.
The server never receives a password: a body with a ``password`` field is
refused (400) before anything else happens.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.middleware.csrf import get_token

from accounts import actions, clientauth, stages
from accounts.actions.clientkeys import (
    check_client_signup,
    do_client_login,
    do_client_signup,
    do_prelogin,
)
from accounts.api import api_view
from accounts.errors import ApiError


@api_view("GET")
def csrf(request, body):
    """Set the CSRF cookie and return the token for the X-CSRFToken header."""
    return JsonResponse({"csrf_token": get_token(request)}, headers={"Cache-Control": "no-store"})


def _stage_payload(stage: str) -> dict:
    return {"otp_required": stage == stages.STAGE_OTP,
            "email_verification_required": stage == stages.STAGE_VERIFY,
            "enrolment_required": stage in (stages.STAGE_VERIFY, stages.STAGE_ENROL)}


CLIENT_SIGNUP_FIELDS = ("email", "auth_key", "account_salt", "work_factor", "key_type",
                        "recipient", "signing_key", "wrapped_identity", "recovery_wrapped",
                        "invitation")


@api_view("POST", fields=("email",))
def prelogin(request, body):
    """``{email}`` -> ``{account_salt, work_factor}`` for every address (version 2)."""
    answer = do_prelogin(body.get("email"), ip=actions.client_ip(request))
    return JsonResponse({"account_salt": clientauth.b64url(answer.account_salt),
                         "work_factor": answer.work_factor})


def refuse_password(body) -> None:
    """A body carrying a password is a version 1 client's: 400, nothing changes. (The
    password must never reach this server; the client derives ``auth_key`` from it.)"""
    if isinstance(body, dict) and "password" in body:
        raise ApiError("This server never receives passwords: sign up and log in with the "
                       "SecureChat client, which sends a key derived from the password "
                       "(docs/api.md).", code="password_refused", field="password")


@api_view("POST", fields=("password", *CLIENT_SIGNUP_FIELDS))
def signup(request, body):
    """Keys made on the client (docs/api.md) -> 201 ``{email_verification_sent,
    otp_required, email_verification_required, enrolment_required}``, this session
    logged in at its stage; 202 with ``claim_pending: true`` and nobody logged in when an
    unverified registration held the address (its emailed link decides)."""
    refuse_password(body)
    user, stage = do_client_signup(request, check_client_signup(body))
    if user is None:  # an unverified registration held the address: its link decides
        return JsonResponse({"email_verification_sent": True, "claim_pending": True,
                             **_stage_payload(stages.STAGE_DONE)}, status=202)
    return JsonResponse({"email_verification_sent": not user.email_verified,
                         "claim_pending": False, **_stage_payload(stage)}, status=201)


@api_view("POST", fields=("email", "password", "auth_key"))
def login(request, body):
    """``{email, auth_key}`` -> ``{otp_required, email_verification_required,
    enrolment_required}``."""
    refuse_password(body)
    stage = do_client_login(request, body.get("email"), body.get("auth_key"))
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
    """Kept for clients that confirm their saved recovery code: the code is made and
    kept on the client, so the server never has a copy to forget (409 ``nothing_pending``,
    which those clients treat as done)."""
    raise ApiError("No recovery code is waiting for confirmation: the server never has one.",
                   code="nothing_pending", status=409)


@api_view("POST", fields=("token",))
def verify_email(request, body):
    """``{token}`` from the emailed link."""
    actions.do_verify_email(body.get("token"))
    return JsonResponse({"ok": True})


@api_view("POST", login_required=True)
def verify_email_resend(request, body):
    actions.do_resend_email_verification(request.user)
    return JsonResponse({"ok": True, "email_verification_sent": True})
