"""Encrypt-while-uploading and decrypt-while-downloading of version 2 files (DESIGN.md §6).

Upload (tus 1.0.0, with tuspy):

- one upload = a fresh one-time identity of the account's key type (the
  deployment's), a fresh file key, header and payload nonce — drawn **once**
  and kept in the resume record, never redrawn for the same upload;
- ``Upload-Length`` is the exact age file length, known before any byte is
  sent; the plaintext is read from disk 64 KiB chunk by 64 KiB chunk at fixed
  offsets and encrypted as tuspy asks for each PATCH body (memory: one PATCH);
- before any byte of chunk *i*'s ciphertext is handed to tuspy, SHA-256 of
  plaintext chunk *i* is written (fsync, atomic rename) to the resume record;
  a chunk read twice (a PATCH boundary inside it, a resume) must hash the
  same, else :class:`FileChangedError` — one chunk index never gets two
  ciphertexts under one key and nonce;
- ``file_hash`` (protocol.md §18) is computed from the ciphertext chunks as
  they are made.

Resume record (protocol.md §21): an age file encrypted to the account's own
current recipient (so only the user's identity opens it), mode 0600 under
``<config dir>/uploads/``; it holds the upload URL, the one-time identity,
header, nonce, plaintext size and the recorded chunk hashes. ``resume``
re-hashes every recorded chunk whatever offset the server reports and
continues only if all match and the server's offset lies within the recorded
chunks; otherwise it terminates the old upload (tus DELETE) and starts over
under a new identity, key and nonce.

Download: ``GET /api/v1/files/<id>`` streamed into a temporary file next to
the target (resumed with ``Range`` from its last whole chunk), decrypted chunk
by chunk as it arrives; ``file_hash`` is recomputed and the temporary file is
renamed to the target only on a match. A mismatch or a chunk that does not
authenticate is a forgery (:class:`FileHashMismatch`): the temporary file is
removed, nothing reaches the target.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import agecrypt
from agecrypt.stream import CHUNK_SIZE, ENC_CHUNK_SIZE, NONCE_SIZE

from . import _local
from . import statements as st
from .errors import ApiFailure, FileChangedError, FileHashMismatch, LocalFileError, UsageError
from .filehash import MAX_HEADER_SIZE, TAG
from .http import Session

__all__ = ["DEFAULT_PATCH_SIZE", "FileRef", "UploadResult", "download", "upload"]

UPLOADS_PATH = "/api/v1/uploads/"
FILES_PATH = "/api/v1/files/"
DEFAULT_PATCH_SIZE = 8 * 1024 * 1024  # tuspy holds one PATCH body in memory
RECORD_DIR = "uploads"
RECORD_VERSION = 1
_HASH_FIELD = (32).to_bytes(4, "big")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise LocalFileError("the resume record is damaged; start the upload again")
    return base64.b64decode(text, validate=True)


def one_time_identity(owner: agecrypt.Identity) -> agecrypt.Identity:
    """A fresh identity of the owner's key type (the deployment's, DESIGN.md §3)."""
    if isinstance(owner, agecrypt.HybridIdentity):
        return agecrypt.HybridIdentity.generate()
    if isinstance(owner, agecrypt.X25519Identity):
        return agecrypt.X25519Identity.generate()
    raise UsageError("the account's key is of no type a file can be encrypted to")


def file_hash_of(prefix: bytes, chunk_hashes: list[bytes]) -> bytes:
    """protocol.md §18 from ``header || nonce`` and SHA-256 of each ciphertext chunk."""
    outer = hashlib.sha256(st.field(TAG))
    outer.update(_HASH_FIELD + hashlib.sha256(prefix).digest())
    for h in chunk_hashes:
        outer.update(_HASH_FIELD + h)
    return outer.digest()


# --- the resume record ---------------------------------------------------------------


@dataclass
class ResumeRecord:
    """What an upload needs to continue after a kill; saved before each chunk leaves."""

    path: Path  # where the record lives (not the uploaded file)
    owner_recipient: str
    server: str
    source: str  # the uploaded file's absolute path
    size: int
    identity: str  # the one-time identity
    prefix: bytes  # header || nonce
    url: str = ""
    chunk_sha256: list[bytes] = field(default_factory=list)

    def save(self) -> None:
        body = {"v": RECORD_VERSION, "server": self.server, "source": self.source,
                "size": self.size, "identity": self.identity, "prefix": _b64(self.prefix),
                "url": self.url, "chunk_sha256": [h.hex() for h in self.chunk_sha256]}
        recipient = agecrypt.parse_recipient(self.owner_recipient)
        blob = agecrypt.encrypt(json.dumps(body).encode(), [recipient])
        self.path.parent.mkdir(mode=0o700, exist_ok=True)
        _local.write_private(self.path, blob)

    @classmethod
    def load(cls, path: Path, owner: agecrypt.Identity) -> ResumeRecord | None:
        """The record at ``path`` opened with the owner's identity, None if there is none."""
        blob = _local.read_private(path)
        if blob is None:
            return None
        try:
            body = json.loads(agecrypt.decrypt(blob, [owner]))
            record = cls(path, str(owner.recipient()), body["server"], body["source"],
                         int(body["size"]), body["identity"], _unb64(body["prefix"]),
                         body["url"], [bytes.fromhex(h) for h in body["chunk_sha256"]])
        except (agecrypt.AgeError, ValueError, KeyError, TypeError):
            raise LocalFileError(f"the resume record {path} does not open with your key; "
                                 "delete it to start afresh") from None
        if body.get("v") != RECORD_VERSION:
            raise LocalFileError(f"the resume record {path} is of another version")
        return record

    def cipher(self) -> agecrypt.FileCipher:
        identity = agecrypt.parse_identities(self.identity)
        return agecrypt.FileCipher.open(io.BytesIO(self.prefix), identity)


