"""Account flows of the client: prelogin, signup, login, unlock and self-check.

The v2 account API (docs/api.md; the server never receives the password,
``master``, ``wrap_key`` or an unwrapped key)::

    prelogin  POST /api/v1/auth/prelogin {email} -> {account_salt, work_factor}
    signup    POST /api/v1/auth/signup {email, auth_key, account_salt, work_factor,
                                        key_type, recipient, signing_key,
                                        wrapped_identity, recovery_wrapped}
    login     POST /api/v1/auth/login {email, auth_key} -> {otp_required, ...}
              POST /api/v1/auth/otp {code}
    unlock    GET  /api/v1/me/wrapped-identity -> {wrapped_identity, key_generations}

What this client checks, because the server may lie (DESIGN.md §3):
- the work factor lies in [floor, 20] with floor 16 (only a test passes a lower
  ``min_work_factor``; no option, file or variable reaches it);
- the account salt is 16 bytes, and for an account this client knows, the salt
  is the one it remembered and the work factor is not lower than remembered
  (:class:`KnownAccounts`, a 0600 file) — checked before scrypt runs;
- the wrapped identity is one scrypt stanza of work factor 10, checked before
  any scrypt (client.identity);
- after unwrapping, the directory lists exactly the identity's generations with
  the identity's public keys (:func:`self_check`).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _local
from .derivation import (
    ACCOUNT_SALT_SIZE,
    MIN_WORK_FACTOR,
    DerivedKeys,
    check_work_factor,
    derive_keys,
)
from .errors import AccountParamsError, DirectoryMismatch, LocalFileError, ProtocolError
from .http import Session
from .identity import (
    IdentityFile,
    unwrap_with_passphrase,
    wrap_to_recovery,
    wrap_with_passphrase,
)
from .normalise import normalise_email
from .recovery import generate_code, recovery_identity

__all__ = [
    "KnownAccounts",
    "Params",
    "SignupResult",
    "Unlocked",
    "derive",
    "login",
    "prelogin",
    "self_check",
    "signup",
    "unlock",
]

ACCOUNTS_FILE = "accounts.json"


@dataclass(frozen=True)
class Params:
    """The server's key-derivation parameters for one address."""

    account_salt: bytes
    work_factor: int


@dataclass(frozen=True, repr=False)
class SignupResult:
    identity: IdentityFile
    recovery_code: str  # shown to the user once; never sent anywhere
    answer: dict


@dataclass(frozen=True, repr=False)
class Unlocked:
    """An unwrapped identity, checked against the directory the server showed."""

    identity: IdentityFile
    keys: DerivedKeys
    generations: list[dict]
    user_id: int | None = None
    target_work_factor: int | None = None  # the server's; above the account's: upgrade


# --- remembered parameters --------------------------------------------------------


class KnownAccounts:
    """Each (server, normalised address)'s last (account salt, work factor), 0600 on disk.

    :meth:`check` refuses a different salt or a lower work factor than remembered;
    :meth:`remember` records parameters this client used successfully (signup,
    login), so a raise by the server becomes the new floor for that account.
    """

    def __init__(self, config_dir: Path) -> None:
        self._path = config_dir / ACCOUNTS_FILE

    def _key(self, origin: str, email: str) -> str:
        return f"{origin} {normalise_email(email)}"

    def get(self, origin: str, email: str) -> Params | None:
        entry = _local.read_json(self._path).get(self._key(origin, email))
        if not isinstance(entry, dict):
            return None
        try:
            return Params(_b64url(entry["account_salt"], ACCOUNT_SALT_SIZE),
                          int(entry["work_factor"]))
        except (KeyError, TypeError, ValueError, ProtocolError):
            raise LocalFileError(f"{self._path} is damaged; move it away") from None

    def check(self, origin: str, email: str, params: Params) -> None:
        known = self.get(origin, email)
        if known is None:
            return
        if known.account_salt != params.account_salt:
            raise AccountParamsError(
                "the server changed this account's salt (this client did not); refusing")
        if params.work_factor < known.work_factor:
            raise AccountParamsError(
                f"the server lowered this account's work factor from {known.work_factor} "
                f"to {params.work_factor} (this client did not); refusing")

    def remember(self, origin: str, email: str, params: Params) -> None:
        data = _local.read_json(self._path)
        data[self._key(origin, email)] = {
            "account_salt": _b64url_encode(params.account_salt),
            "work_factor": params.work_factor,
        }
        _local.write_private(self._path, json.dumps(data, indent=1, sort_keys=True).encode())


