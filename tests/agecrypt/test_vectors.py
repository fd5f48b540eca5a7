"""Every C2SP/CCTV age test vector, run through the streaming decryptor.

Each vector file has a textual header (``expect:``, ``payload:``,
``identity:``/``passphrase:`` possibly repeated, ``armored: yes``,
``compressed: zlib``, ``file key:``, ``comment:``), a blank line, then the age
file. The outcome must be exactly the expected one (the exact error class),
and for ``success`` and ``payload failure`` the SHA-256 of all plaintext the
decryptor released must equal ``payload:``.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import agecrypt

TESTKIT = Path(__file__).resolve().parents[2].parent / "shared" / "testkit" / "age"

OUTCOMES: dict[str, type[agecrypt.AgeError] | None] = {
    "success": None,
    "armor failure": agecrypt.ArmorError,
    "header failure": agecrypt.HeaderError,
    "HMAC failure": agecrypt.HeaderMACError,
    "no match": agecrypt.NoIdentityMatchError,
    "payload failure": agecrypt.PayloadError,
}


@dataclass
class Vector:
    name: str
    expect: str = ""
    payload: str | None = None
    identities: list[str] = field(default_factory=list)
    passphrases: list[str] = field(default_factory=list)
    armored: bool = False
    compressed: bool = False
    file_key: str | None = None
    body: bytes = b""


def load(path: Path) -> Vector:
    raw = path.read_bytes()
    head, sep, body = raw.partition(b"\n\n")
    assert sep, f"{path.name}: no blank line after the vector header"
    v = Vector(path.name)
    for line in head.decode("utf-8").split("\n"):
        key, _, value = line.partition(": ")
        if key == "expect":
            v.expect = value
        elif key == "payload":
            v.payload = value
        elif key == "identity":
            v.identities.append(value)
        elif key == "passphrase":
            v.passphrases.append(value)
        elif key == "armored":
            v.armored = value == "yes"
        elif key == "compressed":
            assert value == "zlib", value
            v.compressed = True
        elif key == "file key":
            v.file_key = value
        elif key == "comment":
            pass
        else:
            raise AssertionError(f"{path.name}: unknown header line {line!r}")
    v.body = zlib.decompress(body) if v.compressed else body
    return v


def vector_paths() -> list[Path]:
    return sorted(p for p in TESTKIT.iterdir() if p.is_file()) if TESTKIT.is_dir() else []


def identities_for(v: Vector) -> list[agecrypt.Identity]:
    ids: list[agecrypt.Identity] = [agecrypt.parse_identity(s) for s in v.identities]
    ids += [agecrypt.ScryptIdentity(p) for p in v.passphrases]
    return ids


def test_testkit_is_complete():
    """The testkit holds exactly the 143 vectors, 19 of which need a post-quantum identity."""
    vectors = [load(p) for p in vector_paths()]
    assert len(vectors) == 143
    pq = [v for v in vectors if any(s.startswith("AGE-SECRET-KEY-PQ-1") for s in v.identities)]
    assert len(pq) == 19
    assert {v.expect for v in vectors} == set(OUTCOMES)


@pytest.mark.parametrize("path", vector_paths(), ids=lambda p: p.name)
def test_vector(path: Path):
    """The streaming decryptor gives exactly the expected outcome and releases exactly `payload`."""
    v = load(path)
    assert v.expect in OUTCOMES, v.expect
    expected_error = OUTCOMES[v.expect]
    released = hashlib.sha256()
    error: agecrypt.AgeError | None = None
    try:
        for chunk in agecrypt.decrypt_stream(
            io.BytesIO(v.body), identities_for(v), armored=True if v.armored else None
        ):
            released.update(chunk)
    except agecrypt.AgeError as exc:
        error = exc
    if expected_error is None:
        assert error is None, f"{v.name}: unexpected {type(error).__name__}: {error}"
    else:
        assert type(error) is expected_error, (
            f"{v.name}: expected {expected_error.__name__}, got {type(error).__name__}: {error}"
        )
    if v.expect in ("success", "payload failure"):
        assert v.payload is not None
        assert released.hexdigest() == v.payload


@pytest.mark.parametrize(
    "path",
    [p for p in vector_paths() if load(p).armored and load(p).expect == "success"],
    ids=lambda p: p.name,
)
def test_armored_success_vectors_are_autodetected(path: Path):
    """Armored files that decrypt also decrypt with armor auto-detection and via dearmor."""
    v = load(path)
    plaintext = b"".join(agecrypt.decrypt_stream(io.BytesIO(v.body), identities_for(v)))
    assert hashlib.sha256(plaintext).hexdigest() == v.payload
    assert agecrypt.decrypt(agecrypt.dearmor(v.body), identities_for(v)) == plaintext


@pytest.mark.parametrize(
    "path",
    [p for p in vector_paths() if not load(p).armored and load(p).expect == "success"],
    ids=lambda p: p.name,
)
def test_success_vectors_one_shot_and_file_cipher(path: Path):
    """Successful binary vectors also decrypt one-shot and chunk by chunk with FileCipher."""
    v = load(path)
    plaintext = agecrypt.decrypt(v.body, identities_for(v))
    assert hashlib.sha256(plaintext).hexdigest() == v.payload
    fc = agecrypt.FileCipher.open(io.BytesIO(v.body), identities_for(v))
    assert v.body.startswith(fc.header_bytes + fc.nonce)
    assert fc.plaintext_size(len(v.body)) == len(plaintext)
    got = b"".join(fc.decrypt_range(io.BytesIO(v.body), 0, len(plaintext)))
    assert got == plaintext
