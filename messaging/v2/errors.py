"""Refusals of v2 messaging: ``ApiError`` subclasses (one JSON mapping, accounts.errors).

Every refusal is raised before anything changes. A 409 carries what the client
needs to recover in ``extra``: the chain head, the winning epoch, the current
epoch.
"""

from accounts.errors import ApiError
from messaging.errors import Blocked  # noqa: F401  (403 "blocked", messaging.blocks)


class Invalid(ApiError):
    """Malformed input; ``field`` names it."""

    code = "invalid"
    status = 400


class BadSignature(Invalid):
    code = "bad_signature"


class UnknownKey(Invalid):
    """A statement names a (user, generation) the directory does not hold."""

    code = "unknown_key"


class Forbidden(ApiError):
    """The caller may not do this with something it named (e.g. an upload in a file claim)."""

    code = "forbidden"
    status = 403


class NotFound(ApiError):
    """No such conversation for this user (also when it exists but is not theirs)."""

    code = "not_found"
    status = 404


class Conflict(ApiError):
    """A compare-and-swap lost, or a name is taken; ``extra`` holds the current state."""

    code = "conflict"
    status = 409


class StaleHead(Conflict):
    code = "stale_head"


class EpochExists(Conflict):
    code = "epoch_exists"


class StaleEpoch(Conflict):
    code = "stale_epoch"


class ConversationExists(Conflict):
    code = "conversation_exists"


class ClientIdConflict(Conflict):
    code = "client_id_conflict"
