"""Streaming API, chunk-level API and package hygiene of agecrypt.

Covers: Encryptor/decrypt_stream round trips and failure modes, the
FileCipher chunk API (out-of-order chunk encryption, offsets, size helpers),
the private randomness seam, and that agecrypt imports no Django, reads no
environment variables and uses no ``assert``.
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import agecrypt
from agecrypt import _rand
from agecrypt.stream import ENC_CHUNK_SIZE

CHUNK = agecrypt.CHUNK_SIZE
PKG = Path(agecrypt.__file__).resolve().parent
ROOT = PKG.parent


@pytest.fixture(scope="module")
def x25519():
    return agecrypt.X25519Identity.from_seed(hashlib.sha256(b"stream tests").digest())


def _plain(n: int) -> bytes:
    return (hashlib.sha256(str(n).encode()).digest() * (n // 32 + 1))[:n]


# --- Encryptor / decrypt_stream ---


@pytest.mark.parametrize("n", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5])
def test_encryptor_round_trip_and_layout(x25519, n):
    """Encryptor output decrypts to the input and has exactly ciphertext_size(n) bytes."""
    out = io.BytesIO()
    with agecrypt.Encryptor(out, [x25519.recipient()]) as enc:
        enc.write(_plain(n))
    blob = out.getvalue()
    fc = agecrypt.FileCipher.open(io.BytesIO(blob), [x25519])
    assert len(blob) == fc.ciphertext_size(n)
    assert fc.plaintext_size(len(blob)) == n
    chunks = list(agecrypt.decrypt_stream(io.BytesIO(blob), [x25519]))
    assert b"".join(chunks) == _plain(n)
    assert all(len(c) == CHUNK for c in chunks[:-1])
    assert len(chunks) == fc.chunk_count(n)


def test_encryptor_emits_as_it_goes(x25519):
    """The header is written at once and each full chunk as soon as more data follows it."""
    out = io.BytesIO()
    enc = agecrypt.Encryptor(out, [x25519.recipient()])
    header_len = len(out.getvalue())
    assert header_len > 0
    enc.write(b"a" * CHUNK)
    assert len(out.getvalue()) == header_len  # could still be the final chunk
    enc.write(b"b")
    assert len(out.getvalue()) == header_len + ENC_CHUNK_SIZE
    enc.close()
    enc.close()  # idempotent
    with pytest.raises(agecrypt.UsageError):
        enc.write(b"late")
    assert agecrypt.decrypt(out.getvalue(), [x25519]) == b"a" * CHUNK + b"b"


def test_encryptor_exception_leaves_file_incomplete(x25519):
    """Leaving the with block by an exception writes no final chunk: the file never verifies."""
    out = io.BytesIO()
    with pytest.raises(RuntimeError):
        with agecrypt.Encryptor(out, [x25519.recipient()]) as enc:
            enc.write(b"x" * (CHUNK + 10))
            raise RuntimeError("boom")
    with pytest.raises(agecrypt.PayloadError):
        agecrypt.decrypt(out.getvalue(), [x25519])


def test_encryptor_armor_and_streaming_dearmor(x25519):
    """armor=True writes strict armor that decrypt_stream detects and decrypts."""
    out = io.BytesIO()
    with agecrypt.Encryptor(out, [x25519.recipient()], armor=True) as enc:
        for i in range(0, 2 * CHUNK + 7, 1000):
            enc.write(_plain(2 * CHUNK + 7)[i : i + 1000])
    text = out.getvalue()
    assert text.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert text.endswith(b"-----END AGE ENCRYPTED FILE-----\n")
    assert b"".join(agecrypt.decrypt_stream(io.BytesIO(text), [x25519])) == _plain(2 * CHUNK + 7)
    assert agecrypt.decrypt(text.decode(), [x25519]) == _plain(2 * CHUNK + 7)
    with pytest.raises(agecrypt.HeaderError):  # armor forbidden: "-----BEGIN" is no header
        agecrypt.decrypt_stream(io.BytesIO(text), [x25519], armored=False)
    with pytest.raises(agecrypt.ArmorError):  # armor required
        agecrypt.decrypt_stream(io.BytesIO(agecrypt.dearmor(text)), [x25519], armored=True)


class _ReadOnly:
    """A file object with nothing but read() (no readline/readinto/seek)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._f = io.BytesIO(data)
        self._step = step

    def read(self, n: int = -1) -> bytes:
        return self._f.read(min(n, self._step) if n >= 0 else self._step)


@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 20])
def test_decrypt_stream_from_read_only_trickling_source(x25519, step):
    """decrypt_stream works on objects that only have read() returning short reads."""
    data = _plain(CHUNK + 100)
    blob = agecrypt.encrypt(data, [x25519.recipient()])
    assert b"".join(agecrypt.decrypt_stream(_ReadOnly(blob, step), [x25519])) == data
    armored = agecrypt.armor(blob).encode()
    assert b"".join(agecrypt.decrypt_stream(_ReadOnly(armored, step), [x25519])) == data


