"""Signals other apps may listen to (filestore deletes a tombstoned message's file)."""

from django.dispatch import Signal

# Sent after commit with ``message_ids``: those messages were unsent or expired.
messages_tombstoned = Signal()
