"""Refusals of messaging that the generic ones of ``accounts.errors`` (``Invalid``,
``Forbidden``, ``NotFound``, ``TooBig``, ``Conflict``) do not say: their own codes under
the same statuses, answered through the one JSON mapping (``accounts.errors``) and as
the websocket's ``error`` frame.

Every refusal is raised before anything changes. A 409 carries what the client
needs to recover in ``extra``: the chain head, the winning epoch, the current
epoch.
"""

from accounts.errors import Conflict, Forbidden, Invalid


class BadSignature(Invalid):
    code = "bad_signature"


class UnknownKey(Invalid):
    """A statement names a (user, generation) the directory does not hold."""

    code = "unknown_key"


class Blocked(Forbidden):
    """One of the two people blocked the other (messaging.blocks)."""

    code = "blocked"


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