def test_decrypt_stream_fails_header_before_returning(x25519):
    """Header, match and MAC problems are raised by decrypt_stream itself, not lazily."""
    other = agecrypt.X25519Identity.generate()
    blob = agecrypt.encrypt(b"data", [x25519.recipient()])
    with pytest.raises(agecrypt.NoIdentityMatchError):
        agecrypt.decrypt_stream(io.BytesIO(blob), [other])
    with pytest.raises(agecrypt.HeaderError):
        agecrypt.decrypt_stream(io.BytesIO(b"age-encryption.org/v2\n"), [x25519])
    bad_mac = bytearray(blob)
    mac_at = blob.index(b"\n--- ") + 6
    bad_mac[mac_at] ^= 1 if chr(bad_mac[mac_at]) not in "AQgw" else 2
    with pytest.raises((agecrypt.HeaderMACError, agecrypt.HeaderError)):
        agecrypt.decrypt_stream(io.BytesIO(bytes(bad_mac)), [x25519])


def test_bad_chunk_releases_nothing_of_it(x25519):
    """With chunk 1 corrupted, exactly chunk 0 is released before PayloadError."""
    data = _plain(3 * CHUNK)
    blob = bytearray(agecrypt.encrypt(data, [x25519.recipient()]))
    fc = agecrypt.FileCipher.open(io.BytesIO(bytes(blob)), [x25519])
    blob[fc.chunk_offset(1) + 100] ^= 0x40
    released = []
    with pytest.raises(agecrypt.PayloadError):
        for chunk in agecrypt.decrypt_stream(io.BytesIO(bytes(blob)), [x25519]):
            released.append(chunk)
    assert released == [data[:CHUNK]]


def test_one_shot_helpers(x25519):
    """encrypt/decrypt round-trip, and each file gets a fresh file key and nonce."""
    a = agecrypt.encrypt(b"same", [x25519.recipient()])
    b = agecrypt.encrypt(b"same", [x25519.recipient()])
    assert a != b
    assert agecrypt.decrypt(a, [x25519]) == agecrypt.decrypt(b, [x25519]) == b"same"
    with pytest.raises(agecrypt.RecipientError):
        agecrypt.encrypt(b"x", [])
    with pytest.raises(agecrypt.UsageError):
        agecrypt.decrypt(a, [])


# --- chunk-level API ---


def test_chunks_encrypted_out_of_order_form_a_valid_file(x25519):
    """Chunks encrypted independently in any order, placed at chunk_offset(i), make the file."""
    data = _plain(4 * CHUNK + 1234)
    fc = agecrypt.FileCipher.create([x25519.recipient()])
    assert fc.payload_offset == len(fc.header_bytes) + 16 == fc.chunk_offset(0)
    n_chunks = fc.chunk_count(len(data))
    assert n_chunks == 5
    buf = bytearray(fc.ciphertext_size(len(data)))
    buf[: fc.payload_offset] = fc.header_bytes + fc.nonce
    for i in [3, 0, 4, 2, 1]:
        piece = data[i * CHUNK : (i + 1) * CHUNK]
        ct = fc.encrypt_chunk(i, piece, last=i == n_chunks - 1)
        assert len(ct) == len(piece) + 16
        assert fc.chunk_offset(i) == fc.payload_offset + i * ENC_CHUNK_SIZE
        buf[fc.chunk_offset(i) : fc.chunk_offset(i) + len(ct)] = ct
    blob = bytes(buf)
    assert agecrypt.decrypt(blob, [x25519]) == data
    opened = agecrypt.FileCipher.open(io.BytesIO(blob), [x25519])
    assert opened.header_bytes == fc.header_bytes and opened.nonce == fc.nonce
    ct2 = blob[opened.chunk_offset(2) : opened.chunk_offset(3)]
    assert opened.decrypt_chunk(2, ct2, last=False) == data[2 * CHUNK : 3 * CHUNK]
    with pytest.raises(agecrypt.PayloadError):
        opened.decrypt_chunk(2, ct2, last=True)  # wrong flag
    with pytest.raises(agecrypt.PayloadError):
        opened.decrypt_chunk(3, ct2, last=False)  # wrong position


def test_chunk_api_rejects_impossible_chunks(x25519):
    """Non-final chunks must be full; only chunk 0 may be an empty final chunk."""
    fc = agecrypt.FileCipher.create([x25519.recipient()])
    with pytest.raises(agecrypt.UsageError):
        fc.encrypt_chunk(0, b"short", last=False)
    with pytest.raises(agecrypt.UsageError):
        fc.encrypt_chunk(1, b"", last=True)
    with pytest.raises(agecrypt.UsageError):
        fc.encrypt_chunk(0, b"x" * (CHUNK + 1), last=True)
    with pytest.raises(agecrypt.UsageError):
        fc.encrypt_chunk(-1, b"x", last=True)
    assert fc.decrypt_chunk(0, fc.encrypt_chunk(0, b"", last=True), last=True) == b""
    with pytest.raises(agecrypt.PayloadError):
        fc.decrypt_chunk(1, fc.encrypt_chunk(1, b"x", last=True)[:15], last=True)
    with pytest.raises(agecrypt.PayloadError):
        fc.decrypt_chunk(0, b"\0" * 100, last=False)


