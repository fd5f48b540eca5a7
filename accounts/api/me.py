"""JSON endpoints of one's own account (docs/api.md).

Everything that changes the account's security asks for the password again
and a fresh second-factor code when 2FA is on (``accounts.stepup``), before
any state changes. The password reset endpoints are the only ones here that
work without a login.
"""

from __future__ import annotations

import base64

from django.conf import settings
from django.contrib.auth import update_session_auth_hash
from django.http import HttpResponse, JsonResponse

from accounts import actions, clientauth, otp, unlock
from accounts.actions import directory
from accounts.api import api_view, text_field
from accounts.errors import ApiError
from accounts.models import KeyGeneration, WrappedIdentity
from accounts.models.pins import MAX_PIN_BLOB_BYTES
from accounts.stepup import STEP_UP_FIELDS, require_step_up

EXPORT_FILENAME = "securechat-identity.age"


unlocked_identity = unlock.require_unlocked_identity


def me_payload(request, identity_file) -> dict:
    user = request.user
    current = KeyGeneration.objects.current().filter(user=user).first()
    return {
        "email": user.email,
        "pending_email": user.pending_email or None,
        "fingerprint": identity_file.fingerprint() if identity_file is not None
        else current.directory_fingerprint,
        "otp_enabled": otp.has_second_factor(user),
        "email_verified": user.email_verified,
        "key_type": current.key_type if current is not None else None,
        "key_generation": identity_file.current_generation if identity_file is not None
        else current.number,
        "recovery_code_pending": unlock.pending_recovery_code(request) is not None,
    }


def generation_payload(row) -> dict:
    """A key generation as the directory shows it (also messaging's ``…/keys`` read)."""
    return {"number": row.number, "key_type": row.key_type, "recipient": row.recipient,
            "signing_key": clientauth.b64url(bytes(row.signing_public_key)),
            "endorsement": clientauth.b64url(bytes(row.endorsement)) if row.endorsement
            else None,
            "endorsement_back": clientauth.b64url(bytes(row.endorsement_back))
            if row.endorsement_back else None,
            "created_at": row.created_at.isoformat(),
            "retired_at": row.retired_at.isoformat() if row.retired_at else None}


def require_complete_login(request) -> None:
    """A complete login (second factor done), whichever version; else 401."""
    if unlock.auth_stage(request.session) != unlock.STAGE_DONE:
        raise ApiError("Finish logging in first.", code="not_logged_in", status=401)


@api_view("GET", login_required=True)
def wrapped_identity(request, body):
    """Version 2: the identity wrapped under the client's wrap key, and the directory's
    generations for the client's self-check (``Cache-Control: no-store``)."""
    require_complete_login(request)
    wrapped = WrappedIdentity.objects.select_related("user__client_auth").get(
        user=request.user)
    generations = KeyGeneration.objects.filter(user=request.user).order_by("-number")
    auth = getattr(wrapped.user, "client_auth", None)
    return JsonResponse({
        "user_id": request.user.pk,
        # The account's work factor and the server's: above the first, the client
        # re-derives and re-wraps (POST /api/v1/me/v2/work-factor).
        "work_factor": auth.work_factor if auth is not None else None,
        "target_work_factor": settings.SECURECHAT_CLIENT_WORK_FACTOR,
        "wrapped_identity": base64.b64encode(bytes(wrapped.password_blob)).decode(),
        "key_generations": [generation_payload(row) for row in generations],
    })


@api_view("GET", login_required=True)
def device_key(request, body):
    """Version 2: this login session's device key, ``HMAC(DEVICE_KEY_SECRET, session key)``.

    The browser imports it non-extractable to keep the unwrapped identity across
    reloads; it dies with the session (logout, revocation, idle timeout).
    """
    require_complete_login(request)
    key = clientauth.device_key(request.session.session_key)
    return JsonResponse({"device_key": clientauth.b64url(key)})


PIN_BODY_BYTES = 1536 * 1024  # 1 MiB of blob, base64 in JSON


@api_view("GET", "PUT", fields=("version", "blob"), login_required=True,
          max_body=PIN_BODY_BYTES)
def pins(request, body):
    """Version 2 pin blob: GET ``{version, blob}`` (version 0 and no blob before the first
    write); PUT ``{version, blob}`` stores it when ``version`` is the stored one plus 1, else
    409 ``version_conflict`` with the stored ``version`` and ``blob`` to merge with."""
    require_complete_login(request)
    if request.method == "PUT":
        blob = clientauth.b64_field(body.get("blob"), "blob", MAX_PIN_BLOB_BYTES)
        stored = directory.do_store_pins(request.user, body.get("version"), blob)
        return JsonResponse({"version": stored.version})
    stored = directory.read_pins(request.user)
    return JsonResponse({"version": stored.version if stored else 0,
                         "blob": base64.b64encode(bytes(stored.blob)).decode() if stored
                         else None})


