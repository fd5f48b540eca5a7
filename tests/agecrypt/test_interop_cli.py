"""Interoperability of agecrypt with the reference `age` CLI (Debian age 1.1).

Every file made by one side is decrypted by the other, and plaintexts are
compared by SHA-256. Keys are crossed: the CLI encrypts to agecrypt-generated
recipients, and agecrypt encrypts to recipients whose identities came from
`age-keygen`, so a mistake in key encoding shows up as a failure too.

The CLI is required (the Makefile installs it): if it is missing the tests
fail, they are not skipped.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import select
import shutil
import subprocess
import termios
import time

import pytest

import agecrypt

SIZES = [0, 1, 65535, 65536, 65537, 131072, 5 * 1024 * 1024 + 3]
SIZE_IDS = [f"{n}B" for n in SIZES]
PASSPHRASE = "correct horse battery staple ünïcödé"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` not found on PATH: install the Debian package `age` "
            "(the Makefile does this) to run the agecrypt interop tests"
        )
    return path


@pytest.fixture(scope="module")
def age_bin() -> str:
    return _tool("age")


@pytest.fixture(scope="module")
def age_keygen_bin() -> str:
    return _tool("age-keygen")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plaintext(size: int) -> bytes:
    return os.urandom(size)


def run(args: list[str], *, input: bytes | None = None, timeout: float = 60) -> bytes:
    """Run a command, return stdout, fail the test with stderr on non-zero exit."""
    proc = subprocess.run(args, input=input, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {proc.returncode}: "
            f"{proc.stderr.decode(errors='replace').strip()}"
        )
    return proc.stdout


@pytest.fixture(scope="module")
def cli_keys(age_keygen_bin, tmp_path_factory) -> list[dict]:
    """Three X25519 key pairs made by `age-keygen`: identity file path, identity, recipient."""
    d = tmp_path_factory.mktemp("cli-keys")
    keys = []
    for i in range(3):
        path = d / f"key{i}.txt"
        run([age_keygen_bin, "-o", str(path)])
        identity = next(
            line for line in path.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-1")
        )
        recipient = run([age_keygen_bin, "-y", str(path)]).decode().strip()
        keys.append({"path": path, "identity": identity, "recipient": recipient})
    return keys


@pytest.fixture(scope="module")
def py_keys(tmp_path_factory) -> list[dict]:
    """Three X25519 key pairs made by agecrypt, with identity files the CLI can read."""
    d = tmp_path_factory.mktemp("py-keys")
    keys = []
    for i in range(3):
        ident = agecrypt.X25519Identity.generate()
        path = d / f"key{i}.txt"
        path.write_text(f"# made by agecrypt\n{ident}\n")
        keys.append({"path": path, "identity": ident, "recipient": ident.recipient()})
    return keys


# ---------------------------------------------------------------------------
# key encodings


def test_cli_identity_parses_and_yields_cli_recipient(cli_keys):
    """agecrypt parses an age-keygen identity and derives the same age1… recipient as `age-keygen
    -y`.
    """
    for k in cli_keys:
        ident = agecrypt.X25519Identity.from_string(k["identity"])
        assert str(ident) == k["identity"]
        assert str(ident.recipient()) == k["recipient"]
        assert str(agecrypt.X25519Recipient.from_string(k["recipient"])) == k["recipient"]


def test_agecrypt_identity_accepted_by_age_keygen(py_keys, age_keygen_bin):
    """`age-keygen -y` reads an agecrypt identity file and prints agecrypt's recipient string."""
    for k in py_keys:
        out = run([age_keygen_bin, "-y", str(k["path"])]).decode().strip()
        assert out == str(k["recipient"])
        assert str(k["identity"]).startswith("AGE-SECRET-KEY-1")
        assert out.startswith("age1")


# ---------------------------------------------------------------------------
# agecrypt -> age CLI