def record_path(config_dir: Path, server: str, source: Path) -> Path:
    """One record per (server, absolute file path); the name reveals neither."""
    key = hashlib.sha256(f"{server}\n{source}".encode()).hexdigest()[:24]
    return config_dir / RECORD_DIR / f"{key}.age"


def forget_record(config_dir: Path, server: str, source: Path) -> None:
    """Delete the resume record of ``source`` (an upload kept with ``keep_record``)."""
    _local.remove(record_path(config_dir, server, source.resolve()))


# --- the encrypting stream tuspy reads --------------------------------------------------


class EncryptingStream(io.RawIOBase):
    """The age file of ``source`` as a seekable read-only stream, made on demand.

    ``read`` at any offset: the chunks it touches are read from disk, their
    plaintext SHA-256 recorded (``record.save()``) before the first byte of
    their ciphertext is returned, then encrypted. Holds one chunk plus the
    bytes asked for.
    """

    def __init__(self, source, record: ResumeRecord, cipher: agecrypt.FileCipher) -> None:
        super().__init__()
        self._src = source
        self._record = record
        self._cipher = cipher
        self._prefix = record.prefix
        self._size = record.size
        self._count = agecrypt.FileCipher.chunk_count(record.size)
        self._total = cipher.ciphertext_size(record.size)
        self._pos = 0
        self.cipher_sha256: dict[int, bytes] = {}
        self._cached: tuple[int, bytes] | None = None

    @property
    def length(self) -> int:
        return self._total

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._total}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, n: int = -1) -> bytes:
        end = self._total if n is None or n < 0 else min(self._total, self._pos + n)
        out = bytearray()
        if self._pos < len(self._prefix):
            out += self._prefix[self._pos:end]
        payload = len(self._prefix)
        if end > payload:
            first = (max(self._pos, payload) - payload) // ENC_CHUNK_SIZE
            last = (end - 1 - payload) // ENC_CHUNK_SIZE
            fresh = self._record_through(last)
            for index in range(first, last + 1):
                data = self._ciphertext(index, fresh.pop(index, None))
                base = payload + index * ENC_CHUNK_SIZE
                out += data[max(self._pos, base) - base:end - base]
        self._pos = end
        return bytes(out)

    def _plaintext(self, index: int) -> bytes:
        want = CHUNK_SIZE if index < self._count - 1 else self._size - index * CHUNK_SIZE
        self._src.seek(index * CHUNK_SIZE)
        data = self._src.read(want)
        if len(data) != want:
            raise FileChangedError("the file got shorter while it was uploading")
        return data

    def _record_through(self, last: int) -> dict[int, bytes]:
        """Record the plaintext hash of every chunk up to ``last`` not yet recorded (in
        order, none skipped), in one durable write, before any of their ciphertext leaves.
        Returns those chunks' plaintext (at most one read's worth), hashed just now."""
        hashes = self._record.chunk_sha256
        fresh: dict[int, bytes] = {}
        if last < len(hashes):
            return fresh
        for index in range(len(hashes), last + 1):
            fresh[index] = self._plaintext(index)
            hashes.append(hashlib.sha256(fresh[index]).digest())
        self._record.save()
        return fresh

    def _ciphertext(self, index: int, fresh: bytes | None = None) -> bytes:
        """Chunk ``index`` sealed; ``fresh`` is its plaintext when it was read and recorded
        just now, else it is read again and must hash to the recorded value."""
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        plaintext = fresh if fresh is not None else self._plaintext(index)
        if fresh is None and not hmac.compare_digest(hashlib.sha256(plaintext).digest(),
                                                     self._record.chunk_sha256[index]):
            raise FileChangedError(
                "the file changed while it was uploading; run the upload again")
        data = self._cipher.encrypt_chunk(index, plaintext, index == self._count - 1)
        self.cipher_sha256[index] = hashlib.sha256(data).digest()
        self._cached = (index, data)
        return data

    def verify_recorded(self) -> bool:
        """Re-hash every recorded chunk (resume); False at the first that differs.
        The ciphertext hashes of the matching chunks are computed on the way."""
        try:
            for index in range(len(self._record.chunk_sha256)):
                self._ciphertext(index)
        except FileChangedError:
            return False
        return True

    def file_hash(self) -> bytes:
        for index in range(self._count):
            if index not in self.cipher_sha256:
                self._ciphertext(index)
        return file_hash_of(self._prefix, [self.cipher_sha256[i] for i in range(self._count)])


