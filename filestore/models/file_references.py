"""Which v2 messages name which upload (their file claims, protocol.md §20).

A row exists while its message does (``CASCADE``): it is the download access
rule (members of the message's conversation) and what keeps the blob. When
the last row of an upload goes, the upload and its blob go too
(``filestore.references``).
"""

from django.db import models
from django.utils import timezone

from filestore.models.cipher_uploads import CipherUpload


class FileReference(models.Model):
    upload = models.ForeignKey(CipherUpload, on_delete=models.CASCADE, related_name="references")
    message = models.ForeignKey("messaging.MessageV2", on_delete=models.CASCADE,
                                related_name="file_references")
    conversation = models.ForeignKey("messaging.ConversationV2", on_delete=models.CASCADE,
                                     related_name="file_references")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["upload", "message"],
                                               name="filestore_fileref_unique")]

    def __str__(self):
        return f"upload {self.upload_id} named by v2 message {self.message_id}"
