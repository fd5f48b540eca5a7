"""JSON endpoints of version 2 account changes (docs/api.md "Version 2 account changes").

Each endpoint checks every field's shape first (a malformed request costs no
second-factor code), then applies one action, which checks the step-up before it
changes anything. Nothing here
receives a password: only auth keys, wrapped identities and public material.
"""

from __future__ import annotations

import base64

from django.http import JsonResponse

from accounts import actions, clientauth
from accounts.actions import clientchanges as changes
from accounts.actions import heldreset
from accounts.api import api_view
from accounts.api.me import generation_payload, require_complete_login

BODY_BYTES = 256 * 1024  # two wrapped identities of many hybrid generations, in base64
ROTATION_FIELDS = ("generation", "recipient", "signing_key", "endorsement", "endorsement_back",
                   "recovery_wrapped")


@api_view("POST", fields=("auth_key", "code", "new_auth_key", "work_factor",
                          "wrapped_identity", *ROTATION_FIELDS),
          login_required=True, max_body=BODY_BYTES)
def change_password(request, body):
    """``{auth_key, code?, new_auth_key, work_factor, wrapped_identity}`` plus, to rotate the
    keys in the same request, the rotate-keys fields; other sessions end."""
    require_complete_login(request)
    user = request.user
    rewrap = changes.check_rewrap(changes.client_auth_of(user), body)
    rotating = any(name in body for name in ROTATION_FIELDS)
    rotation = changes.check_rotation(user, body) if rotating else None
    changes.do_client_change_password(user, rewrap, rotation, step_up=body,
                                      keep_session_key=request.session.session_key,
                                      request=request)
    return JsonResponse({"ok": True, "other_sessions_ended": True,
                         "key_generation": rotation.generation if rotation else None})


@api_view("POST", fields=("auth_key", "code", "wrapped_identity", *ROTATION_FIELDS),
          login_required=True, max_body=BODY_BYTES)
def rotate_keys(request, body):
    """``{auth_key, code?, generation, recipient, signing_key, endorsement, endorsement_back,
    wrapped_identity, recovery_wrapped}``: the next generation, endorsed both ways."""
    require_complete_login(request)
    user = request.user
    changes.client_auth_of(user)
    rotation = changes.check_rotation(user, body)
    changes.do_client_rotate_keys(user, rotation, step_up=body,
                                  keep_session_key=request.session.session_key, request=request)
    return JsonResponse({"ok": True, "key_generation": rotation.generation,
                         "other_sessions_ended": True})


@api_view("POST", fields=("auth_key", "new_auth_key", "work_factor", "wrapped_identity"),
          login_required=True, max_body=BODY_BYTES)
def upgrade_work_factor(request, body):
    """``{auth_key, new_auth_key, work_factor, wrapped_identity}`` within 10 minutes of the
    login, when the server's work factor is above the account's."""
    require_complete_login(request)
    rewrap = changes.check_work_factor_upgrade(request.user, request.session.session_key, body)
    changes.do_client_upgrade_work_factor(request.user, rewrap, request=request)
    return JsonResponse({"ok": True, "work_factor": rewrap.work_factor})


@api_view("POST", fields=("auth_key", "code"), login_required=True)
def note_export(request, body):
    """``{auth_key, code?}``: the step-up before the client exports its identity (it
    re-wraps the file itself); audited, and the owner gets the security email."""
    require_complete_login(request)
    changes.do_client_note_export(request.user, step_up=body, request=request)
    return JsonResponse({"ok": True})


@api_view("POST", fields=("uid", "token"))
def reset_recovery(request, body):
    """``{uid, token}`` from the reset link -> the recovery copy and the key directory rows,
    for the client to open with the recovery code and check (changes nothing)."""
    found = changes.reset_recovery_material(body.get("uid"), body.get("token"),
                                            ip=actions.client_ip(request))
    return JsonResponse({
        "user_id": found["user"].pk, "email": found["user"].email,
        "key_type": found["generations"][0].key_type if found["generations"] else None,
        "account_salt": clientauth.b64url(bytes(found["row"].account_salt)),
        "work_factor": found["target_work_factor"],
        "recovery_wrapped": base64.b64encode(found["recovery_wrapped"]).decode(),
        "key_generations": [generation_payload(g) for g in found["generations"]]})


@api_view("POST", fields=("uid", "token", "code", "auth_key", "work_factor", "wrapped_identity",
                          "recovery_wrapped"), max_body=BODY_BYTES)
def reset_confirm(request, body):
    """``{uid, token, code?, auth_key, work_factor, wrapped_identity, recovery_wrapped}``:
    new password and recovery code on the same keys; every session ends."""
    reset = changes.check_recovery_reset(body.get("uid"), body.get("token"), body,
                                         ip=actions.client_ip(request))
    changes.do_client_recovery_reset(body.get("uid"), body.get("token"), reset, request=request)
    return JsonResponse({"ok": True, "keys_kept": True})


@api_view("POST", fields=("uid", "token", "code", "auth_key", "work_factor", "wrapped_identity",
                          "recovery_wrapped", "generation", "recipient", "signing_key"),
          max_body=BODY_BYTES)
def reset_hold(request, body):
    """A reset without the recovery code: new keys (the next generation, unendorsed) and
    password, held ``SECURECHAT_RESET_HOLD`` hours -> 202 ``{held, hold, publish_at}``."""
    held = heldreset.check_hold(body.get("uid"), body.get("token"), body,
                                ip=actions.client_ip(request))
    row = heldreset.do_hold_reset(body.get("uid"), body.get("token"), held, request=request)
    return JsonResponse({"held": True, "hold": row.pk, "publish_at": row.publish_at.isoformat()},
                        status=202)


@api_view("POST", fields=("user_id", "hold", "signature", "cancel_token"))
def reset_cancel(request, body):
    """Cancel a held reset: ``{cancel_token}`` from the email, ``{user_id, hold,
    signature}`` signed by the current generation, or ``{}`` from a complete session."""
    hold, how = heldreset.check_cancel(request, body)
    heldreset.do_cancel_held_reset(hold, how, request=request)
    return JsonResponse({"ok": True, "cancelled": hold.pk})


@api_view("GET", login_required=True)
def pending_reset(request, body):
    """``{user_id, hold: {id, publish_at} | null}``: a reset waiting on this account."""
    require_complete_login(request)
    hold = heldreset.pending_hold(request.user)
    return JsonResponse({"user_id": request.user.pk, "hold": {
        "id": hold.pk, "publish_at": hold.publish_at.isoformat()} if hold else None})
