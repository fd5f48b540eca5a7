"""JSON endpoints of the second factor: authenticator enrolment and backup codes.

Starting an enrolment, regenerating backup codes and removing the second
factor need the version 2 step-up (``accounts.stepup.require_step_up``: a fresh
``auth_key`` derived from the current password, and a fresh code when 2FA is on),
except the first enrolment of a login that mandatory 2FA holds in the "enrol"
stage. A ``password`` field is refused (400): the server never receives one.
"""

from __future__ import annotations

import django_otp
from django.http import JsonResponse

from accounts import actions, otp, stages
from accounts.api import api_view
from accounts.errors import ApiError
from accounts.stepup import STEP_UP_FIELDS, require_step_up

SESSION_PENDING_TOTP = "_securechat_pending_totp"


def in_enrolment(request) -> bool:
    return stages.auth_stage(request.session) == stages.STAGE_ENROL


def start_enrolment(request, body) -> dict:
    """Step-up (unless enrolling), a new unconfirmed device; what the user scans."""
    if not in_enrolment(request):
        require_step_up(request, body)
    device = actions.do_start_totp(request.user)
    request.session[SESSION_PENDING_TOTP] = device.pk
    uri = device.config_url
    return {"secret": otp.base32_secret(device), "otpauth_uri": uri, "qr_svg": otp.qr_svg(uri)}


def confirm_enrolment(request, code) -> list[str]:
    """Confirm the device this session started; finishes a mandatory-enrolment login."""
    device, codes = actions.do_confirm_totp(
        request.user, request.session.get(SESSION_PENDING_TOTP), code, request=request)
    request.session.pop(SESSION_PENDING_TOTP, None)
    if in_enrolment(request):
        actions.do_finish_enrolment(request, device)
    else:

        django_otp.login(request, device)  # this session is now verified by it
    return codes


@api_view("POST", "DELETE", fields=STEP_UP_FIELDS, login_required=True)
def totp(request, body):
    """POST ``{auth_key, code?}`` -> ``{secret, otpauth_uri, qr_svg}`` (``{}`` in the
    enrolment stage); DELETE ``{auth_key, code}`` removes 2FA."""
    if request.method == "DELETE":
        require_step_up(request, body)
        actions.do_remove_totp(request.user, request=request)
        return JsonResponse({"ok": True, "otp_enabled": False})
    return JsonResponse(start_enrolment(request, body), status=201)


@api_view("POST", fields=("code",), login_required=True)
def totp_confirm(request, body):
    """``{code}`` -> ``{backup_codes}`` (shown once)."""
    if request.session.get(SESSION_PENDING_TOTP) is None:
        raise ApiError("Start the authenticator setup first.", code="wrong_step", status=409)
    return JsonResponse({"backup_codes": confirm_enrolment(request, body.get("code"))})


@api_view("POST", fields=STEP_UP_FIELDS, login_required=True)
def backup_codes(request, body):
    """``{auth_key, code}`` -> ``{backup_codes}`` (a new set, shown once)."""
    if not otp.has_second_factor(request.user):
        raise ApiError("Set up an authenticator app first.", code="wrong_step", status=409)
    require_step_up(request, body)
    return JsonResponse({"backup_codes": actions.do_regenerate_backup_codes(
        request.user, request=request)})
