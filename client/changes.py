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

from . import account
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


def check_endorsement_chain(user_id: int, generations: list) -> None:
    """Refuse unless every generation after the first is endorsed both ways by its
    predecessor (protocol.md §11): the old key signed the new keys and the new key
    signed the old ones. With :func:`account.self_check` (the newest signing key is the
    identity's), this ties every older generation's keys to the identity."""
    by_number = {_member(e, "number", int): e for e in generations}
    numbers = sorted(by_number)
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
    check_endorsement_chain(_member(material, "user_id", int), generations)
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