@pytest.mark.parametrize("nrec", [1, 3], ids=["1rcpt", "3rcpt"])
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_agecrypt_encrypts_cli_decrypts(size, nrec, cli_keys, age_bin, tmp_path):
    """A file agecrypt encrypts to age-keygen recipients decrypts with `age -d -i` for every
    recipient's key.
    """
    data = plaintext(size)
    keys = cli_keys[:nrec]
    recipients = [agecrypt.X25519Recipient.from_string(k["recipient"]) for k in keys]
    ct = agecrypt.encrypt(data, recipients)
    src = tmp_path / "in.age"
    src.write_bytes(ct)
    for k in keys:
        out = run([age_bin, "-d", "-i", str(k["path"]), str(src)])
        assert len(out) == size
        assert sha(out) == sha(data)


# ---------------------------------------------------------------------------
# age CLI -> agecrypt


@pytest.mark.parametrize("nrec", [1, 3], ids=["1rcpt", "3rcpt"])
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_cli_encrypts_agecrypt_decrypts(size, nrec, py_keys, age_bin, tmp_path):
    """A file `age -e -r …` encrypts to agecrypt-generated recipients decrypts with agecrypt for
    every identity.
    """
    data = plaintext(size)
    keys = py_keys[:nrec]
    args = [age_bin, "-e"]
    for k in keys:
        args += ["-r", str(k["recipient"])]
    ct = run(args, input=data)
    for k in keys:
        out = agecrypt.decrypt(ct, [k["identity"]])
        assert sha(out) == sha(data)


# ---------------------------------------------------------------------------
# ASCII armor


@pytest.mark.parametrize("size", [0, 1, 65536, 200_003], ids=lambda n: f"{n}B")
def test_agecrypt_armored_cli_decrypts(size, cli_keys, age_bin, tmp_path):
    """An agecrypt file armored with agecrypt.armor decrypts with `age -d` (which detects the
    armor).
    """
    data = plaintext(size)
    rcpt = agecrypt.X25519Recipient.from_string(cli_keys[0]["recipient"])
    text = agecrypt.armor(agecrypt.encrypt(data, [rcpt]))
    assert isinstance(text, str)
    assert text.startswith("-----BEGIN AGE ENCRYPTED FILE-----")
    src = tmp_path / "in.age.asc"
    src.write_text(text)
    out = run([age_bin, "-d", "-i", str(cli_keys[0]["path"]), str(src)])
    assert sha(out) == sha(data)


@pytest.mark.parametrize("size", [0, 1, 65536, 200_003], ids=lambda n: f"{n}B")
def test_cli_armored_agecrypt_decrypts(size, py_keys, age_bin):
    """A file made by `age -e -a` is dearmored by agecrypt.dearmor, then decrypted by agecrypt."""
    data = plaintext(size)
    text = run([age_bin, "-e", "-a", "-r", str(py_keys[0]["recipient"])], input=data).decode()
    assert text.startswith("-----BEGIN AGE ENCRYPTED FILE-----")
    ct = agecrypt.dearmor(text)
    assert ct.startswith(b"age-encryption.org/v1\n")
    assert sha(agecrypt.decrypt(ct, [py_keys[0]["identity"]])) == sha(data)
    # decrypt() also detects the armor by itself
    assert sha(agecrypt.decrypt(text.encode(), [py_keys[0]["identity"]])) == sha(data)


# ---------------------------------------------------------------------------
# streaming and chunk-level APIs against the CLI


def test_streaming_armored_encryptor_cli_decrypts(cli_keys, age_bin, tmp_path):
    """agecrypt.Encryptor(armor=True) streams an armored file that `age -d` decrypts."""
    data = plaintext(2 * agecrypt.CHUNK_SIZE + 3)
    rcpt = agecrypt.X25519Recipient.from_string(cli_keys[0]["recipient"])
    sink = io.BytesIO()
    with agecrypt.Encryptor(sink, [rcpt], armor=True) as enc:
        for i in range(0, len(data), 10_000):
            enc.write(data[i : i + 10_000])
    text = sink.getvalue()
    assert text.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert text.rstrip().endswith(b"-----END AGE ENCRYPTED FILE-----")
    src = tmp_path / "stream.age.asc"
    src.write_bytes(text)
    out = run([age_bin, "-d", "-i", str(cli_keys[0]["path"]), str(src)])
    assert sha(out) == sha(data)