@api_view("GET", login_required=True)
def directory_entry(request, body):
    """Version 2 key directory: ``?email=`` -> ``{id, email, key_generations}`` of a verified
    account; unknown and unverified addresses are the same 404 (rate-limited per user)."""
    require_complete_login(request)
    user, generations = directory.lookup_directory(request.user, request.GET.get("email"))
    return JsonResponse({"id": user.pk, "email": user.email,
                         "key_generations": [generation_payload(g) for g in generations]})


@api_view("GET", login_required=True)
def me(request, body):
    """``{email, fingerprint, otp_enabled, email_verified, key_type, recovery_code_pending}``;
    version 2 sessions get ``id`` too (the browser binds its stored identity to it)."""
    if unlock.client_custody(request.session):
        require_complete_login(request)
        return JsonResponse({"id": request.user.pk, **me_payload(request, None)})
    identity_file = unlocked_identity(request)
    return JsonResponse(me_payload(request, identity_file))


@api_view("POST", fields=("password", "new_password", "code"), login_required=True)
def change_password(request, body):
    """``{password, new_password, code?}``: same keys, new wrapping; other sessions end."""
    identity_file = unlocked_identity(request)
    actions.check_password_shape(body.get("new_password"), request.user)
    require_step_up(request, body.get("password"), body.get("code"))
    old_key = request.session.session_key
    actions.do_change_password(request.user, identity_file, body.get("new_password"),
                               keep_session_key=old_key, request=request)
    update_session_auth_hash(request, request.user)  # keeps this session, new key
    actions.rekey_login_session(old_key, request.session.session_key)
    return JsonResponse({"ok": True, "other_sessions_ended": True})


@api_view("POST", fields=("password", "code"), login_required=True)
def export_identity(request, body):
    """``{password, code?}`` -> the password-wrapped identity, an age file (scrypt)."""
    unlocked_identity(request)
    require_step_up(request, body.get("password"), body.get("code"))
    blob = actions.do_export_identity(request.user, request=request)
    response = HttpResponse(blob, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{EXPORT_FILENAME}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


EMAIL_CHANGE_FIELDS = (*STEP_UP_FIELDS, "new_email", "new_account_salt", "new_auth_key",
                       "work_factor", "wrapped_identity")


@api_view("POST", fields=EMAIL_CHANGE_FIELDS, login_required=True)
def change_email(request, body):
    """``{auth_key, code?, new_email, new_account_salt, new_auth_key, work_factor,
    wrapped_identity}`` (protocol.md §27): a link goes to the new address; the address
    and the keys re-derived for it stay pending until it is opened."""
    require_complete_login(request)
    change = actions.check_email_change(request.user, body)  # 400 before the step-up
    require_step_up(request, body)
    pending = actions.do_request_email_change(request.user, change, request=request)
    return JsonResponse({"ok": True, "pending_email": pending}, status=202)


@api_view("POST", fields=("token",))
def confirm_email(request, body):
    """``{token}`` from the link sent to the new address (works without a login): the
    address, account salt, auth hash and wrapped identity switch together."""
    user = actions.do_confirm_email_change(text_field(body, "token"), request=request)
    return JsonResponse({"ok": True, "email": user.email})


@api_view("POST", fields=STEP_UP_FIELDS, login_required=True)
def delete_account(request, body):
    """``{auth_key, code?}``: the account, its keys and sessions are deleted."""
    require_complete_login(request)
    require_step_up(request, body)
    actions.do_delete_account(request.user, request=request)
    unlock.forget_everything(request)
    request.session.flush()
    return JsonResponse({"ok": True, "deleted": True})


@api_view("POST", fields=("email",))
def password_reset(request, body):
    """``{email}``: always 200; a link goes to the address when it has an active account."""
    actions.rate_limit("reset_address", actions.client_ip(request))
    actions.do_request_password_reset(body.get("email"), request=request)
    return JsonResponse({"ok": True, "detail": "If an account uses this address, a reset "
                                               "link is on its way."})


@api_view("POST", fields=("uid", "token", "new_password", "recovery_code", "code"))
def password_reset_confirm(request, body):
    """``{uid, token, new_password, recovery_code?, code?}`` -> ``{keys_kept, recovery_code}``."""
    actions.rate_limit("reset_address", actions.client_ip(request))
    result = actions.do_reset_password(
        body.get("uid"), body.get("token"), body.get("new_password"),
        recovery_code=text_field(body, "recovery_code") or None,
        code=body.get("code"), request=request)
    return JsonResponse(reset_payload(result))


def reset_payload(result) -> dict:
    if result.keys_kept:
        detail = ("Your password is reset and your history is kept. Your recovery code "
                  "changed: save the new one now, it is shown only once.")
    else:
        detail = ("Your password is reset with NEW keys: messages and files from before "
                  "the reset can no longer be read, and your contacts will see that your "
                  "keys changed. Save your new recovery code now, it is shown only once.")
    return {"ok": True, "keys_kept": result.keys_kept, "old_content_readable": result.keys_kept,
            "recovery_code": result.recovery_code, "detail": detail}
