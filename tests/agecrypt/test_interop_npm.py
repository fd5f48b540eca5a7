"""Interoperability of agecrypt with the npm package `age-encryption` (typage, by age's author).

typage is the only one of the three reference implementations installed here
that reads and writes hybrid post-quantum (`mlkem768x25519`) files, so the
hybrid recipients are checked against it, both ways, plus plain X25519,
armor and passphrase files. Node is driven through the small ES-module scripts
in `tests/agecrypt/js/`, which read keys from argv/files and data from stdin.

Node and `node_modules/age-encryption` are required (the Makefile installs
them): if missing the tests fail, they are not skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import agecrypt

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
JS = Path(__file__).resolve().parent / "js"

SIZES = [0, 1, 65536, 65537, 1024 * 1024 + 7]
SIZE_IDS = [f"{n}B" for n in SIZES]
PASSPHRASE = "correct horse battery staple ünïcödé"


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("`node` not found on PATH: Node.js ≥ 20 is required for the npm interop tests")
    pkg = NODE_MODULES / "age-encryption" / "package.json"
    if not pkg.is_file():
        pytest.fail(
            f"{pkg} is missing: run `npm ci` in {ROOT} (the Makefile does this) "
            "to install the npm package age-encryption"
        )
    version = json.loads(pkg.read_text())["version"]
    major, minor = (int(x) for x in version.split(".")[:2])
    if (major, minor) < (0, 3):
        pytest.fail(
            f"age-encryption {version} is too old: 0.3 or later reads hybrid post-quantum files"
        )
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def js(node: str, script: str, *args: str, input: bytes = b"", env: dict | None = None) -> bytes:
    """Run tests/agecrypt/js/<script> with node; return stdout or fail the test with stderr."""
    proc = subprocess.run(
        [node, str(JS / script), *args],
        input=input,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=60,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"node {script} {' '.join(a[:24] for a in args)} exited {proc.returncode}: "
            f"{proc.stderr.decode(errors='replace').strip()}"
        )
    return proc.stdout


def keygen(node: str, kind: str) -> tuple[str, str]:
    identity, recipient = js(node, "keygen.mjs", kind).decode().split()
    return identity, recipient


@pytest.fixture(scope="module")
def js_hybrid_keys(node, tmp_path_factory):
    """Three hybrid key pairs made by typage, with identity files."""
    d = tmp_path_factory.mktemp("js-hybrid")
    keys = []
    for i in range(3):
        identity, recipient = keygen(node, "--hybrid")
        path = d / f"key{i}.txt"
        path.write_text(identity + "\n")
        keys.append({"identity": identity, "recipient": recipient, "path": path})
    return keys


@pytest.fixture(scope="module")
def py_hybrid_keys(tmp_path_factory):
    """Three hybrid identities made by agecrypt, with identity files typage can read."""
    d = tmp_path_factory.mktemp("py-hybrid")
    keys = []
    for i in range(3):
        ident = agecrypt.HybridIdentity.generate()
        path = d / f"key{i}.txt"
        path.write_text(f"# agecrypt hybrid identity\n{ident}\n")
        keys.append({"identity": ident, "recipient": ident.recipient(), "path": path})
    return keys


# ---------------------------------------------------------------------------
# key encodings


def test_hybrid_key_strings_agree(node, js_hybrid_keys, py_hybrid_keys):
    """Hybrid identities round-trip by string and both sides derive the same age1pq1… recipient from
    them.
    """
    for k in js_hybrid_keys:
        assert k["identity"].startswith("AGE-SECRET-KEY-PQ-1")
        assert k["recipient"].startswith("age1pq1")
        ident = agecrypt.HybridIdentity.from_string(k["identity"])
        assert str(ident) == k["identity"]
        assert str(ident.recipient()) == k["recipient"]
        assert str(agecrypt.HybridRecipient.from_string(k["recipient"])) == k["recipient"]
    text = "".join(f"{k['identity']}\n" for k in py_hybrid_keys).encode()
    derived = js(node, "keygen.mjs", "--to-recipient", input=text).decode().split()
    assert derived == [str(k["recipient"]) for k in py_hybrid_keys]
    for k in py_hybrid_keys:
        assert str(k["identity"]).startswith("AGE-SECRET-KEY-PQ-1")
        assert str(k["recipient"]).startswith("age1pq1")


def test_x25519_key_strings_agree(node):
    """An X25519 identity made by typage gives agecrypt the same recipient as typage, and vice
    versa.
    """
    identity, recipient = keygen(node, "--x25519")
    assert str(agecrypt.X25519Identity.from_string(identity).recipient()) == recipient
    mine = agecrypt.X25519Identity.generate()
    derived = js(node, "keygen.mjs", "--to-recipient", input=f"{mine}\n".encode()).decode().strip()
    assert derived == str(mine.recipient())


# ---------------------------------------------------------------------------
# hybrid post-quantum files


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_agecrypt_hybrid_typage_decrypts(size, node, js_hybrid_keys):
    """A file agecrypt encrypts to a typage-made age1pq1 recipient has an mlkem768x25519 stanza and
    decrypts with typage.
    """
    data = os.urandom(size)
    k = js_hybrid_keys[0]
    ct = agecrypt.encrypt(data, [agecrypt.HybridRecipient.from_string(k["recipient"])])
    assert b"\n-> mlkem768x25519 " in ct
    assert sha(js(node, "decrypt.mjs", str(k["path"]), input=ct)) == sha(data)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_typage_hybrid_agecrypt_decrypts(size, node, py_hybrid_keys):
    """A file typage encrypts to an agecrypt-made age1pq1 recipient decrypts with agecrypt."""
    data = os.urandom(size)
    k = py_hybrid_keys[0]
    ct = js(node, "encrypt.mjs", str(k["recipient"]), input=data)
    assert b"\n-> mlkem768x25519 " in ct
    assert sha(agecrypt.decrypt(ct, [k["identity"]])) == sha(data)


def test_agecrypt_three_hybrid_recipients_typage_decrypts(node, js_hybrid_keys):
    """A file agecrypt encrypts to three hybrid recipients decrypts with typage using each one's
    identity.
    """
    data = os.urandom(200_000)
    recipients = [agecrypt.HybridRecipient.from_string(k["recipient"]) for k in js_hybrid_keys]
    ct = agecrypt.encrypt(data, recipients)
    assert ct.count(b"\n-> mlkem768x25519 ") == 3
    for k in js_hybrid_keys:
        assert sha(js(node, "decrypt.mjs", str(k["path"]), input=ct)) == sha(data)


def test_typage_three_hybrid_recipients_agecrypt_decrypts(node, py_hybrid_keys):
    """A file typage encrypts to three agecrypt hybrid recipients decrypts with agecrypt using each
    identity alone.
    """
    data = os.urandom(200_000)
    ct = js(node, "encrypt.mjs", *[str(k["recipient"]) for k in py_hybrid_keys], input=data)
    assert ct.count(b"\n-> mlkem768x25519 ") == 3
    for k in py_hybrid_keys:
        assert sha(agecrypt.decrypt(ct, [k["identity"]])) == sha(data)


def test_typage_hybrid_file_other_identity_no_match(node, py_hybrid_keys):
    """agecrypt raises NoIdentityMatchError for a typage hybrid file addressed to another hybrid
    key.
    """
    ct = js(node, "encrypt.mjs", str(py_hybrid_keys[0]["recipient"]), input=b"secret")
    with pytest.raises(agecrypt.NoIdentityMatchError):
        agecrypt.decrypt(ct, [py_hybrid_keys[1]["identity"]])


def test_typage_hybrid_armored_agecrypt_decrypts(node, py_hybrid_keys):
    """An armored hybrid file from typage is dearmored and decrypted by agecrypt."""
    data = os.urandom(100_000)
    text = js(
        node, "encrypt.mjs", "--armor", str(py_hybrid_keys[1]["recipient"]), input=data
    ).decode()
    assert text.startswith("-----BEGIN AGE ENCRYPTED FILE-----")
    assert sha(agecrypt.decrypt(agecrypt.dearmor(text), [py_hybrid_keys[1]["identity"]])) == sha(
        data
    )


def test_agecrypt_hybrid_armored_typage_decrypts(node, js_hybrid_keys):
    """An agecrypt-armored hybrid file (header over 1 KB per stanza, long armor) decrypts with
    typage's armor decoder.
    """
    data = os.urandom(100_000)
    k = js_hybrid_keys[1]
    text = agecrypt.armor(
        agecrypt.encrypt(data, [agecrypt.HybridRecipient.from_string(k["recipient"])])
    )
    out = js(node, "decrypt.mjs", "--armor", str(k["path"]), input=text.encode())
    assert sha(out) == sha(data)


# ---------------------------------------------------------------------------
# plain X25519 and passphrase


@pytest.mark.parametrize("size", [0, 65537, 1024 * 1024 + 7], ids=lambda n: f"{n}B")
def test_x25519_both_ways_with_typage(size, node, tmp_path):
    """Plain X25519 files go both ways: typage keys/agecrypt encrypt/typage decrypt, and agecrypt
    keys/typage encrypt/agecrypt decrypt.
    """
    data = os.urandom(size)
    js_id, js_rcpt = keygen(node, "--x25519")
    idfile = tmp_path / "js.key"
    idfile.write_text(js_id + "\n")
    ct = agecrypt.encrypt(data, [agecrypt.X25519Recipient.from_string(js_rcpt)])
    assert sha(js(node, "decrypt.mjs", str(idfile), input=ct)) == sha(data)

    mine = agecrypt.X25519Identity.generate()
    ct2 = js(node, "encrypt.mjs", str(mine.recipient()), input=data)
    assert b"\n-> X25519 " in ct2
    assert sha(agecrypt.decrypt(ct2, [mine])) == sha(data)


def test_passphrase_both_ways_with_typage(node):
    """scrypt files (work factor 10) made by agecrypt decrypt with typage, and typage's with
    agecrypt.
    """
    data = os.urandom(70_000)
    env = {"AGE_TEST_PW": PASSPHRASE}
    ct = agecrypt.encrypt(data, [agecrypt.ScryptRecipient(PASSPHRASE, work_factor=10)])
    out = js(node, "decrypt.mjs", "--passphrase-env", "AGE_TEST_PW", input=ct, env=env)
    assert sha(out) == sha(data)
    ct2 = js(
        node,
        "encrypt.mjs",
        "--passphrase-env",
        "AGE_TEST_PW",
        "--work-factor",
        "10",
        input=data,
        env=env,
    )
    assert b"\n-> scrypt " in ct2
    assert sha(agecrypt.decrypt(ct2, [agecrypt.ScryptIdentity(PASSPHRASE)])) == sha(data)


def test_typage_mixed_hybrid_and_x25519_file_agecrypt_decrypts(node, py_hybrid_keys):
    """typage 0.3 writes files mixing X25519 and hybrid stanzas; agecrypt decrypts them with either
    identity (decryption accepts what the spec accepts) but refuses to make one itself.
    """
    data = os.urandom(70_000)
    classic = agecrypt.X25519Identity.generate()
    hybrid = py_hybrid_keys[2]
    ct = js(node, "encrypt.mjs", str(classic.recipient()), str(hybrid["recipient"]), input=data)
    assert b"\n-> X25519 " in ct and b"\n-> mlkem768x25519 " in ct
    assert sha(agecrypt.decrypt(ct, [classic])) == sha(data)
    assert sha(agecrypt.decrypt(ct, [hybrid["identity"]])) == sha(data)
    with pytest.raises(agecrypt.MixedRecipientsError):
        agecrypt.encrypt(data, [classic.recipient(), hybrid["recipient"]])