# --- upload ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadResult:
    upload_id: str
    identity: str
    file_hash: bytes
    length: int
    resumed_from: int  # the server's offset this run continued from (0: a fresh upload)
    restarted: bool  # --resume found the record unusable and started over


@dataclass
class _Uploading:
    session: Session
    record: ResumeRecord
    cipher: agecrypt.FileCipher
    patch_size: int
    keep_record: bool = False


def upload(session: Session, source: Path, owner: agecrypt.Identity, config_dir: Path, *,
           resume: bool = False, patch_size: int = DEFAULT_PATCH_SIZE,
           keep_record: bool = False) -> UploadResult:
    """Upload ``source`` encrypted; with ``resume`` continue its recorded upload if safe.

    Without ``resume`` an unfinished upload of the same file is terminated and a
    new one made. ``keep_record``: the resume record outlives the completed upload
    (the caller removes it with :func:`forget_record` once a message names the upload),
    so a run killed between the two finds the complete upload again instead of
    uploading the file twice. Raises :class:`ApiFailure` (e.g. 413 over the size
    limit or quota), :class:`FileChangedError`, :class:`LocalFileError`.
    """
    if patch_size < 1:
        raise UsageError("the PATCH size is at least one byte")
    source = source.resolve()
    path = record_path(config_dir, session.origin, source)
    with _open_source(source) as src:
        size = os.fstat(src.fileno()).st_size
        old = ResumeRecord.load(path, owner)
        restarted = False
        if old is not None:
            state = _Uploading(session, old, old.cipher(), patch_size, keep_record)
            if resume and old.server == session.origin and old.size == size and old.url:
                done = _try_resume(state, src)
                if done is not None:
                    return done
            restarted = resume
            _terminate(session, old.url)
            _local.remove(path)
        state = _fresh(session, path, owner, source, size, patch_size)
        state.keep_record = keep_record
        result = _send(state, src, 0)
        return dataclasses.replace(result, restarted=restarted)


def _open_source(source: Path):
    try:
        return open(source, "rb")  # noqa: SIM115 - the caller's with closes it
    except OSError as exc:
        raise LocalFileError(f"cannot read {source}: {exc.strerror}") from None


def _fresh(session: Session, path: Path, owner: agecrypt.Identity, source: Path, size: int,
           patch_size: int) -> _Uploading:
    identity = one_time_identity(owner)
    cipher = agecrypt.FileCipher.create([identity.recipient()])
    record = ResumeRecord(path, str(owner.recipient()), session.origin, str(source), size,
                          str(identity), cipher.header_bytes + cipher.nonce)
    state = _Uploading(session, record, cipher, patch_size)
    record.url = _create(session, cipher.ciphertext_size(size))
    record.save()
    return state


