"""What filestore needs from messaging, in one place (filestore → messaging, never back).

- ``recipients_for_upload``: at creation, the upload's recipients are fixed to
  the current recipients of every joined member (the uploader's own from the
  unlocked identity), after messaging's access and key-pin rules.
- ``send_file_message``: completion creates the signed file message.
- ``file_message``: the download's access check and signature status.
"""

from __future__ import annotations

import agecrypt
from accounts.models import KeyGeneration
from messaging import access
from messaging.errors import Blocked, KeyChanged, MessagingError, NotFound
from messaging.models import Block, Membership

__all__ = ["MessagingError", "NotFound", "file_message", "recipients_for_upload",
           "send_file_message", "visible_message"]


def recipients_for_upload(user, identity_file, conversation_id) -> tuple[object, list]:
    """``(conversation, recipients)`` for a new upload, under messaging's send rules.

    Refuses (messaging errors) what sending would refuse: not a joined member,
    a blocked contact, or a contact whose keys changed and were not accepted.
    """
    from messaging.actions import contact_key_states
    from messaging.pins import OK

    conversation = access.access_joined_conversation(user, conversation_id)
    states = contact_key_states(user, identity_file, conversation)
    changed = sorted(uid for uid, state in states.items() if state != OK)
    if changed:
        raise KeyChanged("A contact's keys changed: check and accept them before sending.",
                         contacts=changed)
    others = set(Membership.objects.joined().filter(conversation=conversation)
                 .exclude(user=user).values_list("user_id", flat=True))
    if conversation.direct_key and (
        Block.objects.filter(user_id__in=others, blocked=user).exists()
        or Block.objects.filter(user=user, blocked_id__in=others).exists()
    ):
        raise Blocked("You cannot send to this contact.")
    recipients = [identity_file.recipient()]
    for row in KeyGeneration.objects.current().filter(user_id__in=others):
        recipients.append(agecrypt.parse_recipient(row.recipient))
    return conversation, recipients


def send_file_message(user, identity_file, conversation_id, client_id, metadata, size, digest):
    from messaging.actions import do_send_file_message

    message = do_send_file_message(user, identity_file, conversation_id, client_id, metadata,
                                   size, digest)
    return getattr(message, "id", message)


def file_message(user, identity_file, conversation_id, message_id):
    """``(message, signature status, metadata)`` of a file message the user can see.

    Raises messaging's ``NotFound`` for anything the user cannot see or a
    deleted message. The status is messaging's (``valid``, ``unverified``,
    ``invalid``); metadata is the decrypted ``{"name", "type"}`` (None if the
    body does not decrypt).
    """
    from messaging.display import MessageView, StoredFields
    from messaging.pins import load_pins

    message = access.access_message(user, conversation_id, message_id)
    if message.is_deleted or message.kind != "file":
        raise NotFound("No such file.")
    fields = StoredFields.from_row(message)
    view = MessageView(user.pk, identity_file, load_pins(user, identity_file))
    frame = view.render(fields)
    return message, frame["signature"], frame.get("file")


def visible_message(user, conversation_id, message_id):
    """The message if the user can see it (for ``/raw``, no signature check), or NotFound."""
    message = access.access_message(user, conversation_id, message_id)
    if message.is_deleted:
        raise NotFound("No such file.")
    return message
