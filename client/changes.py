"""Account changes made on the client: password change, key rotation, work-factor upgrade
and the reset with the recovery code (DESIGN.md §3, §4; docs/api.md).

    change    POST /api/v1/me/v2/password {auth_key, code?, new_auth_key, work_factor,
                                           wrapped_identity, [rotation fields]}
    rotate    POST /api/v1/me/v2/rotate-keys {auth_key, code?, generation, recipient,
                                              signing_key, endorsement, endorsement_back,
                                              wrapped_identity, recovery_wrapped}
    upgrade   POST /api/v1/me/v2/work-factor {auth_key, new_auth_key, work_factor,
                                              wrapped_identity}
    reset     POST /api/v1/auth/v2/reset/recovery {uid, token}
              POST /api/v1/auth/v2/reset/confirm {uid, token, code?, auth_key, work_factor,
                                                  wrapped_identity, recovery_wrapped}
    hold      POST /api/v1/auth/v2/reset/hold {… as confirm, generation, recipient,
                                               signing_key}   (without the recovery code)
    cancel    GET  /api/v1/me/v2/reset; POST /api/v1/auth/v2/reset/cancel
                                        {user_id, hold, signature}

What leaves this machine is what the server stores: auth keys (derived, never the
password), age files (one scrypt stanza of work factor 10 over ``wrap_key``, or to a
recovery recipient made here), public keys and endorsement signatures. Step-up is a
fresh ``auth_key`` from the current password; a second-factor code is read only when
the server answers ``code_required`` (a refused request changed nothing).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass

from . import account, signing
from . import statements as st
from .account import KnownAccounts, Params, Unlocked, _b64url, _b64url_encode, _member
from .account import _b64 as _b64_decode
from .derivation import MIN_WORK_FACTOR, check_work_factor, derive_keys
from .endorsement import Endorsed, sign_endorsement, verify_endorsement
from .errors import (
    ApiFailure,
    DirectoryMismatch,
    ProtocolError,
    SignatureError,
    StatementError,
    UsageError,
)
from .http import Session
from .identity import IdentityFile, unwrap_with_recovery, wrap_to_recovery, wrap_with_passphrase
from .normalise import normalise_email
from .recovery import KEY_TYPES, generate_code, recovery_identity

__all__ = [
    "RESET_CANCEL",
    "ResetLink",
    "change_password",
    "check_endorsement_chain",
    "parse_reset_link",
    "reset_with_recovery_code",
    "rotate_keys",
    "rotation_fields",
    "upgrade_work_factor",
]

ReadCode = Callable[[], str]

# A cancel of a held reset, signed by the account's current generation (protocol.md §25).
RESET_CANCEL = st.Schema(
    "securechat/v2/reset-cancel",
    (st.Field("user_id", st.Kind.U64), st.Field("hold", st.Kind.U64)),
)


def reset_cancel_statement(user_id: int, hold: int) -> bytes:
    return st.encode(RESET_CANCEL, {"user_id": user_id, "hold": hold})
_RESET_PATH = re.compile(r"/password-reset/([A-Za-z0-9_-]{1,40})/([A-Za-z0-9_-]{1,100})/?$")


def _post_stepped_up(session: Session, path: str, body: dict, read_code: ReadCode):
    """POST ``body``; when the server asks for a second-factor code, read one and resend."""
    try:
        return session.post(path, body)
    except ApiFailure as exc:
        if exc.code != "code_required":
            raise
    return session.post(path, {**body, "code": read_code()})


def _b64(data: bytes) -> str:
    """Standard base64 (how age files travel in JSON)."""
    return base64.b64encode(data).decode("ascii")


# --- endorsements -------------------------------------------------------------------


def _endorsed(user_id: int, entry: dict) -> Endorsed:
    return Endorsed(user_id, _member(entry, "number", int), _member(entry, "recipient", str),
                    _b64url(_member(entry, "signing_key", str), 32))


def check_endorsement_chain(user_id: int, generations: list, since: int = 1) -> None:
    """Refuse unless every generation after the first is endorsed both ways by its
    predecessor (protocol.md §11): the old key signed the new keys and the new key
    signed the old ones. With :func:`account.self_check` (the newest signing key is the
    identity's), this ties every older generation's keys to the identity. ``since`` is
    the identity file's oldest generation: one made by a reset without the recovery
    code starts unendorsed, and what precedes it is not this file's to check."""
    by_number = {_member(e, "number", int): e for e in generations}
    numbers = sorted(n for n in by_number if n >= since)
    for previous, number in zip(numbers, numbers[1:], strict=False):
        entry = by_number[number]
        if previous != number - 1:
            raise DirectoryMismatch(f"the directory skips key generation {number - 1}")
        forward, back = entry.get("endorsement"), entry.get("endorsement_back")
        if not isinstance(forward, str) or not isinstance(back, str):
            raise DirectoryMismatch(
                f"key generation {number} is not endorsed both ways by generation {previous}")
        old, new = _endorsed(user_id, by_number[previous]), _endorsed(user_id, entry)
        forward, back = _b64url(forward, 64), _b64url(back, 64)
        try:
            verify_endorsement(old.ed25519, new.to_bytes(), forward)
            verify_endorsement(new.ed25519, old.to_bytes(), back)
        except (SignatureError, StatementError):
            raise DirectoryMismatch(
                f"the endorsements of key generation {number} do not verify") from None


def rotation_fields(identity: IdentityFile, user_id: int, key_type: str,
                    ) -> tuple[IdentityFile, dict]:
    """The next generation (new age and signing keys) and the request fields publishing it:
    its public keys, both endorsements and the recovery copy of the new file."""
    if key_type not in KEY_TYPES:
        raise ProtocolError("the directory names an unknown key type")
    new = identity.with_new_generation(key_type)
    new_keys = Endorsed(user_id, new.current_generation, new.recipient(),
                        new.signing_public_key())
    old_keys = Endorsed(user_id, identity.current_generation, identity.recipient(),
                        identity.signing_public_key())
    _, forward = sign_endorsement(identity.signing_key, new_keys)
    _, back = sign_endorsement(new.signing_key, old_keys)
    return new, {
        "generation": new.current_generation, "recipient": new.recipient(),
        "signing_key": _b64url_encode(new.signing_public_key()),
        "endorsement": _b64url_encode(forward), "endorsement_back": _b64url_encode(back),
        "recovery_wrapped": _b64(wrap_to_recovery(new)),
    }


def _key_type(unlocked: Unlocked) -> str:
    newest = max(unlocked.generations, key=lambda e: _member(e, "number", int))
    return _member(newest, "key_type", str)


def _user_id(unlocked: Unlocked) -> int:
    if unlocked.user_id is None:
        raise ProtocolError("the server's answer lacks a valid 'user_id'")
    return unlocked.user_id


# --- changes while logged in --------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Changed:
    identity: IdentityFile
    params: Params


def _target(unlocked: Unlocked, params: Params, min_work_factor: int) -> int:
    """The work factor new wrappings use: the server's, checked, never below the account's."""
    target = max(params.work_factor, unlocked.target_work_factor or params.work_factor)
    return check_work_factor(target, min_work_factor=min_work_factor)


def change_password(
    session: Session, email: str, password: str, new_password: str, known: KnownAccounts,
    read_code: ReadCode, *, rotate: bool = False, min_work_factor: int = MIN_WORK_FACTOR,
) -> Changed:
    """Unlock with the current password, then re-derive and re-wrap (and optionally rotate)
    in one request. Other sessions end on the server."""
    params, keys = account.derive(session, email, password, known,
                                  min_work_factor=min_work_factor)
    unlocked = account.unlock(session, keys)
    target = _target(unlocked, params, min_work_factor)
    identity, extra = unlocked.identity, {}
    if rotate:
        identity, extra = rotation_fields(identity, _user_id(unlocked), _key_type(unlocked))
    new_keys = derive_keys(email, params.account_salt, new_password, target,
                           min_work_factor=min_work_factor)
    body = {"auth_key": _b64url_encode(keys.auth_key),
            "new_auth_key": _b64url_encode(new_keys.auth_key), "work_factor": target,
            "wrapped_identity": _b64(wrap_with_passphrase(identity, new_keys.passphrase)),
            **extra}
    _post_stepped_up(session, "/api/v1/me/v2/password", body, read_code)
    new_params = Params(params.account_salt, target)
    known.remember(session.origin, email, new_params)
    return Changed(identity, new_params)


def rotate_keys(
    session: Session, email: str, password: str, known: KnownAccounts, read_code: ReadCode, *,
    min_work_factor: int = MIN_WORK_FACTOR,
) -> Changed:
    """A new generation endorsed both ways, wrapped under the same password."""
    params, keys = account.derive(session, email, password, known,
                                  min_work_factor=min_work_factor)
    unlocked = account.unlock(session, keys)
    identity, extra = rotation_fields(unlocked.identity, _user_id(unlocked),
                                      _key_type(unlocked))
    body = {"auth_key": _b64url_encode(keys.auth_key),
            "wrapped_identity": _b64(wrap_with_passphrase(identity, keys.passphrase)), **extra}
    _post_stepped_up(session, "/api/v1/me/v2/rotate-keys", body, read_code)
    return Changed(identity, params)


def upgrade_work_factor(
    session: Session, email: str, password: str, unlocked: Unlocked, params: Params,
    known: KnownAccounts, *, min_work_factor: int = MIN_WORK_FACTOR,
) -> Params:
    """Right after login: when the server's work factor is above the account's, re-derive
    at it and re-wrap in one request. Returns the parameters now in force."""
    target = _target(unlocked, params, min_work_factor)
    if target <= params.work_factor:
        return params
    new_keys = derive_keys(email, params.account_salt, password, target,
                           min_work_factor=min_work_factor)
    session.post("/api/v1/me/v2/work-factor", {
        "auth_key": _b64url_encode(unlocked.keys.auth_key),
        "new_auth_key": _b64url_encode(new_keys.auth_key), "work_factor": target,
        "wrapped_identity": _b64(wrap_with_passphrase(unlocked.identity, new_keys.passphrase)),
    })
    new_params = Params(params.account_salt, target)
    known.remember(session.origin, email, new_params)
    return new_params


# --- reset with the recovery code ---------------------------------------------------


@dataclass(frozen=True, repr=False)
class ResetLink:
    uid: str
    token: str


def parse_reset_link(text: str) -> ResetLink:
    """The ``uid`` and ``token`` of an emailed reset link (``…/password-reset/UID/TOKEN/``)."""
    match = _RESET_PATH.search(text.strip().split("?")[0].split("#")[0]) \
        if isinstance(text, str) else None
    if match is None:
        raise UsageError("that is not a reset link (…/password-reset/…/…/)")
    return ResetLink(match.group(1), match.group(2))


_CANCEL_PATH = re.compile(r"/password-reset/cancel/([A-Za-z0-9_-]{20,100})/?$")


def parse_cancel_link(text: str) -> str:
    """The token of an emailed cancel link (``…/password-reset/cancel/TOKEN``)."""
    match = _CANCEL_PATH.search(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise UsageError("that is not a cancel link (…/password-reset/cancel/…)")
    return match.group(1)


@dataclass(frozen=True, repr=False)
class Recovered:
    identity: IdentityFile
    recovery_code: str  # the NEW code, shown once; never sent
    params: Params


def open_recovery(material: dict, email: str, recovery_code: str) -> IdentityFile:
    """Open the recovery copy with the code, then check it against the directory's
    generations and endorsement chain; stop (:class:`DirectoryMismatch`) otherwise."""
    if normalise_email(_member(material, "email", str)) != normalise_email(email):
        raise ProtocolError("the reset link is for another address")
    key_type = _member(material, "key_type", str)
    if key_type not in KEY_TYPES:
        raise ProtocolError("the server names an unknown key type")
    identity = unwrap_with_recovery(_b64_decode(_member(material, "recovery_wrapped", str)),
                                    recovery_code, key_type)
    generations = _member(material, "key_generations", list)
    account.self_check(identity, generations)
    check_endorsement_chain(_member(material, "user_id", int), generations,
                            since=min(n for n, _ in identity.generations))
    return identity


def reset_with_recovery_code(
    session: Session, email: str, link: ResetLink, recovery_code: str,
    read_new_password: Callable[[], str], known: KnownAccounts, read_code: ReadCode, *,
    min_work_factor: int = MIN_WORK_FACTOR,
) -> Recovered:
    """Reset the password keeping the keys; the recovery code rotates (a new one is made
    here and written into the identity file)."""
    material = session.post("/api/v1/auth/v2/reset/recovery",
                            {"uid": link.uid, "token": link.token})
    identity = open_recovery(material, email, recovery_code)
    new_code = generate_code()
    key_type = _member(material, "key_type", str)
    identity = identity.with_recovery_recipient(
        str(recovery_identity(new_code, key_type).recipient()))
    params = account.prelogin(session, email, min_work_factor=min_work_factor)
    known.check(session.origin, email, params)
    if _b64url(_member(material, "account_salt", str), 16) != params.account_salt:
        raise ProtocolError("the reset answer's account salt differs from prelogin's")
    target = check_work_factor(_member(material, "work_factor", int),
                               min_work_factor=min_work_factor)
    target = max(target, params.work_factor)
    new_password = read_new_password()
    keys = derive_keys(email, params.account_salt, new_password, target,
                       min_work_factor=min_work_factor)
    _post_stepped_up(session, "/api/v1/auth/v2/reset/confirm", {
        "uid": link.uid, "token": link.token, "auth_key": _b64url_encode(keys.auth_key),
        "work_factor": target,
        "wrapped_identity": _b64(wrap_with_passphrase(identity, keys.passphrase)),
        "recovery_wrapped": _b64(wrap_to_recovery(identity)),
    }, read_code)
    new_params = Params(params.account_salt, target)
    known.remember(session.origin, email, new_params)
    return Recovered(identity, new_code, new_params)


# --- reset without the recovery code (held) ---------------------------------------


@dataclass(frozen=True, repr=False)
class Held:
    identity: IdentityFile  # only the new generation: older content is not readable
    recovery_code: str
    publish_at: str


def hold_reset(
    session: Session, email: str, link: ResetLink, read_new_password: Callable[[], str],
    known: KnownAccounts, read_code: ReadCode, *, min_work_factor: int = MIN_WORK_FACTOR,
) -> Held:
    """Ask for a reset without the recovery code: new keys (one new, unendorsed
    generation), a new recovery code and password, held by the server before they
    take effect (cancellable meanwhile)."""
    material = session.post("/api/v1/auth/v2/reset/recovery",
                            {"uid": link.uid, "token": link.token})
    if normalise_email(_member(material, "email", str)) != normalise_email(email):
        raise ProtocolError("the reset link is for another address")
    key_type = _member(material, "key_type", str)
    if key_type not in KEY_TYPES:
        raise ProtocolError("the server names an unknown key type")
    newest = max((_member(e, "number", int) for e in _member(material, "key_generations", list)),
                 default=0)
    code = generate_code()
    identity = IdentityFile.create(key_type, str(recovery_identity(code, key_type).recipient()),
                                   generation=newest + 1)
    params = account.prelogin(session, email, min_work_factor=min_work_factor)
    known.check(session.origin, email, params)
    target = max(check_work_factor(_member(material, "work_factor", int),
                                   min_work_factor=min_work_factor), params.work_factor)
    keys = derive_keys(email, params.account_salt, read_new_password(), target,
                       min_work_factor=min_work_factor)
    answer = _post_stepped_up(session, "/api/v1/auth/v2/reset/hold", {
        "uid": link.uid, "token": link.token, "auth_key": _b64url_encode(keys.auth_key),
        "work_factor": target, "generation": identity.current_generation,
        "recipient": identity.recipient(),
        "signing_key": _b64url_encode(identity.signing_public_key()),
        "wrapped_identity": _b64(wrap_with_passphrase(identity, keys.passphrase)),
        "recovery_wrapped": _b64(wrap_to_recovery(identity)),
    }, read_code)
    known.remember(session.origin, email, Params(params.account_salt, target))
    return Held(identity, code, _member(answer, "publish_at", str))


def cancel_held_reset(session: Session, identity: IdentityFile) -> int | None:
    """Cancel the account's held reset with a cancel signed by the current generation
    (``identity`` has been checked against the directory); the hold's id, or None."""
    pending = session.get("/api/v1/me/v2/reset")
    hold = pending.get("hold") if isinstance(pending, dict) else None
    if hold is None:
        return None
    user_id, hold_id = _member(pending, "user_id", int), _member(hold, "id", int)
    signature = signing.sign(identity.signing_key, reset_cancel_statement(user_id, hold_id))
    session.post("/api/v1/auth/v2/reset/cancel", {
        "user_id": user_id, "hold": hold_id, "signature": _b64url_encode(signature)})
    return hold_id
