"""Models of filestore, one concept per module."""

from filestore.models.cipher_uploads import CipherUpload
from filestore.models.file_references import FileReference
from filestore.models.files import StoredFile
from filestore.models.uploads import Upload

__all__ = ["CipherUpload", "FileReference", "StoredFile", "Upload"]