def test_streaming_encryptor_output_cli_decrypts(cli_keys, age_bin, tmp_path):
    """agecrypt.Encryptor fed writes of irregular sizes (crossing chunk boundaries) yields a file
    `age -d` decrypts.
    """
    data = plaintext(3 * agecrypt.CHUNK_SIZE + 12345)
    rcpt = agecrypt.X25519Recipient.from_string(cli_keys[1]["recipient"])
    sink = io.BytesIO()
    enc = agecrypt.Encryptor(sink, [rcpt])
    pos, step = 0, 1
    while pos < len(data):
        enc.write(data[pos : pos + step])
        pos += step
        step = step * 7 + 3  # 1, 10, 73, 514, … bytes per write
    enc.close()
    src = tmp_path / "stream.age"
    src.write_bytes(sink.getvalue())
    out = run([age_bin, "-d", "-i", str(cli_keys[1]["path"]), str(src)])
    assert sha(out) == sha(data)


def test_cli_file_decrypt_stream(py_keys, age_bin):
    """agecrypt.decrypt_stream releases exactly the plaintext of a multi-chunk CLI file."""
    data = plaintext(4 * agecrypt.CHUNK_SIZE + 1)
    ct = run([age_bin, "-e", "-r", str(py_keys[2]["recipient"])], input=data)
    out = b"".join(agecrypt.decrypt_stream(io.BytesIO(ct), [py_keys[2]["identity"]]))
    assert sha(out) == sha(data)


def test_chunks_encrypted_out_of_order_cli_decrypts(cli_keys, age_bin, tmp_path):
    """Chunks encrypted one by one, in reverse order, with FileCipher assemble into a file `age -d`
    decrypts.
    """
    C = agecrypt.CHUNK_SIZE
    data = plaintext(3 * C + 777)
    rcpt = agecrypt.X25519Recipient.from_string(cli_keys[2]["recipient"])
    fc = agecrypt.FileCipher.create([rcpt])
    pieces = [data[i : i + C] for i in range(0, len(data), C)]
    n = len(pieces)
    sealed = {}
    for i in reversed(range(n)):
        sealed[i] = fc.encrypt_chunk(i, pieces[i], i == n - 1)
    blob = bytes(fc.header_bytes) + bytes(fc.nonce) + b"".join(sealed[i] for i in range(n))
    for i in range(n):
        assert blob[fc.chunk_offset(i) : fc.chunk_offset(i) + len(sealed[i])] == sealed[i]
    src = tmp_path / "chunks.age"
    src.write_bytes(blob)
    out = run([age_bin, "-d", "-i", str(cli_keys[2]["path"]), str(src)])
    assert sha(out) == sha(data)


def test_decrypt_range_of_cli_file(age_bin, py_keys):
    """FileCipher.open + decrypt_range return exact byte ranges of a CLI-made file, including
    ranges across chunk boundaries and up to the end, and chunk-level decrypt_chunk agrees.
    """
    C = agecrypt.CHUNK_SIZE
    data = plaintext(3 * C + 1000)
    ct = run([age_bin, "-e", "-r", str(py_keys[1]["recipient"])], input=data)
    f = io.BytesIO(ct)
    fc = agecrypt.FileCipher.open(f, [py_keys[1]["identity"]])
    assert ct.startswith(bytes(fc.header_bytes) + bytes(fc.nonce))
    for start, end in [
        (0, 0),
        (0, 1),
        (C - 1, C + 1),
        (5, 2 * C + 7),
        (3 * C, len(data)),
        (len(data) - 1, len(data)),
        (0, len(data)),
    ]:
        got = b"".join(fc.decrypt_range(f, start, end))
        assert got == data[start:end], (start, end)
    off = fc.chunk_offset(1)
    assert fc.decrypt_chunk(1, ct[off : off + C + 16], False) == data[C : 2 * C]
    with pytest.raises(agecrypt.PayloadError):
        fc.decrypt_chunk(1, ct[off : off + C + 16], True)  # wrong last-chunk flag