# --- helpers ------------------------------------------------------------------------


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url(text: Any, size: int | None = None) -> bytes:
    """Decode unpadded base64url strictly (canonical form only)."""
    if not isinstance(text, str) or not text.isascii():
        raise ProtocolError("expected base64url text")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ProtocolError("malformed base64url") from None
    if _b64url_encode(data) != text or (size is not None and len(data) != size):
        raise ProtocolError("malformed base64url value")
    return data


def _b64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ProtocolError("expected base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("malformed base64") from None


def _member(answer: Any, name: str, kind: type) -> Any:
    if not isinstance(answer, dict) or not isinstance(answer.get(name), kind) or (
        kind is int and isinstance(answer.get(name), bool)
    ):
        raise ProtocolError(f"the server's answer lacks a valid {name!r}")
    return answer[name]


# --- flows --------------------------------------------------------------------------


def prelogin(session: Session, email: str, *, min_work_factor: int = MIN_WORK_FACTOR) -> Params:
    """The server's parameters for ``email``, checked for shape and range (before scrypt)."""
    answer = session.post("/api/v1/auth/prelogin", {"email": email})
    salt = _b64url(_member(answer, "account_salt", str), ACCOUNT_SALT_SIZE)
    work_factor = check_work_factor(
        _member(answer, "work_factor", int), min_work_factor=min_work_factor)
    return Params(salt, work_factor)


def signup(
    session: Session, email: str, password: str, key_type: str, known: KnownAccounts, *,
    min_work_factor: int = MIN_WORK_FACTOR, invitation: str | None = None,
) -> SignupResult:
    """Create the identity and recovery code here, upload only public and wrapped data
    (with ``invitation``, the token of an invitation link)."""
    params = prelogin(session, email, min_work_factor=min_work_factor)
    code = generate_code()
    recovery_recipient = str(recovery_identity(code, key_type).recipient())
    identity = IdentityFile.create(key_type, recovery_recipient)
    keys = derive_keys(email, params.account_salt, password, params.work_factor,
                       min_work_factor=min_work_factor)
    body = {
        "email": email,
        "auth_key": _b64url_encode(keys.auth_key),
        "account_salt": _b64url_encode(params.account_salt),
        "work_factor": params.work_factor,
        "key_type": key_type,
        "recipient": identity.recipient(),
        "signing_key": _b64url_encode(identity.signing_public_key()),
        "wrapped_identity": base64.b64encode(
            wrap_with_passphrase(identity, keys.passphrase)).decode("ascii"),
        "recovery_wrapped": base64.b64encode(wrap_to_recovery(identity)).decode("ascii"),
    }
    if invitation:
        body["invitation"] = invitation
    answer = session.post("/api/v1/auth/signup", body)
    known.remember(session.origin, email, params)
    return SignupResult(identity, code, answer if isinstance(answer, dict) else {})


def login(
    session: Session, email: str, password: str, known: KnownAccounts, read_code, *,
    min_work_factor: int = MIN_WORK_FACTOR,
) -> Unlocked:
    """Prelogin, derive, log in (and the code step), then unwrap and self-check.

    ``read_code()`` is called only when the server asks for a second-factor code. When
    the server's work factor is above the account's, the password is re-derived at it
    and the identity re-wrapped (``client.changes.upgrade_work_factor``).
    """
    params, keys = derive(session, email, password, known, min_work_factor=min_work_factor)
    answer = session.post("/api/v1/auth/login",
                          {"email": email, "auth_key": _b64url_encode(keys.auth_key)})
    if isinstance(answer, dict) and answer.get("otp_required") is True:
        session.post("/api/v1/auth/otp", {"code": read_code()})
    if isinstance(answer, dict) and answer.get("enrolment_required") is True:
        raise ProtocolError("this account must set up two-factor in the browser first")
    unlocked = unlock(session, keys)
    known.remember(session.origin, email, params)
    # The server's work factor above the account's: re-derive and re-wrap now (DESIGN.md §3).
    from .changes import upgrade_work_factor

    upgrade_work_factor(session, email, password, unlocked, params, known,
                        min_work_factor=min_work_factor)
    return unlocked


def unlock(session: Session, keys: DerivedKeys) -> Unlocked:
    """Fetch the wrapped identity, unwrap it here and check it against the directory.

    The wrapped identity's shape (one scrypt stanza, work factor 10) is checked
    before its scrypt runs (client.identity.unwrap_with_passphrase).
    """
    answer = session.get("/api/v1/me/wrapped-identity")
    blob = _b64(_member(answer, "wrapped_identity", str))
    generations = _member(answer, "key_generations", list)
    identity = unwrap_with_passphrase(blob, keys.passphrase)
    self_check(identity, generations)
    user_id = _optional_int(answer, "user_id")
    if user_id is not None:
        from .changes import check_endorsement_chain

        check_endorsement_chain(user_id, generations, since=min(n for n, _ in
                                                                identity.generations))
    return Unlocked(identity, keys, generations, user_id,
                    _optional_int(answer, "target_work_factor"))


def _optional_int(answer: dict, name: str) -> int | None:
    value = answer.get(name)
    if value is None:
        return None
    return _member(answer, name, int)


def derive(
    session: Session, email: str, password: str, known: KnownAccounts, *,
    min_work_factor: int = MIN_WORK_FACTOR,
) -> tuple[Params, DerivedKeys]:
    """Prelogin, compare with what this client remembers, then (only then) scrypt."""
    params = prelogin(session, email, min_work_factor=min_work_factor)
    known.check(session.origin, email, params)  # before scrypt: a lying server costs nothing
    keys = derive_keys(email, params.account_salt, password, params.work_factor,
                       min_work_factor=min_work_factor)
    return params, keys


def self_check(identity: IdentityFile, generations: list) -> None:
    """Refuse unless the directory lists exactly the identity's generations and keys.

    Every listed generation must be one this identity holds, with its age
    recipient; the newest must carry the identity's signing key. A generation
    the user never made is the alarm of DESIGN.md §3. After a reset without the
    recovery code the file starts at a later, unendorsed generation; the directory's
    older ones (unreadable history) are then not compared.
    """
    mine = {number: str(ident.recipient()) for number, ident in identity.generations}
    listed: dict[int, dict] = {}
    for entry in generations:
        number = _member(entry, "number", int)
        if number in listed:
            raise DirectoryMismatch(f"the directory lists key generation {number} twice")
        listed[number] = entry
    oldest = min(mine)
    # Generations before a reset without the recovery code are not in the new file: the
    # directory may list them only below an unendorsed generation this file starts with.
    boundary = oldest if oldest in listed and oldest > 1 and \
        listed[oldest].get("endorsement") is None else 1
    for number, entry in sorted(listed.items()):
        if number < boundary:
            continue
        if number not in mine:
            raise DirectoryMismatch(
                f"the directory lists key generation {number}, which this identity never made")
        if _member(entry, "recipient", str) != mine[number]:
            raise DirectoryMismatch(f"the directory's key generation {number} is not this key")
    if not set(mine) <= set(listed):
        raise DirectoryMismatch("the directory is missing key generations this identity has")
    newest = listed[identity.current_generation]
    if _b64url(_member(newest, "signing_key", str), 32) != identity.signing_public_key():
        raise DirectoryMismatch("the directory's signing key is not this identity's")
