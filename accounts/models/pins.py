"""Version 2: the user's pin blob, stored as the client made it (DESIGN.md §3, "pinning").

The blob is the client's own: encrypted to and signed by its owner, with its
version inside the signed content (docs/protocol.md, "Pin blob"). The server
cannot read or forge it; it only orders writes by compare-and-swap on
``version`` so that two devices never overwrite each other silently.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

MAX_PIN_BLOB_BYTES = 1024 * 1024


class PinBlob(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                primary_key=True, related_name="pin_blob")
    version = models.PositiveBigIntegerField()
    blob = models.BinaryField(max_length=MAX_PIN_BLOB_BYTES)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"pin blob v{self.version} of user {self.user_id}"
