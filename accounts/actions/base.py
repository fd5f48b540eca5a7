"""Errors, audit rows, input checks and rate limits shared by every account action."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from accounts.addresses import address_key
from accounts.errors import Invalid
from accounts.models import (
    AuditEvent,
)

logger = logging.getLogger(__name__)


class AccountError(Invalid):
    """An account action's refusal (the family page views, commands and the admin catch
    and show; rate limits are not in it): ``Invalid`` unless a subclass says more."""


class InvalidCredentials(AccountError):
    code = "invalid_credentials"
    status = 401


class RegistrationClosed(AccountError):
    code = "registration_closed"
    status = 403


class EmailTaken(AccountError):
    code = "email_taken"
    status = 409


def audit(kind: str, user=None, *, actor=None, ip: str | None = None) -> AuditEvent:
    return AuditEvent.objects.create(kind=kind, user=user, actor=actor, ip_address=ip)


def normalize_email(email) -> str:
    """The address in its one stored form (``accounts.addresses``), or ``AccountError``."""
    if not isinstance(email, str) or not email.strip():
        raise AccountError("Enter an email address.", field="email")
    key = address_key(email)
    if key is None:
        raise AccountError("Enter a valid email address.", field="email")
    try:
        validate_email(key)
    except ValidationError:
        raise AccountError("Enter a valid email address (letters, digits and . _ % + - "
                           "before the @).", field="email") from None
    return key


def check_password_shape(password, user=None) -> str:
    """Type and length first (before any derivation), then Django's validators."""
    if not isinstance(password, str) or not password:
        raise AccountError("Enter a password.", field="password")
    if len(password) > settings.SECURECHAT_PASSWORD_MAX_LENGTH:
        raise AccountError(
            f"Passwords are at most {settings.SECURECHAT_PASSWORD_MAX_LENGTH} characters.",
            field="password",
        )
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise AccountError(" ".join(exc.messages), field="password") from None
    return password


# Scopes without an entry in settings.SECURECHAT_RATE_LIMITS: (attempts, window seconds).
DEFAULT_RATE_LIMITS = {"verify_email_account": (5, 3600)}


class EmailUnverified(AccountError):
    code = "email_unverified"
    status = 403


class WrongStep(AccountError):
    code = "wrong_step"
    status = 409


class InvalidToken(AccountError):
    code = "invalid_token"
    status = 400


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def rate_limit(scope: str, key) -> None:
    """``accounts.throttle.check_rate`` with the limits of ``SECURECHAT_RATE_LIMITS``."""
    from accounts.throttle import check_rate

    limit, window = settings.SECURECHAT_RATE_LIMITS.get(scope) or DEFAULT_RATE_LIMITS[scope]
    check_rate(scope, str(key) if key is not None else "", limit, window)


class InvalidLink(AccountError):
    code = "invalid_link"


class WrongRecoveryCode(AccountError):
    code = "wrong_recovery_code"
    status = 403


def request_ip(request) -> str | None:
    return client_ip(request) if request is not None else None