def _try_resume(state: _Uploading, src) -> UploadResult | None:
    """Continue the recorded upload when every rule holds (DESIGN.md §6), else None."""
    record = state.record
    offset = _server_offset(state.session, record.url)
    if offset is None:
        return None
    stream = EncryptingStream(src, record, state.cipher)
    if not stream.verify_recorded():
        return None
    recorded_end = min(state.cipher.chunk_offset(len(record.chunk_sha256)), stream.length)
    if offset > recorded_end:
        return None  # the server claims bytes this client never recorded
    return _send(state, src, offset, stream)


def _send(state: _Uploading, src, offset: int, stream=None) -> UploadResult:
    from tusclient import client as tus_client
    from tusclient.exceptions import TusCommunicationError

    stream = stream or EncryptingStream(src, state.record, state.cipher)
    session, record = state.session, state.record
    tus = tus_client.TusClient(session.origin + UPLOADS_PATH, headers=session.upload_headers())
    try:
        uploader = tus.uploader(file_stream=stream, url=session.origin + record.url,
                                chunk_size=state.patch_size, retries=0)
        uploader.upload()
    except TusCommunicationError as exc:
        raise _tus_failure(exc) from None
    file_hash = stream.file_hash()
    if not state.keep_record:
        _local.remove(record.path)
    upload_id = record.url.rstrip("/").rsplit("/", 1)[-1]
    return UploadResult(upload_id, record.identity, file_hash, stream.length, offset, False)


def _create(session: Session, length: int) -> str:
    """POST a new upload of ``length`` bytes; its path."""
    answer = session.raw("POST", UPLOADS_PATH, {"Tus-Resumable": "1.0.0",
                                                "Upload-Length": str(length)})
    location = answer.headers.get("Location", "")
    if answer.status_code != 201 or not location.startswith(UPLOADS_PATH):
        raise session.failure(answer)
    return location


def _server_offset(session: Session, url: str) -> int | None:
    """The server's offset of an upload; None when the server no longer has it."""
    answer = session.raw("HEAD", url, {"Tus-Resumable": "1.0.0"})
    if answer.status_code in (404, 410):
        return None
    raw = answer.headers.get("Upload-Offset", "")
    if answer.status_code != 200 or not raw.isdigit():
        raise session.failure(answer)
    return int(raw)


def _terminate(session: Session, url: str) -> None:
    """tus DELETE of an abandoned upload. Gone already is fine, and so is 409: a message
    names it (it completed and was sent), so it is no longer this record's to end."""
    if not url:
        return
    answer = session.raw("DELETE", url, {"Tus-Resumable": "1.0.0"})
    if answer.status_code not in (204, 404, 409, 410):
        raise session.failure(answer)


def _tus_failure(exc) -> ApiFailure:
    status = getattr(exc, "status_code", None) or 0
    content = getattr(exc, "response_content", None) or b""
    try:
        value = json.loads(content)
    except (ValueError, TypeError):
        value = None
    if isinstance(value, dict) and isinstance(value.get("error"), str):
        return ApiFailure(value["error"], status, str(value.get("detail") or value["error"]))
    if not status:
        return ApiFailure("unreachable", 0, "the upload connection failed")
    return ApiFailure("api_failure", status, f"the upload server answered {status}")


# --- download -------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRef:
    """What a downloader needs: the upload id, its one-time identity and signed hash."""

    upload_id: str
    identity: str
    file_hash: bytes


def _part_path(target: Path, upload_id: str) -> Path:
    return target.with_name(f".{target.name}.{upload_id[:16]}.part")


