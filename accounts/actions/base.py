"""Errors, audit rows, input checks and rate limits shared by every account action."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from accounts.addresses import address_key
from accounts.errors import Invalid
from accounts.models import (
    AuditEvent,
)
from accounts.throttle import check_rate


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
    limit, window = settings.SECURECHAT_RATE_LIMITS.get(scope) or DEFAULT_RATE_LIMITS[scope]
    check_rate(scope, str(key) if key is not None else "", limit, window)


class InvalidLink(AccountError):
    code = "invalid_link"


def request_ip(request) -> str | None:
    return client_ip(request) if request is not None else None