def test_size_helpers(x25519):
    """ciphertext_size and plaintext_size are inverse; impossible lengths are PayloadError."""
    fc = agecrypt.FileCipher.create([x25519.recipient()])
    off = fc.payload_offset
    for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 10 * CHUNK, 10 * CHUNK + 3]:
        assert fc.plaintext_size(fc.ciphertext_size(n)) == n
    assert fc.ciphertext_size(0) == off + 16
    assert fc.ciphertext_size(CHUNK) == off + ENC_CHUNK_SIZE
    assert fc.ciphertext_size(CHUNK + 1) == off + ENC_CHUNK_SIZE + 17
    for bad in [0, off, off + 15, off + ENC_CHUNK_SIZE + 16, off + ENC_CHUNK_SIZE + 5]:
        with pytest.raises(agecrypt.PayloadError):
            fc.plaintext_size(bad)
    with pytest.raises(agecrypt.UsageError):
        fc.ciphertext_size(-1)


def test_file_cipher_keeps_no_file_key(x25519):
    """FileCipher has no attribute holding the 16-byte file key."""
    with _rand.replay(bytes(range(16)) + os.urandom(64)):
        fc = agecrypt.FileCipher.create([x25519.recipient()])
    assert not hasattr(fc, "__dict__")
    for slot in type(fc).__slots__:
        assert getattr(fc, slot) != bytes(range(16))
    with pytest.raises(TypeError):
        agecrypt.FileCipher()


# --- randomness seam ---


def test_replayed_randomness_gives_identical_x25519_files(x25519):
    """Replaying the same bytes through agecrypt._rand yields byte-identical X25519 files."""
    seed = hashlib.sha512(b"replay").digest() * 4
    with _rand.replay(seed):
        a = agecrypt.encrypt(b"hello" * 50000, [x25519.recipient()])
    with _rand.replay(seed):
        b = agecrypt.encrypt(b"hello" * 50000, [x25519.recipient()])
    assert a == b
    assert agecrypt.decrypt(a, [x25519]) == b"hello" * 50000
    assert agecrypt.encrypt(b"hello" * 50000, [x25519.recipient()]) != a  # seam released


def test_replayed_randomness_gives_identical_scrypt_files():
    """Replaying the same bytes yields byte-identical scrypt files (file key, salt, nonce)."""
    seed = hashlib.sha512(b"scrypt replay").digest()
    r = agecrypt.ScryptRecipient("pass phrase", work_factor=4)
    with _rand.replay(seed):
        a = agecrypt.encrypt(b"secret", [r])
    with _rand.replay(seed):
        b = agecrypt.encrypt(b"secret", [r])
    assert a == b
    assert agecrypt.decrypt(a, [agecrypt.ScryptIdentity("pass phrase")]) == b"secret"


def test_replay_exhaustion_is_an_error(x25519):
    """Running out of replayed bytes raises instead of silently reusing randomness."""
    with _rand.replay(b"\0" * 20), pytest.raises(RuntimeError):
        agecrypt.encrypt(b"x", [x25519.recipient()])


def _agecrypt_sources() -> list[Path]:
    return sorted(PKG.glob("*.py"))


def test_nothing_in_agecrypt_reads_the_environment():
    """No code in agecrypt touches os.environ / getenv or imports django (AST scan)."""
    forbidden = {"environ", "environb", "getenv", "getenvb", "putenv"}
    for path in _agecrypt_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                assert node.attr not in forbidden, f"{path.name}:{node.lineno}"
            elif isinstance(node, ast.Name):
                assert node.id not in forbidden, f"{path.name}:{node.lineno}"
            elif isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("django"), path.name
                assert not {a.name for a in node.names} & forbidden, path.name
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("django") for a in node.names), path.name


def test_environ_scan_can_fail():
    """The scan above does detect an os.environ read (guards against a vacuous test)."""
    tree = ast.parse("import os\nx = os.environ.get('AGE_SEED')\n")
    assert any(isinstance(n, ast.Attribute) and n.attr == "environ" for n in ast.walk(tree))


def test_agecrypt_uses_no_assert():
    """Input is never checked with assert (stripped under -O)."""
    for path in _agecrypt_sources():
        tree = ast.parse(path.read_text())
        assert not any(isinstance(node, ast.Assert) for node in ast.walk(tree)), path.name


def test_agecrypt_imports_no_django():
    """Importing agecrypt (and using it) loads no django module."""
    code = (
        "import agecrypt, sys\n"
        "i = agecrypt.X25519Identity.generate()\n"
        "assert agecrypt.decrypt(agecrypt.encrypt(b'x', [i.recipient()]), [i]) == b'x'\n"
        "assert not any(m.startswith('django') for m in sys.modules), 'django imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)
