"""Errors of messaging: ``ApiError`` subclasses with a code and a status.

Raised before anything changes; the API answers them through the one mapping
(``accounts.errors.error_payload``), the websocket with an ``error`` frame of
the same code. Keyword arguments become ``extra`` members of the answer.
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


class Blocked(Forbidden):
    code = "blocked"