# ---------------------------------------------------------------------------
# failure behaviour on CLI-made files


def test_cli_file_wrong_identity_is_no_match(age_bin, py_keys):
    """A CLI file for someone else raises NoIdentityMatchError (an AgeError) in agecrypt."""
    ct = run([age_bin, "-e", "-r", str(py_keys[0]["recipient"])], input=b"secret")
    with pytest.raises(agecrypt.NoIdentityMatchError) as exc:
        agecrypt.decrypt(ct, [py_keys[1]["identity"]])
    assert isinstance(exc.value, agecrypt.AgeError)


def test_cli_file_tampered_payload_is_payload_error(age_bin, py_keys):
    """Flipping one bit of the last payload byte of a CLI file raises PayloadError, and the stream
    releases no bad chunk.
    """
    data = plaintext(2 * agecrypt.CHUNK_SIZE + 5)
    ct = bytearray(run([age_bin, "-e", "-r", str(py_keys[0]["recipient"])], input=data))
    ct[-1] ^= 0x01
    with pytest.raises(agecrypt.PayloadError):
        agecrypt.decrypt(bytes(ct), [py_keys[0]["identity"]])
    released = b""
    with pytest.raises(agecrypt.PayloadError):
        for piece in agecrypt.decrypt_stream(io.BytesIO(bytes(ct)), [py_keys[0]["identity"]]):
            released += piece
    # Only whole, authenticated chunks before the damaged last one may come out.
    assert data.startswith(released)
    assert len(released) <= 2 * agecrypt.CHUNK_SIZE


def test_cli_file_tampered_header_is_header_mac_error(age_bin, py_keys):
    """Changing a byte of the stanza body of a CLI file makes agecrypt fail closed with an AgeError.

    The first stanza body line is the wrapped file key, so altering it makes
    the unwrap fail (no identity matches) or the header MAC fail; either way a
    typed AgeError, never plaintext.
    """
    ct = bytearray(run([age_bin, "-e", "-r", str(py_keys[0]["recipient"])], input=b"x" * 100))
    lines = bytes(ct).split(b"\n")
    body_line = 2  # version, "-> X25519 …", body
    start = sum(len(line) + 1 for line in lines[:body_line])
    ct[start] = ord("A") if ct[start] != ord("A") else ord("B")
    with pytest.raises(agecrypt.AgeError):
        agecrypt.decrypt(bytes(ct), [py_keys[0]["identity"]])


# ---------------------------------------------------------------------------
# passphrase (scrypt) through a pseudo-terminal: the CLI reads passphrases
# only from a TTY.


def _run_age_tty(args: list[str], passphrase: str, prompts: int, timeout: float = 30):
    """Run `age` with a pty as controlling terminal, answering `prompts` passphrase prompts.

    Returns (exit code, terminal transcript).
    """
    master, slave = os.openpty()

    def make_controlling_tty():  # runs in the child after setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        args,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=make_controlling_tty,
        close_fds=True,
    )
    os.close(slave)
    transcript = b""
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    break
                transcript += chunk
            if answered < prompts and transcript.lower().count(b"passphrase") > answered:
                os.write(master, passphrase.encode() + b"\n")
                answered += 1
            if not ready and proc.poll() is not None:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"age on a pty timed out; transcript: {transcript!r}")
        rc = proc.wait(timeout=10)
    finally:
        os.close(master)
    return rc, transcript


