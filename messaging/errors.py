"""Errors of messaging: each has a code and a status for the API and a detail for people.

Raised before anything changes; the API answers ``{"error": code, "detail": str(exc)}``
with ``status``, the websocket an ``error`` frame with the same code.
"""


class MessagingError(Exception):
    code = "invalid"
    status = 400

    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.extra = extra


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
