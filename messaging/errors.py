"""Errors of messaging: ``ApiError`` subclasses with a code and a status.

Raised before anything changes; the API answers them through the one mapping
(``accounts.errors.error_payload``), the websocket with an ``error`` frame of
the same code. Keyword arguments become ``extra`` members of the answer (for
example the contact whose key changed).
"""

from accounts.errors import ApiError


class MessagingError(ApiError):
    code = "invalid"
    status = 400

    def __init__(self, detail: str, **extra):
        super().__init__(detail, extra=extra)


class Invalid(MessagingError):
    code = "invalid"
    status = 400


class TooBig(MessagingError):
    code = "too_big"
    status = 413


class NotFound(MessagingError):
    """No such conversation or message for this user (also when it exists but is not theirs)."""

    code = "not_found"
    status = 404


class Forbidden(MessagingError):
    code = "forbidden"
    status = 403


class EmailUnverified(Forbidden):
    code = "email_unverified"


class Blocked(Forbidden):
    code = "blocked"


class Left(Forbidden):
    code = "left"


class KeyChanged(MessagingError):
    """A contact's directory keys no longer match the pin: the user must accept the change."""

    code = "key_changed"
    status = 409


class Locked(MessagingError):
    """No unlocked identity (not logged in, or the key cookie is missing)."""

    code = "locked"
    status = 401