def download(session: Session, ref: FileRef, target: Path, *, force: bool = False) -> int:
    """Fetch, decrypt and verify ``ref`` into ``target``; the plaintext size.

    Constant memory; a partial ``.part`` file from an interrupted run is
    continued from its last whole chunk. :class:`FileHashMismatch` (forgery)
    leaves no output file.
    """
    if (target.exists() or target.is_symlink()) and not force:
        raise LocalFileError(f"{target} exists; pass --force to replace it")
    identities = agecrypt.parse_identities(ref.identity)
    part = _part_path(target, ref.upload_id)
    if part.is_symlink() or (part.exists() and not part.is_file()):
        raise LocalFileError(f"{part} is not a regular file; remove it")  # never followed
    url = FILES_PATH + ref.upload_id
    prefix, total = _fetch_prefix(session, url)
    try:
        cipher = agecrypt.FileCipher.open(io.BytesIO(prefix), identities)
    except agecrypt.AgeError:
        raise FileHashMismatch("the file does not open with its key (forgery)") from None
    prefix = prefix[:cipher.payload_offset]
    try:
        size = cipher.plaintext_size(total)
    except agecrypt.AgeError:
        raise FileHashMismatch("the file's length is impossible (forgery)") from None
    try:
        hashes = _fetch_payload(session, url, cipher, size, part)
        if not hmac.compare_digest(file_hash_of(prefix, hashes), ref.file_hash):
            raise FileHashMismatch("the file is not the one its sender signed (forgery)")
    except (FileHashMismatch, agecrypt.AgeError) as exc:
        _local.remove(part)
        if isinstance(exc, FileHashMismatch):
            raise
        raise FileHashMismatch("a chunk of the file does not authenticate (forgery)") from None
    _release(part, target, force)
    return size


def _release(part: Path, target: Path, force: bool) -> None:
    """Give the verified file its name: replace only with ``force``, else never an
    existing file (a link fails if the name appeared meanwhile)."""
    if force:
        os.replace(part, target)
        return
    try:
        os.link(part, target)
    except FileExistsError:
        raise LocalFileError(f"{target} exists; pass --force to replace it") from None
    part.unlink()


def _fetch_prefix(session: Session, url: str) -> tuple[bytes, int]:
    """The first bytes (header and nonce at least) and the file's total length."""
    want = MAX_HEADER_SIZE + NONCE_SIZE
    with session.stream(url, {"Range": f"bytes=0-{want - 1}"}) as response:
        if response.status_code != 206:
            response.read()
            raise session.failure(response)
        data = response.read()
    total = response.headers.get("Content-Range", "").rpartition("/")[2]
    if not total.isdigit():
        raise ApiFailure("bad_response", 206, "the server sent no file length")
    return data, int(total)


def _fetch_payload(session: Session, url: str, cipher, size: int, part: Path) -> list[bytes]:
    """Write the plaintext to ``part`` (continuing a previous run's whole chunks);
    the SHA-256 of every ciphertext chunk."""
    count = agecrypt.FileCipher.chunk_count(size)
    hashes = _resume_part(cipher, part, count)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.seek(len(hashes) * CHUNK_SIZE)
        out.truncate()
        index = len(hashes)
        start = cipher.chunk_offset(index)
        with session.stream(url, {"Range": f"bytes={start}-"}) as response:
            if response.status_code != 206:
                response.read()
                raise session.failure(response)
            for chunk in _chunks(response.iter_bytes(), count - index, size, index):
                last = index == count - 1
                out.write(cipher.decrypt_chunk(index, chunk, last))
                hashes.append(hashlib.sha256(chunk).digest())
                index += 1
        if index != count:
            raise FileHashMismatch("the file ended early (forgery or a cut connection)")
        out.flush()
        os.fsync(out.fileno())
    return hashes


def _chunks(pieces: Iterator[bytes], wanted: int, size: int, first: int) -> Iterator[bytes]:
    """Regroup a byte stream into ciphertext chunks (the last one shorter)."""
    buf = bytearray()
    last_len = size - (first + wanted - 1) * CHUNK_SIZE + 16
    for piece in pieces:
        buf += piece
        while wanted > 1 and len(buf) >= ENC_CHUNK_SIZE:
            yield bytes(buf[:ENC_CHUNK_SIZE])
            del buf[:ENC_CHUNK_SIZE]
            wanted -= 1
        if len(buf) > ENC_CHUNK_SIZE:
            raise FileHashMismatch("the file is longer than it says (forgery)")
    if wanted == 1 and len(buf) == last_len:
        yield bytes(buf)


def _resume_part(cipher, part: Path, count: int) -> list[bytes]:
    """The ciphertext hashes of the whole chunks already in ``part`` (re-encrypted: the
    cipher is deterministic for a key, nonce and index), never the final chunk."""
    try:
        have = part.stat().st_size
    except FileNotFoundError:
        return []
    keep = min(have // CHUNK_SIZE, count - 1)
    hashes = []
    with os.fdopen(os.open(part, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
        for index in range(keep):
            data = cipher.encrypt_chunk(index, f.read(CHUNK_SIZE), False)
            hashes.append(hashlib.sha256(data).digest())
    return hashes
