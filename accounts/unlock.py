"""The unlocked identity of a login session (DESIGN.md §1, §4).

After the password step the identity file is sealed with ChaCha20-Poly1305
under a key derived from a random 32-byte secret that lives only in the
user's ``securechat_key`` cookie; the sealed box lives in the session (the
database). Neither the session store without the cookie, nor the cookie
without the session store, opens it. Logout flushes the session and deletes
the cookie.

The box is only usable once the login is complete (``auth_stage`` is
``"done"``): a half-logged-in session holds a sealed box it cannot use.

Websocket consumers read the same two halves from their scope (cookies and
session), so the same rules hold there.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from accounts.errors import ApiError
from accounts.identity import IdentityFile, IdentityFileError

KEY_COOKIE_NAME = "securechat_key"
SESSION_IDENTITY = "_securechat_identity"
SESSION_RECOVERY_CODE = "_securechat_recovery_code"
SESSION_STAGE = "_securechat_auth_stage"
# Version 2: the keys never reach this session (the client keeps them); no key cookie.
SESSION_CUSTODY = "_securechat_custody"

STAGE_DONE = "done"
STAGE_OTP = "otp"  # password accepted, a confirmed device must verify a code
STAGE_ENROL = "enrol"  # password accepted, 2FA is mandatory and no device is confirmed yet
# Before "enrol": 2FA is mandatory and the address is not verified yet (an unverified
# registration may be a squatter's, who must not dig in behind a second factor).
STAGE_VERIFY = "verify"

NEW_SECRET_ATTR = "_securechat_new_key_secret"  # noqa: S105 - an attribute name
DELETE_COOKIE_ATTR = "_securechat_delete_key_cookie"


def _aead(secret: bytes, purpose: bytes) -> ChaCha20Poly1305:
    key = HKDF(algorithm=SHA256(), length=32, salt=b"securechat-session-box-v1",
               info=purpose).derive(secret)
    return ChaCha20Poly1305(key)


def _decode_secret(value: str | None) -> bytes | None:
    if not value or len(value) > 100:
        return None
    try:
        secret = base64.urlsafe_b64decode(value.encode() + b"=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return secret if len(secret) == 32 else None


def _seal(secret: bytes, purpose: bytes, user_id, plaintext: bytes) -> str:
    nonce = secrets.token_bytes(12)
    sealed = _aead(secret, purpose).encrypt(nonce, plaintext, str(user_id).encode())
    return base64.b64encode(nonce + sealed).decode()


def _open(secret: bytes | None, purpose: bytes, user_id, box: str | None) -> bytes | None:
    if secret is None or not box:
        return None
    try:
        raw = base64.b64decode(box)
        return _aead(secret, purpose).decrypt(raw[:12], raw[12:], str(user_id).encode())
    except (binascii.Error, ValueError, InvalidTag):
        return None


# --- Request side -------------------------------------------------------------

def cookie_secret(request) -> bytes | None:
    """This request's key secret: one just issued on this request, or the cookie's."""
    fresh = getattr(request, NEW_SECRET_ATTR, None)
    if fresh is not None:
        return fresh
    return _decode_secret(request.COOKIES.get(KEY_COOKIE_NAME))


def ensure_cookie_secret(request) -> bytes:
    """The key secret, issuing a new one (set on the response by the middleware) if none."""
    secret = cookie_secret(request)
    if secret is None:
        secret = secrets.token_bytes(32)
        setattr(request, NEW_SECRET_ATTR, secret)
    return secret


def seal_identity(request, user, identity_file: IdentityFile, stage: str) -> None:
    """Keep the identity for this login session, sealed under a fresh cookie secret."""
    secret = secrets.token_bytes(32)
    setattr(request, NEW_SECRET_ATTR, secret)
    request.session[SESSION_IDENTITY] = _seal(secret, b"identity", user.pk,
                                              identity_file.serialize())
    request.session[SESSION_STAGE] = stage


def start_client_custody(request, stage: str) -> None:
    """A version 2 login: no identity is sealed here and no key cookie is needed."""
    request.session[SESSION_CUSTODY] = "client"
    request.session[SESSION_STAGE] = stage


def client_custody(session) -> bool:
    return session.get(SESSION_CUSTODY) == "client"


def reseal_identity(request, user, identity_file: IdentityFile) -> None:
    """Replace the sealed identity (after a key change) under the current secret."""
    secret = ensure_cookie_secret(request)
    request.session[SESSION_IDENTITY] = _seal(secret, b"identity", user.pk,
                                              identity_file.serialize())


def auth_stage(session) -> str | None:
    return session.get(SESSION_STAGE)


def set_auth_stage(request, stage: str) -> None:
    request.session[SESSION_STAGE] = stage


def _identity_from(secret, session, user) -> IdentityFile | None:
    data = _open(secret, b"identity", user.pk, session.get(SESSION_IDENTITY))
    if data is None:
        return None
    try:
        return IdentityFile.parse(data)
    except IdentityFileError:
        return None


def pending_identity(request) -> IdentityFile | None:
    """The sealed identity whatever the stage (for the login steps themselves)."""
    if not request.user.is_authenticated:
        return None
    return _identity_from(cookie_secret(request), request.session, request.user)


def unlocked_identity(request) -> IdentityFile | None:
    """The usable identity of a complete login, or None (locked, half-logged-in, no cookie)."""
    if not request.user.is_authenticated or auth_stage(request.session) != STAGE_DONE:
        return None
    return _identity_from(cookie_secret(request), request.session, request.user)


def require_unlocked_identity(request) -> IdentityFile:
    """The unlocked identity of this request, or 401 ``locked`` (``ApiError``)."""
    identity_file = unlocked_identity(request)
    if identity_file is None:
        raise ApiError("Your keys are not unlocked in this session; log in again.",
                       code="locked", status=401)
    return identity_file


def has_key_cookie(request) -> bool:
    return cookie_secret(request) is not None


def stash_recovery_code(request, user, code: str) -> None:
    """Keep the recovery code, sealed under the cookie secret, until the user confirms it."""
    secret = ensure_cookie_secret(request)
    request.session[SESSION_RECOVERY_CODE] = _seal(secret, b"recovery-code", user.pk,
                                                   code.encode())


def pending_recovery_code(request) -> str | None:
    if not request.user.is_authenticated:
        return None
    data = _open(cookie_secret(request), b"recovery-code", request.user.pk,
                 request.session.get(SESSION_RECOVERY_CODE))
    return data.decode() if data is not None else None


def forget_recovery_code(request) -> None:
    request.session.pop(SESSION_RECOVERY_CODE, None)


def forget_everything(request) -> None:
    """Logout: the response deletes the cookie; the caller flushes the session."""
    request.session.pop(SESSION_IDENTITY, None)
    request.session.pop(SESSION_RECOVERY_CODE, None)
    request.session.pop(SESSION_STAGE, None)
    request.session.pop(SESSION_CUSTODY, None)
    setattr(request, DELETE_COOKIE_ATTR, True)


# --- Websocket side -------------------------------------------------------------

def unlocked_identity_from_scope(scope) -> IdentityFile | None:
    """The same rule for a websocket scope (cookies + session + user)."""
    user = scope.get("user")
    session = scope.get("session")
    if user is None or not user.is_authenticated or session is None:
        return None
    if session.get(SESSION_STAGE) != STAGE_DONE:
        return None
    secret = _decode_secret(scope.get("cookies", {}).get(KEY_COOKIE_NAME))
    return _identity_from(secret, session, user)


# --- Response side ---------------------------------------------------------------

def apply_key_cookie(request, response) -> None:
    """Set or delete the key cookie; same flags and lifetime as the session cookie."""
    if getattr(request, DELETE_COOKIE_ATTR, False):
        response.delete_cookie(KEY_COOKIE_NAME, samesite=settings.SESSION_COOKIE_SAMESITE)
        return
    secret = getattr(request, NEW_SECRET_ATTR, None)
    if secret is not None:
        response.set_cookie(
            KEY_COOKIE_NAME,
            base64.urlsafe_b64encode(secret).decode().rstrip("="),
            max_age=settings.SESSION_COOKIE_AGE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite=settings.SESSION_COOKIE_SAMESITE,
        )
