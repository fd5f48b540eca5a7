"""JSON endpoints of the second factor: authenticator enrolment and backup codes.

Starting an enrolment, regenerating backup codes and removing the second
factor need the version 2 step-up, which their actions check
(``accounts.stepup.check_step_up``: a fresh ``auth_key`` derived from the current
password, and a fresh code when 2FA is on), except the first enrolment of a login
that mandatory 2FA holds in the "enrol" stage. A ``password`` field is refused (400):
the server never receives one.
"""

from __future__ import annotations

from django.http import JsonResponse

from accounts import actions, otp
from accounts.api import api_view
from accounts.stepup import STEP_UP_FIELDS


@api_view("POST", "DELETE", fields=STEP_UP_FIELDS, login_required=True)
def totp(request, body):
    """POST ``{auth_key, code?}`` -> ``{secret, otpauth_uri, qr_svg}`` (``{}`` in the
    enrolment stage); DELETE ``{auth_key, code}`` removes 2FA."""
    if request.method == "DELETE":
        actions.do_remove_totp(request.user, step_up=body, request=request)
        return JsonResponse({"ok": True, "otp_enabled": False})
    device = actions.do_begin_totp_enrolment(request, step_up=body)
    uri = device.config_url
    return JsonResponse({"secret": otp.base32_secret(device), "otpauth_uri": uri,
                         "qr_svg": otp.qr_svg(uri)}, status=201)


@api_view("POST", fields=("code",), login_required=True)
def totp_confirm(request, body):
    """``{code}`` -> ``{backup_codes}`` (shown once)."""
    return JsonResponse({"backup_codes": actions.do_confirm_totp_enrolment(
        request, body.get("code"))})


@api_view("POST", fields=STEP_UP_FIELDS, login_required=True)
def backup_codes(request, body):
    """``{auth_key, code}`` -> ``{backup_codes}`` (a new set, shown once)."""
    return JsonResponse({"backup_codes": actions.do_regenerate_backup_codes(
        request.user, step_up=body, request=request)})
