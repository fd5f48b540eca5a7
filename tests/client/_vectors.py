"""Loading the committed vector files (tests/vectors/*.json)."""

from __future__ import annotations

import json
from pathlib import Path

VECTOR_DIR = Path(__file__).resolve().parent.parent / "vectors"


def load(name: str) -> list:
    return json.loads((VECTOR_DIR / name).read_text(encoding="ascii"))


def positives(name: str) -> list:
    """The entries that describe valid inputs (no ``error`` / ``invalid`` key)."""
    return [v for v in load(name) if "error" not in v and "invalid" not in v]


def negatives(name: str) -> list:
    return [v for v in load(name) if "error" in v]


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 written out with :mod:`hmac`, independent of ``cryptography``'s HKDF."""
    import hashlib
    import hmac

    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def field(b: bytes) -> bytes:
    """u32be(len) || b, written out independently of client.statements."""
    import struct

    return struct.pack(">I", len(b)) + b