def test_agecrypt_passphrase_file_cli_decrypts(age_bin, tmp_path):
    """A file agecrypt encrypts with ScryptRecipient (work factor 10) decrypts with `age -d` given
    the passphrase on its TTY.
    """
    data = plaintext(70_000)
    ct = agecrypt.encrypt(data, [agecrypt.ScryptRecipient(PASSPHRASE, work_factor=10)])
    assert b"\n-> scrypt " in ct
    src, dst = tmp_path / "pw.age", tmp_path / "pw.out"
    src.write_bytes(ct)
    rc, transcript = _run_age_tty([age_bin, "-d", "-o", str(dst), str(src)], PASSPHRASE, 1)
    assert rc == 0, transcript
    assert sha(dst.read_bytes()) == sha(data)
    # and the wrong passphrase is refused by the CLI (so the check above is meaningful)
    rc, transcript = _run_age_tty([age_bin, "-d", "-o", str(tmp_path / "x"), str(src)], "wrong", 1)
    assert rc != 0 and b"incorrect passphrase" in transcript


def test_cli_passphrase_file_agecrypt_decrypts(age_bin, tmp_path):
    """A file `age -p` encrypts (default work factor 2^18, passphrase typed on its TTY) decrypts
    with agecrypt.ScryptIdentity.
    """
    data = plaintext(70_000)
    src, dst = tmp_path / "plain", tmp_path / "pw.age"
    src.write_bytes(data)
    rc, transcript = _run_age_tty([age_bin, "-p", "-o", str(dst), str(src)], PASSPHRASE, 2)
    assert rc == 0, transcript
    ct = dst.read_bytes()
    assert b"\n-> scrypt " in ct
    assert sha(agecrypt.decrypt(ct, [agecrypt.ScryptIdentity(PASSPHRASE)])) == sha(data)
    with pytest.raises(agecrypt.AgeError):
        agecrypt.decrypt(ct, [agecrypt.ScryptIdentity("wrong")])


# ---------------------------------------------------------------------------
# identity files (DESIGN §3: the stored key blob is an age file that
# `age -d` turns into a file `age -d -i` accepts)


def test_age_keygen_identity_file_parses(age_bin, cli_keys):
    """agecrypt.parse_identities reads an age-keygen file (with its # comments) and uses it."""
    text = cli_keys[0]["path"].read_text()
    assert text.startswith("#")  # age-keygen writes "# created: …" and "# public key: …"
    ids = agecrypt.parse_identities(text)
    assert [str(i) for i in ids] == [cli_keys[0]["identity"]]
    ct = run([age_bin, "-e", "-r", cli_keys[0]["recipient"]], input=b"hello")
    assert agecrypt.decrypt(ct, ids) == b"hello"


def test_scrypt_wrapped_identity_file_usable_by_cli(age_bin, tmp_path):
    """An identity file (two generations + # comment) encrypted by agecrypt with a passphrase is
    decrypted by `age -d` on a TTY, and the result works as `age -d -i` for an older-key file.
    """
    new, old = agecrypt.X25519Identity.generate(), agecrypt.X25519Identity.generate()
    ident_text = f"{new}\n{old}\n# ed25519-signing-key: AAAA\n"
    blob = agecrypt.encrypt(ident_text.encode(), [agecrypt.ScryptRecipient(PASSPHRASE, 10)])
    (tmp_path / "keys.age").write_bytes(blob)
    keyfile = tmp_path / "keys.txt"
    rc, transcript = _run_age_tty(
        [age_bin, "-d", "-o", str(keyfile), str(tmp_path / "keys.age")], PASSPHRASE, 1
    )
    assert rc == 0, transcript
    assert keyfile.read_text() == ident_text
    data = plaintext(100_000)
    (tmp_path / "msg.age").write_bytes(agecrypt.encrypt(data, [old.recipient()]))
    out = run([age_bin, "-d", "-i", str(keyfile), str(tmp_path / "msg.age")])
    assert sha(out) == sha(data)
