"""Version 2 signup and login: keys made and unwrapped on the client (DESIGN.md §3, §4).

The client asks ``do_prelogin`` for its account salt and work factor, derives
``auth_key`` and ``wrap_key`` from the password itself, and sends the public
keys, the identity wrapped under ``wrap_key`` (one scrypt stanza, work factor
10) and a copy encrypted to its recovery key. The server stores those as they
are, plus ``HMAC(AUTH_PEPPER, auth_key)``; it never sees the password or an
unwrapped key, and it never holds the identity in the session (accounts.stages
keeps only the login's stage).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts import clientauth
from accounts.actions.base import (
    EmailTaken,
    InvalidCredentials,
    audit,
    client_ip,
    normalize_email,
    rate_limit,
)
from accounts.actions.login import check_login_limits, note_login_failure, start_login
from accounts.actions.signup import check_registration, use_invitation
from accounts.actions.squatting import replace_unverified, start_claim
from accounts.actions.verification import do_send_email_verification
from accounts.addresses import address_key
from accounts.emails import send_security_email
from accounts.errors import ApiError
from accounts.models import ClientAuth, KeyGeneration, User, WrappedIdentity

# Compared against when the address has no account, so both cases do the same work.
_NO_ACCOUNT_HASH = bytes(32)


@dataclass(frozen=True)
class Prelogin:
    account_salt: bytes
    work_factor: int


def do_prelogin(email, *, ip: str | None = None) -> Prelogin:
    """The salt and work factor to derive with, the same shape for every address.

    One lookup and one HMAC whether or not an account exists: an existing
    account answers its stored salt (equal to the HMAC unless its address
    changed), an unknown address the HMAC of its normalised form. Spellings
    that normalise to one address get one answer.
    """
    rate_limit("prelogin_address", ip)
    key = address_key(email)
    if key is None:
        raise ApiError("Enter a valid email address.", field="email")
    computed = clientauth.prelogin_salt(key)
    stored = ClientAuth.objects.filter(user__email=key).values_list(
        "account_salt", "work_factor").first()
    if stored is None:
        return Prelogin(computed, settings.SECURECHAT_CLIENT_WORK_FACTOR)
    # The account's own work factor: its stored auth hash was derived with it. (Raising
    # the setting upgrades an account when its client re-derives and re-wraps.)
    return Prelogin(bytes(stored[0]), stored[1])


@dataclass(frozen=True)
class ClientSignup:
    """A version 2 signup request, every value checked (``check_client_signup``)."""
    email: str
    auth_key: bytes
    account_salt: bytes
    work_factor: int
    recipient: str
    signing_key: bytes
    wrapped_identity: bytes
    recovery_wrapped: bytes
    invitation_token: str | None


def check_client_signup(body: dict) -> ClientSignup:
    """Every field of a version 2 signup, or a 400 naming the first bad one. Changes nothing."""
    key_type = settings.SECURECHAT_KEY_TYPE
    if body.get("key_type") != key_type:
        raise ApiError(f"This server's keys are of type {key_type}.", field="key_type")
    email = normalize_email(body.get("email"))
    work_factor = body.get("work_factor")
    if (isinstance(work_factor, bool) or not isinstance(work_factor, int)
            or work_factor != settings.SECURECHAT_CLIENT_WORK_FACTOR):
        raise ApiError("work_factor must be the one prelogin answered.", field="work_factor")
    account_salt = clientauth.b64url_field(body.get("account_salt"), "account_salt", 16)
    if not hmac.compare_digest(account_salt, clientauth.prelogin_salt(email)):
        raise ApiError("account_salt must be the one prelogin answered for this address.",
                       field="account_salt")
    wrapped = clientauth.b64_field(body.get("wrapped_identity"), "wrapped_identity")
    clientauth.check_wrapped_identity(wrapped)
    recovery = clientauth.b64_field(body.get("recovery_wrapped"), "recovery_wrapped")
    clientauth.check_recovery_wrapped(recovery, key_type)
    invitation = body.get("invitation")
    return ClientSignup(
        email=email,
        auth_key=clientauth.b64url_field(body.get("auth_key"), "auth_key", 32),
        account_salt=account_salt, work_factor=work_factor,
        recipient=clientauth.check_recipient(body.get("recipient"), key_type),
        signing_key=clientauth.check_signing_key(body.get("signing_key")),
        wrapped_identity=wrapped, recovery_wrapped=recovery,
        invitation_token=invitation if isinstance(invitation, str) else None)


def do_create_client_account(signup: ClientSignup, *, ip: str | None = None) -> User | None:
    """Create the account from client-made keys (nobody is logged in); the new user, or
    None when the signup became a claim.

    The registration rules of ``check_registration`` apply (mode, invitation, a
    verified holder is 409). An unverified holder of the address is replaced
    when an invitation proves the mailbox; without one the signup becomes a claim
    (``accounts.actions.squatting.start_claim``) whose emailed link decides.
    """
    email, invitation, holder = check_registration(signup.email, signup.invitation_token)
    if holder is not None and invitation is None:
        with transaction.atomic():  # perhaps a squatter holds it: the first to verify wins
            start_claim(signup)
            audit("signup", None, ip=ip)
        return None
    try:
        with transaction.atomic():
            if holder is not None:  # the invitation proved the mailbox
                replace_unverified(holder)
            user = User(email=email)
            user.set_unusable_password()  # no password ever reaches the server
            user.save()
            ClientAuth.objects.create(user=user, account_salt=signup.account_salt,
                                      work_factor=signup.work_factor,
                                      auth_hash=clientauth.auth_hash(signup.auth_key))
            WrappedIdentity.objects.create(user=user, password_blob=signup.wrapped_identity,
                                           recovery_blob=signup.recovery_wrapped,
                                           recovery_recipient="")
            KeyGeneration.objects.create(user=user, number=1,
                                         key_type=settings.SECURECHAT_KEY_TYPE,
                                         recipient=signup.recipient,
                                         signing_public_key=signup.signing_key)
            use_invitation(user, invitation)
            audit("signup", user, ip=ip)
    except IntegrityError:
        raise EmailTaken("An account with this email address already exists.",
                         field="email") from None
    return user


def do_client_signup(request, signup: ClientSignup) -> tuple[User | None, str | None]:
    """Create the account from client-made keys and log this session in; (user, stage),
    or (None, None) for a claim on an unverified registration (nobody logged in)."""
    ip = client_ip(request)
    rate_limit("signup_address", ip)
    user = do_create_client_account(signup, ip=ip)
    if user is None:
        return None, None
    stage = start_login(request, user)
    if not user.email_verified:
        do_send_email_verification(user)
    return user, stage


def check_client_credentials(email, auth_key) -> User:
    """The account whose stored hash matches ``HMAC(AUTH_PEPPER, auth_key)``, or 401.

    Unknown addresses, accounts without client keys and inactive users cost the
    same HMAC and get the same answer.
    """
    try:
        raw = clientauth.b64url_field(auth_key, "auth_key", 32)
    except ApiError:
        raise InvalidCredentials("Wrong email address or password.") from None
    candidate = clientauth.auth_hash(raw)
    row = ClientAuth.objects.select_related("user").filter(
        user__email=address_key(email) or "").first()
    stored = bytes(row.auth_hash) if row is not None else _NO_ACCOUNT_HASH
    if not hmac.compare_digest(candidate, stored) or row is None or not row.user.is_active:
        raise InvalidCredentials("Wrong email address or password.")
    return row.user


def do_client_login(request, email, auth_key) -> str:
    """The auth-key step under the login rate limits; the next stage ("otp", "enrol", "done")."""
    ip = check_login_limits(request, email)
    try:
        user = check_client_credentials(email, auth_key)
    except InvalidCredentials:
        note_login_failure(email, ip)
        raise
    stage = start_login(request, user)
    if stage == "done":
        audit("login", user, ip=ip)
        send_security_email(user, "new_login", request)
    return stage
