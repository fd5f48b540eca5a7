"""Signals other apps may listen to (filestore deletes a tombstoned message's file)."""

from django.dispatch import Signal

# Sent inside the send's transaction, right after a v2 file message is stored, with
# ``user`` (the sender), ``message`` (the MessageV2 row) and ``claim`` (a verified
# client.fileclaim.FileClaim). The receiver (filestore) links the upload to the
# message or raises an ApiError (403), which rolls the send back. A claim is refused
# when nothing listens (no app can honour it).
v2_file_claimed = Signal()

# Sent inside the transaction that tombstones v2 messages (unsent or expired), with
# ``message_ids``: the receiver (filestore) drops the file references those messages
# held, so an upload no message names any more is released after commit.
v2_messages_tombstoned = Signal()
