"""JSON endpoints of one's own account (docs/api.md).

Everything that changes the account's security asks for a step-up, which its
action checks (``accounts.stepup.check_step_up``) before any state changes.
Password change, rotation, export and reset run on the client
(accounts.api.clientchanges); the reset request here and the email confirmation
work without a login.
"""

from __future__ import annotations

import base64

from django.conf import settings
from django.http import JsonResponse

from accounts import actions, clientauth, otp, stages
from accounts.actions import directory
from accounts.api import api_view, text_field
from accounts.errors import ApiError
from accounts.models.pins import MAX_PIN_BLOB_BYTES
from accounts.stepup import STEP_UP_FIELDS


def me_payload(request) -> dict:
    user = request.user
    current = directory.current_generation(user)
    return {
        "email": user.email,
        "display_name": user.display_name,
        "pending_email": user.pending_email or None,
        "fingerprint": current.directory_fingerprint if current is not None else None,
        "otp_enabled": otp.has_second_factor(user),
        "email_verified": user.email_verified,
        "key_type": current.key_type if current is not None else None,
        "key_generation": current.number if current is not None else None,
        # The recovery code is made and kept on the client: never pending here.
        "recovery_code_pending": False,
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
    """A complete login (second factor done); else 401."""
    if not stages.login_complete(request.session):
        raise ApiError("Finish logging in first.", code="not_logged_in", status=401)


@api_view("GET", login_required=True)
def wrapped_identity(request, body):
    """Version 2: the identity wrapped under the client's wrap key, and the directory's
    generations for the client's self-check (``Cache-Control: no-store``)."""
    require_complete_login(request)
    wrapped, generations = directory.read_own_keys(request.user)
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
    """Version 2 key directory: ``?email=`` -> ``{id, email, display_name, key_generations}``
    of a verified
    account; unknown and unverified addresses are the same 404 (rate-limited per user)."""
    require_complete_login(request)
    user, generations = directory.lookup_directory(request.user, request.GET.get("email"))
    return JsonResponse({"id": user.pk, "email": user.email,
                         "display_name": user.display_name,
                         "key_generations": [generation_payload(g) for g in generations]})


@api_view("GET", login_required=True)
def me(request, body):
    """``{id, email, pending_email, fingerprint, otp_enabled, email_verified, key_type,
    key_generation, recovery_code_pending}`` (the browser binds its stored identity to
    ``id``; ``fingerprint`` is the directory's, which the client checks against its keys)."""
    require_complete_login(request)
    return JsonResponse({"id": request.user.pk, **me_payload(request)})


@api_view("PUT", fields=("display_name",), login_required=True)
def display_name(request, body):
    """``{display_name}`` (``""`` clears it): the name contacts see instead of the address."""
    require_complete_login(request)
    name = actions.do_set_display_name(request.user, body.get("display_name"))
    return JsonResponse({"display_name": name})


@api_view("POST", fields=("email",), login_required=True)
def invite(request, body):
    """``{email}``: 202 whoever holds the address (an invitation link goes to an unknown
    address, a reminder to an unverified account, nothing to a verified one, after the
    response, so the answer says nothing about the address)."""
    require_complete_login(request)
    address = actions.do_invite_contact(request.user, body.get("email"))
    return JsonResponse({"ok": True, "email": address,
                         "detail": f"If {address} has no SecureChat account yet, an "
                                   "invitation is on its way."}, status=202)


EMAIL_CHANGE_FIELDS = (*STEP_UP_FIELDS, "new_email", "new_account_salt", "new_auth_key",
                       "work_factor", "wrapped_identity")


@api_view("POST", fields=EMAIL_CHANGE_FIELDS, login_required=True)
def change_email(request, body):
    """``{auth_key, code?, new_email, new_account_salt, new_auth_key, work_factor,
    wrapped_identity}`` (protocol.md §27): a link goes to the new address; the address
    and the keys re-derived for it stay pending until it is opened."""
    require_complete_login(request)
    change = actions.check_email_change(request.user, body)  # 400 before the step-up
    pending = actions.do_request_email_change(request.user, change, step_up=body,
                                              request=request)
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
    actions.do_delete_own_account(request, step_up=body)
    return JsonResponse({"ok": True, "deleted": True})


@api_view("POST", fields=("email",))
def password_reset(request, body):
    """``{email}``: always 200; a link goes to the address when it has an active account."""
    actions.do_request_password_reset(body.get("email"), request=request)
    return JsonResponse({"ok": True, "detail": "If an account uses this address, a reset "
                                               "link is on its way."})
