"""HTTP adapters of v2 messaging (docs/api.md, "Version 2 conversations").

Each view decodes JSON into bytes (``wire``), calls one action or read, and
encodes the answer. Bytes travel as standard base64, ids and hashes as hex.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse

from accounts.api import api_view
from accounts.api.me import require_complete_login
from accounts.errors import Invalid
from messaging.v2 import actions, reads, removals, wire
from messaging.v2.checks import BOX_MAX

SIGNED = {"statement", "signature"}
ENVELOPED = {"envelope", "statement", "signature"}
LIMITS = settings.SECURECHAT_V2_BODY_LIMITS


def _envelope_max() -> int:
    return settings.SECURECHAT_V2_MEMBER_LIMIT * 1600 + 4096


def _signed_operation(body) -> actions.SignedOperation:
    container = wire.object_field(body, "operation", SIGNED)
    return actions.SignedOperation(*wire.signed_parts(container, prefix="operation."))


def _signed_epoch(container, prefix: str = "") -> actions.SignedEpoch:
    envelope = wire.bytes_field(container, "envelope", _envelope_max(), prefix=prefix)
    return actions.SignedEpoch(envelope, *wire.signed_parts(container, prefix=prefix))


def _stored_json(stored: actions.Stored, status: int = 201) -> JsonResponse:
    items = [reads.wire_item(item) for item in stored.items]
    return JsonResponse({"conversation": stored.conversation.pk,
                         "last_seq": stored.conversation.last_seq, "items": items,
                         "created": stored.created}, status=status if stored.created else 200)


@api_view("GET", "POST", fields=("conversation_id", "kind", "peer", "operation", "epoch"),
          login_required=True, max_body=LIMITS["conversations"])
def conversations(request, body):
    """GET: the user's v2 conversations. POST ``{conversation_id, kind, peer?, operation,
    epoch}``: create one with its signed ``create`` and first epoch (201); a direct one
    names its ``peer``, and starting the same pair again answers the existing one (200)."""
    require_complete_login(request)
    if request.method == "GET":
        return JsonResponse({"conversations": reads.list_conversations(request.user)})
    conversation_id = wire.conversation_id_field(body.get("conversation_id"))
    operation = _signed_operation(body)
    epoch = _signed_epoch(wire.object_field(body, "epoch", ENVELOPED), prefix="epoch.")
    stored = actions.do_create_conversation(request.user, conversation_id, body.get("kind"),
                                            operation, epoch, body.get("peer"))
    return _stored_json(stored)


@api_view("GET", "POST", fields=("operation", "epoch"), login_required=True,
          max_body=LIMITS["members"])
def members(request, body, conversation_id):
    """GET: the chain. POST ``{operation, epoch?}``: append by compare-and-swap (409
    ``stale_head`` with the head); a ``remove`` needs the epoch that covers it."""
    require_complete_login(request)
    if request.method == "GET":
        return JsonResponse(reads.read_chain(request.user, conversation_id))
    operation = _signed_operation(body)
    epoch = None
    if body.get("epoch") is not None:
        epoch = _signed_epoch(wire.object_field(body, "epoch", ENVELOPED), prefix="epoch.")
    return _stored_json(actions.do_append_operation(request.user, conversation_id, operation,
                                                    epoch))


@api_view("GET", "POST", fields=("envelope", "statement", "signature"), login_required=True,
          max_body=LIMITS["epochs"])
def epochs(request, body, conversation_id):
    """GET ``?after=<number>``: epochs with envelopes. POST ``{envelope, statement,
    signature}``: the first per number wins (409 ``epoch_exists`` with the winner)."""
    require_complete_login(request)
    if request.method == "GET":
        return JsonResponse(reads.read_epochs(request.user, conversation_id,
                                              wire.after_param(request)))
    epoch = _signed_epoch(body)
    return _stored_json(actions.do_store_epoch(request.user, conversation_id, epoch))


@api_view("GET", login_required=True)
def keys(request, body, conversation_id):
    """The directory entries of the people in the conversation (members, actors and
    targets of operations, epoch creators, senders): ``{users: [{id, email,
    key_generations}]}``; clients pin them by id and check them against the chain."""
    require_complete_login(request)
    return JsonResponse(reads.read_member_keys(request.user, conversation_id))


@api_view("GET", login_required=True)
def timeline(request, body, conversation_id):
    """``?after=<seq>``: operations, epoch announcements and messages in seq order."""
    require_complete_login(request)
    return JsonResponse(reads.read_timeline(request.user, conversation_id,
                                            wire.after_param(request)))


@api_view("POST", fields=("box", "statement", "signature", "file_claim"), login_required=True,
          max_body=LIMITS["messages"])
def messages(request, body, conversation_id):
    """POST ``{box, statement, signature, file_claim?}``: send (201; 200 for a repeated
    client message id; 409 ``stale_epoch`` with the current epoch; 403 ``forbidden`` for a
    file claim naming an upload the sender neither made nor can download)."""
    require_complete_login(request)
    box = wire.bytes_field(body, "box", BOX_MAX)
    statement, signature = wire.signed_parts(body)
    if not statement:
        raise Invalid("statement is empty.", field="statement")
    claim = None
    if body.get("file_claim") is not None:
        claim = actions.SignedOperation(*wire.signed_parts(
            wire.object_field(body, "file_claim", SIGNED), prefix="file_claim."))
    return _stored_json(actions.do_send_message(request.user, conversation_id, box, statement,
                                                signature, claim))


@api_view("POST", fields=("seq",), login_required=True, max_body=1024)
def read(request, body, conversation_id):
    """POST ``{seq}``: move the caller's read position forward (never back); answers it."""
    require_complete_login(request)
    position = actions.do_mark_read(request.user, conversation_id, body.get("seq"))
    return JsonResponse({"conversation": conversation_id, "seq": position})


@api_view("POST", fields=("box", "statement", "signature"), login_required=True,
          max_body=LIMITS["messages"])
def unsend(request, body, conversation_id, message_hash):
    """POST ``{box, statement, signature}`` (a signed message of kind ``unsend`` whose box
    names the target): stores it at the next seq and tombstones the target, which must be
    the caller's own message (404 otherwise). 201; 200 when repeated."""
    require_complete_login(request)
    target = removals.target_hash_field(message_hash)
    box = wire.bytes_field(body, "box", BOX_MAX)
    statement, signature = wire.signed_parts(body)
    return _stored_json(removals.do_unsend(request.user, conversation_id, target, box,
                                           statement, signature))
