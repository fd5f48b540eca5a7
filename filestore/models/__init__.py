"""Models of filestore, one concept per module."""

from filestore.models.cipher_uploads import CipherUpload
from filestore.models.file_references import FileReference

__all__ = ["CipherUpload", "FileReference"]
