"""Where the age files of uploads live: ``MEDIA_ROOT/blobs/`` (no database here).

Layout: ``blobs/v2/<2 hex>/<upload id>.age`` (``filestore.cipher_store``
writes them); ``blob_path`` refuses any name that would resolve outside the
blob store.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

BLOB_DIR = "blobs"


def blob_root() -> Path:
    return Path(settings.MEDIA_ROOT) / BLOB_DIR


def blob_path(blob_name: str) -> Path:
    path = (Path(settings.MEDIA_ROOT) / blob_name).resolve()
    root = blob_root().resolve()
    if root not in path.parents:
        raise ValueError("blob outside the blob store")
    return path


def delete_blob(blob_name: str) -> bool:
    try:
        blob_path(blob_name).unlink()
    except FileNotFoundError:
        return False
    return True
