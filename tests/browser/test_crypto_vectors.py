"""The browser's client crypto (static/js/crypto/, bundled) passes the shared vectors.

Every file of ``tests/vectors/`` (SPEC-v2-crypto.md, written by ``client/``'s
generator) runs through the bundle in Chromium and must give the same bytes as the
Python client; negative cases must raise the bundle's typed error (CryptoError).
The vectors use work factor 10, which only the test build of the bundle accepts
(``tools/bundle.mjs --test``); the served build is checked to refuse it. Both are
served by a tiny static server: these tests need no database or Django server.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest

from tests.support.bundle import BUNDLE_DIR, build
from tests.support.live import REPO_ROOT

pytestmark = [pytest.mark.browser]

VECTORS = REPO_ROOT / "tests" / "vectors"
HARNESS = Path(__file__).with_name("crypto_harness.js")
# Every vector file client/'s generator writes, each run by one test below; a new file
# (or a missing one) fails test_every_vector_file_is_run until it is given a test.
KINDS = ["normalise", "normalise_invalid", "prelogin", "derivation", "recovery", "safety",
         "messagebox", "statement_invalid", "endorsement", "identity", "filehash", "notices",
         "membership", "epoch", "fileclaim", "filewriter"]


def load_vectors(kind: str) -> list:
    """The entries of ``tests/vectors/<kind>.json``: a non-empty JSON array (protocol.md)."""
    path = VECTORS / f"{kind}.json"
    if not path.exists():
        pytest.fail(f"{path} is missing: client/'s tests/vectors/generate.py writes it")
    data = json.loads(path.read_text())
    assert isinstance(data, list) and data, f"{path} is not a non-empty JSON array"
    return data


def test_every_vector_file_is_run():
    assert sorted(p.stem for p in VECTORS.glob("*.json")) == sorted(KINDS)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def bundle_server(tmp_path_factory):
    """(base URL, {variant: manifest}) of a static server holding the test build under
    /test/ and the served build (static/dist) under /served/."""
    root = tmp_path_factory.mktemp("bundles")
    manifests = {"test": build(root / "test", test_variant=True),
                 "served": json.loads((BUNDLE_DIR / "manifest.json").read_text())}
    (root / "served").symlink_to(BUNDLE_DIR, target_is_directory=True)
    (root / "index.html").write_text("<!doctype html><title>crypto vectors</title>")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", manifests
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def crypto(browser, bundle_server):
    """``crypto(kind, vectors, variant="test")`` → the bundle's results, one per vector."""
    base, manifests = bundle_server
    context = browser.new_context()
    page = context.new_page()
    page.goto(base + "/index.html")
    harness = HARNESS.read_text()

    def url(variant):
        return f"{base}/{variant}/{manifests[variant]['entries']['crypto/index']['file']}"

    def run(kind, vectors, variant="test", extra=None):
        extra_json = None if extra is None else json.dumps(extra)
        return page.evaluate(harness, [url(variant), kind, json.dumps(vectors), extra_json])

    run.page, run.url, run.manifests = page, url, manifests
    yield run
    context.close()


def expect_fields(vector: dict, result: dict, names: list[str]) -> None:
    assert "error" not in result, f"the bundle raised {result} for {vector}"
    assert {n: result[n] for n in names} == {n: vector[n] for n in names}


def expect_refused(result: dict, code: str, case) -> None:
    """The bundle raised its typed error (a CryptoError) with client/'s ``code``."""
    assert result.get("typed") is True and result["error"] == code, f"{case!r} gave {result}"


def test_normalise(crypto):
    vectors = load_vectors("normalise")
    results = crypto("normalise", vectors)
    for vector, result in zip(vectors, results, strict=True):
        expect_fields(vector, result, ["normalised"])
    assert len(results) == len(vectors)


def test_normalise_refuses_every_invalid_address(crypto):
    vectors = load_vectors("normalise_invalid")
    results = crypto("normalise_invalid", vectors)
    for vector, result in zip(vectors, results, strict=True):
        expect_refused(result, "bad_email", vector["input"])
    assert len(results) == len(vectors)


def test_prelogin_salt(crypto):
    vectors = load_vectors("prelogin")
    results = crypto("prelogin", vectors)
    for vector, result in zip(vectors, results, strict=True):
        expect_fields(vector, result, ["account_salt"])
    assert len(results) == len(vectors)


def test_derivation(crypto):
    """master, auth_key, wrap_key and the 43-character passphrase; scrypt reports progress."""
    vectors = load_vectors("derivation")
    results = crypto("derivation", vectors)
    for vector, result in zip(vectors, results, strict=True):
        expect_fields(vector, result, ["salt", "master", "auth_key", "wrap_key", "passphrase"])
        assert len(result["passphrase"]) == 43
        assert result["progress_end"] == 1
    assert len(results) == len(vectors)


def test_recovery_codes(crypto):
    """Typed codes (any case, dashes, O/I/L) → the normalised code, seed, identity and
    recipient; every invalid one (non-ASCII included) raises bad_recovery_code."""
    vectors = load_vectors("recovery")
    results = crypto("recovery", vectors)
    valid = invalid = 0
    for vector, result in zip(vectors, results, strict=True):
        if "invalid" in vector:
            for code, outcome in zip(vector["invalid"], result["invalid"], strict=True):
                expect_refused(outcome, "bad_recovery_code", code)
                invalid += 1
            continue
        expect_fields(vector, result, ["normalised", "seed", "identity", "recipient"])
        groups = result["formatted"].split("-")
        assert [len(g) for g in groups] == [5, 5, 5, 5, 5, 1]
        valid += 1
    assert valid == sum("invalid" not in v for v in vectors) > 0
    assert invalid == sum(len(v.get("invalid", [])) for v in vectors) > 0


def test_safety_numbers(crypto):
    vectors = load_vectors("safety")
    results = crypto("safety", vectors)
    for vector, result in zip(vectors, results, strict=True):
        expect_fields(vector, result, ["F_a", "F_b", "safety_number", "qr"])
        assert result["symmetric"] is True
        assert result["qr_matches"] is True
    assert len(results) == len(vectors)


def test_message_box_and_statement(crypto):
    """Sealing gives the vector's box byte for byte, opening gives the JSON back, the
    statement rebuilt from ``statement_fields`` is the vector's, its hash and deterministic
    signature match, it verifies against the receiver's context and box and a flipped bit
    or another box fails; every negative case raises the vector's code."""
    vectors = load_vectors("messagebox")
    results = crypto("messagebox", vectors)
    positive, negative = 0, {}
    for vector, result in zip(vectors, results, strict=True):
        if "error" in vector:
            expect_refused(result, vector["error"], vector["why"])
            negative[vector["error"]] = negative.get(vector["error"], 0) + 1
            continue
        expect_fields(vector, result, ["context_bytes", "box", "box_salt", "plaintext_json",
                                       "padded_len", "statement", "statement_fields",
                                       "message_hash", "ed25519_public", "signature"])
        box = bytes.fromhex(vector["box"])
        assert len(box) == vector["padded_len"] + 33
        assert result["box_digest"] == hashlib.sha256(box[1:]).hexdigest()
        assert result["box_digest"] == vector["statement_fields"]["box_hash"]
        assert "".join(_split_fields(bytes.fromhex(vector["statement"]))[1:8]) == (
            vector["context_bytes"])  # the context, field by field, leads the statement
        assert result["parsed_context"] == vector["context_bytes"]  # the strict reader agrees
        assert result["tampered_verify"] == {"error": "bad_signature", "typed": True,
                                             "name": "SignatureError"}
        assert result["other_box"] == {"error": "bad_statement", "typed": True,
                                       "name": "StatementError"}
        positive += 1
    assert positive == sum("error" not in v for v in vectors)
    assert negative == _count_codes(vectors)
    assert positive and set(negative) == {"bad_tag", "bad_format", "bad_padding"}
    # Every bucket is covered: 256, 1K, 4K, 16K, 32K.
    assert {v["padded_len"] for v in vectors if "error" not in v} == {
        256, 1024, 4096, 16384, 32768}


def _count_codes(vectors: list) -> dict:
    counts: dict = {}
    for vector in vectors:
        if "error" in vector:
            counts[vector["error"]] = counts.get(vector["error"], 0) + 1
    return counts


def test_every_non_canonical_message_statement_is_refused(crypto):
    vectors = load_vectors("statement_invalid")
    results = crypto("statement_invalid", vectors)
    for vector, result in zip(vectors, results, strict=True):
        expect_refused(result, "bad_statement", vector["why"])
    assert len(results) == len(vectors)


def test_endorsements(crypto):
    """Each endorsement verifies under its signer and parses to the vector's keys; the
    bundle rebuilds the statement and its deterministic signature; a flipped bit fails."""
    vectors = load_vectors("endorsement")
    results = crypto("endorsement", vectors)
    for vector, result in zip(vectors, results, strict=True):
        expect_fields(vector, result, ["user_id", "generation", "recipient", "ed25519",
                                       "signer_public", "statement", "signature"])
        assert result["tampered_verify"]["error"] == "bad_signature"
    assert len(results) == len(vectors)
    assert {v["recipient"][:7] == "age1pq1" for v in vectors} == {True, False}


def test_file_claims(crypto):
    """Each good claim verifies and parses to the vector's fields and the bundle rebuilds its
    statement; a flipped signature bit fails; every bad claim gets the vector's error."""
    vectors = load_vectors("fileclaim")
    results = crypto("fileclaim", vectors)
    good = bad = 0
    for vector, result in zip(vectors, results, strict=True):
        if "error" in vector:
            expect_refused(result, vector["error"], vector["why"])
            bad += 1
            continue
        expect_fields(vector, result, ["conversation_id", "client_message_id", "upload_id",
                                       "sender_id", "sender_generation", "statement"])
        assert result["tampered_verify"]["error"] == "bad_signature"
        good += 1
    assert (good, bad) == (sum("error" not in v for v in vectors),
                           sum("error" in v for v in vectors))
    assert good >= 1 and bad >= 4


def test_identity_unwraps_by_passphrase_and_by_recovery_code(crypto):
    """The wrapped identity opens with its passphrase and the recovery copy with its code,
    both to the vector's identity file; a wrong passphrase is unwrap_failed and each file
    is refused by the other's opener before any key is tried."""
    vectors = load_vectors("identity")
    results = crypto("identity", vectors)
    for vector, result in zip(vectors, results, strict=True):
        assert "error" not in result, result
        assert result["unwrapped"] == vector["identity_file"]
        assert result["recovered"] == vector["identity_file"]
        expect_refused(result["wrong_passphrase"], "unwrap_failed", "wrong passphrase")
        expect_refused(result["recovery_copy_as_wrapped"], "bad_wrapped_identity", "copy")
        expect_refused(result["wrapped_as_recovery_copy"], "bad_wrapped_identity", "wrapped")
    assert len(results) == len(vectors)


def _split_fields(data: bytes) -> list[str]:
    """Hex of each u32be-length-prefixed field, prefix included (a second reading of the
    encoding, independent of the bundle's parser)."""
    out, offset = [], 0
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 4], "big")
        out.append(data[offset:offset + 4 + length].hex())
        offset += 4 + length
    assert offset == len(data)
    return out


# Each case calls the bundle (``c``) with bad input; it must raise a CryptoError.
REFUSALS = """async ([url, cases]) => {
  const c = await import(url);
  const out = {};
  for (const [name, body] of Object.entries(cases)) {
    let progress = 0;
    const onProgress = () => { progress += 1; };
    try {
      await new Function("c", "onProgress", `return (async () => { ${body} })()`)(c, onProgress);
      out[name] = { accepted: true };
    } catch (error) {
      out[name] = { typed: error instanceof c.CryptoError, name: error.name, code: error.code,
                    progress };
    }
  }
  return out;
}"""

DERIVE = ("await c.deriveKeys({email: 'a@example.com', accountSalt: new Uint8Array(16), "
          "password: 'correct horse battery', workFactor: %s, onProgress});")


def test_the_served_bundle_refuses_work_factors_outside_16_to_20(crypto):
    """The floor is compiled in: the served build refuses 10 and 15 (what the test build
    accepts) and 21, before scrypt runs (no progress reported)."""
    cases = {f"wf{wf}": DERIVE % wf for wf in (10, 15, 21)}
    cases["fractional"] = DERIVE % "16.5"
    results = crypto.page.evaluate(REFUSALS, [crypto.url("served"), cases])
    for name, outcome in results.items():
        assert outcome == {"typed": True, "name": "WorkFactorError", "code": "bad_work_factor",
                           "progress": 0}, name
    # Positive control: the same call with the vectors' factor runs in the test build.
    accepted = crypto.page.evaluate(REFUSALS, [crypto.url("test"), {"wf10": DERIVE % 10}])
    assert accepted == {"wf10": {"accepted": True}}


def test_malformed_input_raises_typed_errors(crypto):
    """Wrong lengths, trailing bytes, bad addresses, a box over 48 KiB or of another
    version: each raises a CryptoError subclass with client/'s code (protocol.md §13),
    never a bare TypeError."""
    ctx = ("{conversationId: new Uint8Array(16), epoch: 1, envelopeHash: new Uint8Array(32), "
           "senderId: 1, senderGeneration: 1, deviceId: new Uint8Array(16), deviceCounter: 0}")
    cases = {
        "email without @": ("bad_email", "c.normaliseEmail('alice.example.com');"),
        "email with two @": ("bad_email", "c.normaliseEmail('a@b@example.com');"),
        "email with a lone surrogate": ("bad_email", "c.normaliseEmail('a\\ud800@example.com');"),
        "short account salt": ("bad_salt", "c.scryptSalt('a@example.com', new Uint8Array(15));"),
        "empty password": ("usage", "await c.deriveKeys({email: 'a@example.com', "
                           "accountSalt: new Uint8Array(16), password: '', workFactor: 10});"),
        "statement with trailing byte": (
            "bad_statement", "c.parseStatement(new Uint8Array([0,0,0,1,65,0]));"),
        "message statement with a short id": ("bad_statement", (
            "const f = c.parseStatement(c.statement('securechat/v2/message', "
            "...Array.from({length: 14}, () => new Uint8Array(8)))); "
            "c.parseMessageStatement(c.statement('securechat/v2/message', ...f));")),
        "message statement with 13 fields": ("bad_statement", (
            "c.parseMessageStatement(c.statement('securechat/v2/message', "
            "...Array.from({length: 13}, () => new Uint8Array(8))));")),
        "statement of another tag": ("bad_statement", (
            "c.parseStatement(c.statement('securechat/v2/epoch'), c.MESSAGE_TAG);")),
        "short conversation id": ("usage", f"c.messageContext({{...{ctx}, conversationId: "
                                           "new Uint8Array(15)});"),
        "negative counter": ("usage", f"c.messageContext({{...{ctx}, deviceCounter: -1}});"),
        "kind with a space": ("usage", (
            f"c.messageStatement({{...{ctx}, clientMessageId: new Uint8Array(16), "
            "kind: 'te xt', boxDigest: new Uint8Array(32), clientClockMs: 0});")),
        "oversized message": ("usage", (
            f"c.sealMessage({{epochSecret: new Uint8Array(32), context: {ctx},"
            " json: 'x'.repeat(32765)});")),
        "box version 1": ("bad_format", (
            f"const box = c.sealMessage({{epochSecret: new Uint8Array(32), "
            f"context: {ctx}, json: '{{}}'}}); box[0] = 1; "
            f"c.openMessage({{box, epochSecret: new Uint8Array(32), context: {ctx}}});")),
        "truncated box": ("bad_format", (
            f"c.openMessage({{box: new Uint8Array(20), "
            f"epochSecret: new Uint8Array(32), context: {ctx}}});")),
        "recovery code with U": ("bad_recovery_code", "c.parseRecoveryCode('U'.repeat(26));"),
        "unknown key type": ("usage", "c.recoverySeed('0'.repeat(26), 'rsa');"),
        "short signature": ("bad_signature", (
            "c.verifyStatement(new Uint8Array(32), new Uint8Array(1), new Uint8Array(63));")),
        "same user twice": ("bad_safety_input", (
            "const u = {userId: 1, ed25519: new Uint8Array(32), "
            "recipient: 'age1x'}; c.safetyNumber(u, u);")),
        "non-canonical recipient": ("usage", (
            "const u = (id, r) => ({userId: id, ed25519: new Uint8Array(32), recipient: r}); "
            "c.safetyNumber(u(1, 'AGE1WSRJRDL2LNQYQDV8UAV0N4QKHR798D7A63NHCGS4PMWJGKMJMVAS4T24JJ'),"
            " u(2, 'age1wsrjrdl2lnqyqdv8uav0n4qkhr798d7a63nhcgs4pmwjgkmjmvas4t24jj'));")),
        "malformed QR payload": ("bad_safety_input", (
            "const u = (id) => ({userId: id, ed25519: new Uint8Array(32), recipient: "
            "'age1wsrjrdl2lnqyqdv8uav0n4qkhr798d7a63nhcgs4pmwjgkmjmvas4t24jj'}); "
            "c.verifySafetyQr('securechat-safety:2:00:00', u(1), u(2));")),
    }
    results = crypto.page.evaluate(REFUSALS, [crypto.url("test"),
                                              {name: body for name, (_, body) in cases.items()}])
    codes = {name: (outcome.get("typed"), outcome.get("code")) for name, outcome in results.items()}
    assert codes == {name: (True, code) for name, (code, _) in cases.items()}
    # Positive control: the largest plaintext (32764 bytes of JSON) seals into 48 KiB.
    largest = crypto.page.evaluate(REFUSALS, [crypto.url("test"), {"largest": (
        f"const box = c.sealMessage({{epochSecret: new Uint8Array(32), context: {ctx}, "
        "json: 'x'.repeat(32764)}); if (box.length !== 32768 + 33) throw new Error('size');")}])
    assert largest == {"largest": {"accepted": True}}


def test_fresh_recovery_codes_are_26_random_characters_that_round_trip(crypto):
    """generateRecoveryCode draws from getRandomValues: 26 alphabet characters, distinct
    across calls, and its display form (groups of 5) parses back to it."""
    result = crypto.page.evaluate("""async (url) => {
        const c = await import(url);
        const codes = Array.from({length: 64}, () => c.generateRecoveryCode());
        return {codes, alphabet: c.ALPHABET,
                roundTrip: codes.every((code) =>
                    c.parseRecoveryCode(c.formatRecoveryCode(code)) === code),
                identity: (await c.recoveryIdentity(codes[0], "hybrid")).identity};
    }""", crypto.url("test"))
    codes = result["codes"]
    assert len(set(codes)) == len(codes)
    assert all(len(code) == 26 and set(code) <= set(result["alphabet"]) for code in codes)
    assert result["roundTrip"] is True
    assert result["identity"].startswith("AGE-SECRET-KEY-PQ-1")
    # Every alphabet character turns up across 64 × 26 draws (about 52 of each expected).
    assert set("".join(codes)) == set(result["alphabet"])


def test_recovery_codes_are_made_from_random_bytes_as_client_makes_them(crypto):
    """Given the generator's random bytes (17 of them, protocol.md §6), the bundle makes
    the code of recovery.json's first entry, as client.recovery.generate_code does."""
    from tests.vectors.generate import det

    code = load_vectors("recovery")[0]["code"]
    made = crypto.page.evaluate("""async ([url, hexBytes]) => {
        const c = await import(url);
        const given = c.fromHex(hexBytes);
        const real = crypto.getRandomValues;
        crypto.getRandomValues = (array) => {
          if (array.length !== given.length) throw new Error(`asked for ${array.length}`);
          array.set(given);
          return array;
        };
        try {
          return c.formatRecoveryCode(c.generateRecoveryCode());
        } finally {
          crypto.getRandomValues = real;
        }
    }""", [crypto.url("test"), det("recovery-code-0", 17).hex()])
    assert made == code


WRAP_RUN = """async ([url, files, passphrase, identity]) => {
  const c = await import(url);
  const out = {};
  for (const [name, hexFile] of Object.entries(files)) {
    const started = performance.now();
    try {
      out[name] = {text: await c.unwrapIdentity(c.fromHex(hexFile), passphrase)};
    } catch (error) {
      out[name] = {typed: error instanceof c.CryptoError, name: error.name, code: error.code};
    }
    out[name].ms = performance.now() - started;
  }
  out.made = c.toHex(await c.wrapIdentity(identity, passphrase));
  return out;
}"""


def test_wrapped_identities_open_only_as_one_scrypt_stanza_of_work_factor_10(crypto):
    """Interop with agecrypt both ways; a header that is not exactly one scrypt stanza of
    work factor 10 is refused before scrypt runs (a factor of 30 would take minutes)."""
    import agecrypt
    from agecrypt.scrypt import ScryptIdentity, ScryptRecipient

    passphrase = "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg"
    identity_text = str(agecrypt.X25519Identity.generate()) + "\n"
    good = agecrypt.encrypt(identity_text.encode(), [ScryptRecipient(passphrase, 10)])
    lines = good.split(b"\n")
    files = {
        "agecrypt": good,
        "work factor 11": agecrypt.encrypt(b"x", [ScryptRecipient(passphrase, 11)]),
        "work factor 30": good.replace(b" 10\n", b" 30\n", 1),
        "two stanzas": b"\n".join([lines[0], lines[1], lines[2], *lines[1:]]),
        "x25519 stanza": agecrypt.encrypt(b"x", [agecrypt.X25519Identity.generate().recipient()]),
        "armored": agecrypt.armor(good).encode(),
    }
    results = crypto.page.evaluate(WRAP_RUN, [
        crypto.url("test"), {k: v.hex() for k, v in files.items()}, passphrase, identity_text])
    assert results["agecrypt"]["text"] == identity_text
    for name in ("work factor 11", "work factor 30"):  # protocol.md §5: the shape is wrong
        assert results[name] | {"ms": 0} == {"typed": True, "name": "WrappedIdentityError",
                                             "code": "bad_wrapped_identity", "ms": 0}, name
    assert results["work factor 30"]["ms"] < 1000
    for name in ("two stanzas", "x25519 stanza", "armored"):
        assert results[name]["code"] == "bad_wrapped_identity", name
    made = bytes.fromhex(results["made"])
    assert b"\n-> scrypt " in made and made.split(b"\n")[1].endswith(b" 10")
    assert agecrypt.decrypt(made, [ScryptIdentity(passphrase)]).decode() == identity_text



PARAMS_RUN = """async (url) => {
  const c = await import(url);
  const salt = new Uint8Array(16).fill(1);
  const known = {accountSalt: salt, workFactor: 17};
  const cases = {
    "first login": [null, {accountSalt: salt, workFactor: 16}],
    "same": [known, {accountSalt: salt, workFactor: 17}],
    "raised": [known, {accountSalt: salt, workFactor: 18}],
    "lowered": [known, {accountSalt: salt, workFactor: 16}],
    "other salt": [known, {accountSalt: new Uint8Array(16).fill(2), workFactor: 17}],
    "factor 8": [null, {accountSalt: salt, workFactor: 8}],
    "factor 21": [known, {accountSalt: salt, workFactor: 21}],
    "short salt": [null, {accountSalt: new Uint8Array(15), workFactor: 16}],
  };
  const out = {};
  for (const [name, [remembered, answer]] of Object.entries(cases)) {
    try {
      out[name] = {remember: c.checkAccountParameters(remembered, answer).workFactor};
    } catch (error) {
      out[name] = {typed: error instanceof c.CryptoError, name: error.name, code: error.code};
    }
  }
  return out;
}"""


def test_a_client_refuses_a_changed_salt_or_a_lowered_work_factor(crypto):
    """The prelogin answer against what the client remembered (served build: floor 16)."""
    results = crypto.page.evaluate(PARAMS_RUN, crypto.url("served"))
    assert results["first login"] == {"remember": 16}
    assert results["same"] == {"remember": 17}
    assert results["raised"] == {"remember": 18}
    for name in ("lowered", "factor 8", "factor 21"):
        assert results[name] == {"typed": True, "name": "WorkFactorError",
                                 "code": "bad_work_factor"}, name
    assert results["other salt"] == {"typed": True, "name": "AccountParametersError",
                                     "code": "salt_changed"}
    assert results["short salt"] == {"typed": True, "name": "SaltError", "code": "bad_salt"}


CROSS_RUN = """async ([url, theirs, ctxJson, endorsedJson]) => {
  const c = await import(url);
  const ctxIn = JSON.parse(ctxJson);
  const context = {
    conversationId: c.fromHex(ctxIn.conversation_id), epoch: BigInt(ctxIn.epoch),
    envelopeHash: c.fromHex(ctxIn.envelope_hash), senderId: BigInt(ctxIn.sender_id),
    senderGeneration: BigInt(ctxIn.sender_generation), deviceId: c.fromHex(ctxIn.device_id),
    deviceCounter: BigInt(ctxIn.device_counter),
  };
  const secret = c.fromHex(theirs.epoch_secret);
  const attempt = (fn) => {
    try {
      return {value: fn()};
    } catch (e) {
      return {code: e.code, typed: e instanceof c.CryptoError};
    }
  };
  // Open what client/ sealed and verify what it signed, against this side's own context.
  const opened = theirs.boxes.map((box) => attempt(() =>
    c.openMessage({box: c.fromHex(box), epochSecret: secret, context})));
  const verified = attempt(() => {
    const p = c.verifyMessageStatement(c.fromHex(theirs.public), c.fromHex(theirs.statement),
      c.fromHex(theirs.signature), {context, box: c.fromHex(theirs.boxes[0])});
    return {kind: p.kind, client_clock_ms: String(p.clientClockMs)};
  });
  const movedContext = attempt(() => c.verifyMessageStatement(c.fromHex(theirs.public),
    c.fromHex(theirs.statement), c.fromHex(theirs.signature),
    {context: {...context, epoch: context.epoch + 1n},
     box: c.fromHex(theirs.boxes[0])}));
  const endorsement = attempt(() => {
    const e = c.verifyEndorsement(c.fromHex(theirs.endorser_public),
      c.fromHex(theirs.endorsement), c.fromHex(theirs.endorsement_signature));
    return {user_id: String(e.userId), generation: String(e.generation),
            recipient: e.recipient, ed25519: c.toHex(e.ed25519)};
  });
  // Seal, sign and endorse here, with fresh random salts and keys, for client/ to check.
  const boxes = theirs.jsons.map((json) =>
    c.toHex(c.sealMessage({epochSecret: secret, context, json})));
  const seed = c.randomBytes(32);
  const statement = c.messageStatement({...context, clientMessageId: c.randomBytes(16),
    kind: "text", box: c.fromHex(boxes[0]), prevHash: c.randomBytes(32), seenSeq: 2n ** 60n,
    seenHash: c.randomBytes(32), clientClockMs: 1795000000123});
  const endorsedIn = JSON.parse(endorsedJson);
  const signed = c.signEndorsement(seed, {userId: BigInt(endorsedIn.user_id),
    generation: BigInt(endorsedIn.generation), recipient: endorsedIn.recipient,
    ed25519: c.fromHex(endorsedIn.ed25519)});
  return {opened, verified, movedContext, endorsement, boxes,
          public: c.toHex(c.signingPublicKey(seed)), statement: c.toHex(statement),
          signature: c.toHex(c.signStatement(seed, statement)),
          endorsement_statement: c.toHex(signed.statement),
          endorsement_signature: c.toHex(signed.signature)};
}"""


def test_boxes_and_signatures_cross_open_between_the_browser_and_client(crypto):
    """Not from the vector files: a box client/ seals (fresh random salt) opens in the
    bundle and a box the bundle seals (its own fresh salt) opens with client/, for every
    padded size; statements and endorsements signed on one side verify on the other,
    u64 values above 2^53 included, and a moved context is refused on both."""
    import os

    import agecrypt
    from client import endorsement, messagebox, signing
    from client.errors import StatementError

    ctx = messagebox.MessageContext(
        conversation_id=os.urandom(16), epoch=2**60 + 3, envelope_hash=os.urandom(32),
        sender_id=2**53 + 1, sender_generation=7, device_id=os.urandom(16),
        device_counter=2**64 - 1)
    secret = os.urandom(32)
    jsons = [messagebox.encode_text(t).decode() for t in ("hi", "é" * 400, "x" * 2000,
                                                           "y" * 16000, "z" * 32733)]
    boxes = [messagebox.seal(secret, ctx, j.encode()) for j in jsons]
    key = signing.signing_key_from_seed(os.urandom(32))
    stmt = messagebox.build_statement(ctx, boxes[0], client_message_id=os.urandom(16),
                                      kind="text", seen_seq=2**60, client_clock_ms=2**62)
    data, sig = messagebox.sign_statement(key, stmt)
    endorser = signing.signing_key_from_seed(os.urandom(32))
    endorsed = endorsement.Endorsed(2**53 + 5, 3, str(agecrypt.HybridIdentity.generate()
                                                      .recipient()), os.urandom(32))
    e_data, e_sig = endorsement.sign_endorsement(endorser, endorsed)
    theirs = {"epoch_secret": secret.hex(), "boxes": [b.hex() for b in boxes], "jsons": jsons,
              "public": signing.public_key_bytes(key).hex(), "statement": data.hex(),
              "signature": sig.hex(), "endorsement": e_data.hex(),
              "endorsement_signature": e_sig.hex(),
              "endorser_public": signing.public_key_bytes(endorser).hex()}
    ctx_json = {k: (v.hex() if isinstance(v, bytes) else str(v)) for k, v in ctx.values().items()}
    endorsed_json = {"user_id": str(endorsed.user_id), "generation": str(endorsed.generation),
                     "recipient": endorsed.recipient, "ed25519": endorsed.ed25519.hex()}
    out = crypto.page.evaluate(CROSS_RUN, [crypto.url("test"), theirs, json.dumps(ctx_json),
                                           json.dumps(endorsed_json)])

    # client/ → browser
    assert out["opened"] == [{"value": j} for j in jsons]
    assert out["verified"] == {"value": {"kind": "text", "client_clock_ms": str(2**62)}}
    assert out["movedContext"] == {"code": "bad_statement", "typed": True}
    assert out["endorsement"] == {"value": endorsed_json}
    # browser → client/
    theirs_boxes = [bytes.fromhex(b) for b in out["boxes"]]
    assert [messagebox.open_box(secret, ctx, b).decode() for b in theirs_boxes] == jsons
    assert [len(b) - 33 for b in theirs_boxes] == [256, 1024, 4096, 16384, 32768]
    salts = {b[1:17] for b in theirs_boxes + boxes}
    assert len(salts) == 2 * len(jsons)  # fresh on both sides, never reused
    statement = bytes.fromhex(out["statement"])
    parsed = messagebox.verify_statement(bytes.fromhex(out["public"]), statement,
                                         bytes.fromhex(out["signature"]), context=ctx,
                                         box=theirs_boxes[0])
    assert parsed.seen_seq == 2**60 and parsed.kind == "text"
    with pytest.raises(StatementError):
        messagebox.verify_statement(bytes.fromhex(out["public"]), statement,
                                    bytes.fromhex(out["signature"]), context=ctx,
                                    box=theirs_boxes[1])
    verified = endorsement.verify_endorsement(
        bytes.fromhex(out["public"]), bytes.fromhex(out["endorsement_statement"]),
        bytes.fromhex(out["endorsement_signature"]))
    assert verified == endorsed


# --- file hash (protocol.md §18) ---------------------------------------------------------


def test_file_hash(crypto):
    """Each file's hash, its header-and-nonce hash and chunk hashes match, fed whole, in
    pieces of 1 byte to 1 MiB and as a Blob read in slices of 1,000 bytes to 1 MiB; every negative
    case raises its code whether given as bytes, pieces or a Blob."""
    vectors = load_vectors("filehash")
    results = crypto("filehash", vectors)
    positive, negative = 0, {}
    for vector, result in zip(vectors, results, strict=True):
        if "error" in vector:
            for outcome in (result, result["blob"], result["split"]):
                expect_refused({k: v for k, v in outcome.items() if k not in ("blob", "split")},
                               vector["error"], vector["why"])
            negative[vector["error"]] = negative.get(vector["error"], 0) + 1
            continue
        expect_fields(vector, result, ["file_hash", "header_nonce_hash", "chunk_hashes"])
        assert set(result["pieces"].values()) == {vector["file_hash"]}
        assert set(result["blobs"].values()) == {vector["file_hash"]}
        assert len(result["pieces"]) == 7 and len(result["blobs"]) == 5
        assert result["verified"] == "undefined"
        expect_refused(result["flipped"], "file_hash_mismatch", "flipped expected hash")
        positive += 1
    assert positive == sum("error" not in v for v in vectors) == 4
    assert negative == _count_codes(vectors)
    assert set(negative) == {"bad_file", "file_hash_mismatch"}


FILE_CROSS_RUN = """async ([url, theirs]) => {
  const c = await import(url);
  const blob = new Blob([c.fromHex(theirs)]);
  const hashes = {};
  for (const size of [1000, 65552, 100003, 1 << 20]) {
    hashes[size] = c.toHex(await c.fileHashOfBlob(blob, { pieceSize: size }));
  }
  return { hashes };
}"""


def test_file_hashes_agree_with_client_over_a_streamed_blob(crypto):
    """Not from the vector files: a fresh 200,000-byte age file (four chunks) made by
    agecrypt hashes in the browser, as a Blob read in slices of four different sizes, to
    client.filehash's value; and an age file the browser's age library makes hashes to
    the browser's value in client/ (a pin blob of 400 contacts: two chunks)."""
    import os

    import agecrypt
    from client import filehash

    ident = agecrypt.X25519Identity.generate()
    data = agecrypt.encrypt(os.urandom(200_000), [ident.recipient()])
    out = crypto.page.evaluate(FILE_CROSS_RUN, [crypto.url("test"), data.hex()])
    assert set(out["hashes"].values()) == {filehash.file_hash(data).hex()}
    made = crypto.page.evaluate("""async ([url, recipient]) => {
        const c = await import(url);
        const pin = () => ({generation: 1, recipientHash: c.randomBytes(32),
          ed25519Hash: c.randomBytes(32), verified: false});
        const contacts = new Map(Array.from({length: 400}, (_, i) => [i + 2, pin()]));
        const sealed = await c.sealPinBlob(c.randomBytes(32), {userId: 1, generation: 1,
          recipient}, {ownerId: 1, version: 1, contacts});
        return {file: c.toHex(sealed),
                hash: c.toHex(await c.fileHashOfBlob(new Blob([sealed]), {pieceSize: 9}))};
    }""", [crypto.url("test"), str(ident.recipient())])
    file = bytes.fromhex(made["file"])
    assert len(file) > 65_552 + 200  # at least two chunks
    assert filehash.file_hash(file).hex() == made["hash"]


# --- notices and the pin blob (protocol.md §17) ------------------------------------------


def _users() -> dict:
    return {"users": load_vectors("membership")[0]["users"]}


def test_cannot_open_notices_and_pin_blobs(crypto):
    """The cannot-open notice verifies under Bob's key and is rebuilt and re-signed byte
    for byte; Alice's pin blob opens with her identity to the vector's version and content,
    its statement and signature are rebuilt, the rollback rules hold, another identity,
    owner or generation is refused; the merge gives the vector's merged pins."""
    vectors = load_vectors("notices")
    results = crypto("notices", vectors, extra=_users())
    seen = []
    for vector, result in zip(vectors, results, strict=True):
        assert "error" not in result, (vector["type"], result)
        seen.append(vector["type"])
        if vector["type"] == "cannot-open":
            expect_fields(vector, result, [
                "conversation_id", "epoch", "envelope_hash", "creator_id", "reporter_id",
                "reporter_generation", "client_clock_ms", "statement", "signature"])
            expect_refused(result["tampered"], "bad_signature", "tampered notice")
            expect_refused(result["unknown_reporter"], "unknown_key", "unknown reporter")
        elif vector["type"] == "pins":
            expect_fields(vector, result, ["owner_id", "version", "content", "statement",
                                           "signature"])
            statement = bytes.fromhex(vector["statement"])
            assert result["statement_hash"] == hashlib.sha256(statement).hexdigest()
            assert result["same_version_same_hash"] == vector["version"]
            expect_refused(result["older_than_seen"], "pin_rollback", "older")
            expect_refused(result["same_version_other_hash"], "pin_rollback", "other hash")
            expect_refused(result["another_identity"], "bad_pin_blob", "Bob's identity")
            expect_refused(result["another_owner"], "bad_pin_blob", "another owner")
            expect_refused(result["unknown_generation"], "unknown_key", "no key")
            expect_refused(result["non_canonical"], "bad_pin_blob", "a space")
            assert result["resealed"]["content"] == vector["content"]
            assert result["resealed"]["version"] == vector["version"]
            _open_resealed_blob_in_client(vector, bytes.fromhex(result["resealed"]["hex"]))
        else:
            expect_fields(vector, result, ["merged", "merged_version", "conflicts"])
    assert seen == ["cannot-open", "pins", "pins-merge"]


def _open_resealed_blob_in_client(vector: dict, blob: bytes) -> None:
    """The blob the bundle sealed (fresh age randomness) opens with client.notices."""
    import agecrypt
    from client import notices
    from client.endorsement import Endorsed

    alice = next(u for u in _users()["users"] if u["user_id"] == vector["owner_id"])
    keys = Endorsed(alice["user_id"], alice["generation"], alice["recipient"],
                    bytes.fromhex(alice["ed25519"]))
    opened = notices.open_pin_blob(
        blob, [agecrypt.parse_identity(alice["identity"])], owner_id=alice["user_id"],
        key_lookup=lambda uid, gen: keys if (uid, gen) == (keys.user_id, keys.generation)
        else None)
    assert opened.version == vector["version"]
    assert notices.encode_content(opened.contacts).decode() == vector["content"]
    assert blob != bytes.fromhex(vector["blob"])


PINS_CROSS_RUN = """async ([url, blob, identity, user]) => {
  const c = await import(url);
  const keyLookup = (id, generation) => (id === BigInt(user.user_id)
    && generation === BigInt(user.generation)
    ? {recipient: user.recipient, ed25519: c.fromHex(user.ed25519)} : null);
  const opened = await c.openPinBlob(c.fromHex(blob), [identity],
    {ownerId: BigInt(user.user_id), keyLookup});
  const contacts = [...opened.contacts].map(([id, p]) => [String(id), String(p.generation),
    c.toHex(p.recipientHash), c.toHex(p.ed25519Hash), p.verified]);
  return {version: String(opened.version), contacts};
}"""


def test_pin_blobs_sealed_by_client_open_in_the_browser(crypto):
    """A pin blob client.notices seals (ids and a version above 2^53) opens in the bundle."""
    import os

    import agecrypt
    from client import fingerprints as fp
    from client import notices, signing
    from client.endorsement import Endorsed

    ident = agecrypt.X25519Identity.generate()
    seed = os.urandom(32)
    key = signing.signing_key_from_seed(seed)
    owner = Endorsed(2**53 + 9, 4, str(ident.recipient()), signing.public_key_bytes(key))
    pins = {2**60 + i: notices.Pin(i + 1, fp.Fingerprints(os.urandom(32), os.urandom(32)),
                                   bool(i % 2)) for i in range(3)}
    blob = notices.seal_pin_blob(key, owner, notices.PinSet(owner.user_id, 2**54, pins))
    user = {"user_id": str(owner.user_id), "generation": owner.generation,
            "recipient": owner.recipient, "ed25519": owner.ed25519.hex()}
    out = crypto.page.evaluate(PINS_CROSS_RUN, [crypto.url("test"), blob.hex(), str(ident), user])
    assert out["version"] == str(2**54)
    assert out["contacts"] == [
        [str(uid), str(p.generation), p.fingerprints.recipient_hash.hex(),
         p.fingerprints.ed25519_hash.hex(), p.verified] for uid, p in sorted(pins.items())]


# --- membership (protocol.md §15) ---------------------------------------------------------


def _state_json(state) -> dict:
    """client.membership.ChainState in the vectors' naming."""
    return {"index": state.index, "head": state.head.hex(), "admins": sorted(state.admins),
            "expiry_seconds": state.expiry_seconds, "renames": state.renames,
            "members": [{"user_id": m.user_id, "generation": m.generation,
                         "recipient_hash": m.fingerprints.recipient_hash.hex(),
                         "ed25519_hash": m.fingerprints.ed25519_hash.hex(),
                         "vouched_by": m.vouched_by}
                        for _, m in sorted(state.members.items())]}


def test_membership_chain(crypto):
    """The users' keys hash to their fingerprints; every operation of the chain is rebuilt
    from its fields, re-signed byte for byte, hashed and described as the vector says, and
    the verifier reaches each listed state (also by its head) and the final state; every
    negative case is refused with its code (a fork carrying both operations)."""
    vectors = load_vectors("membership")
    results = crypto("membership", vectors)
    users, chain, negative = 0, 0, {}
    for vector, result in zip(vectors, results, strict=True):
        assert "typed" in result or "error" not in result, result
        if "users" in vector:
            assert "users" in result, result
            assert result["users"] == [{k: u[k] for k in ("name", "ed25519", "recipient_hash",
                                                           "ed25519_hash")}
                                       for u in vector["users"]]
            users += 1
        elif "chain" in vector:
            for entry, state, got in zip(vector["chain"], vector["states"], result["ops"],
                                         strict=True):
                assert {k: got[k] for k in ("statement", "signature", "operation_hash",
                                            "line")} == {
                    k: entry[k] for k in ("statement", "signature", "operation_hash", "line")}
                assert got["state"] == state == got["state_at"]
            assert result["final_state"] == vector["final_state"]
            assert result["lines"] == [e["line"] for e in vector["chain"]]
            assert result["disputed"] == []
            assert result["disputed_swapped"] == [vector["chain"][0]["fields"]["actor_id"]]
            chain += 1
        else:
            expect_refused(result, vector["error"], vector["why"])
            if vector["error"] == "fork":
                first, second = vector["operations"][-2:]
                assert result["fork"]["second"] == second[0]
                assert result["fork"]["index"] == 4
            negative[vector["error"]] = negative.get(vector["error"], 0) + 1
    assert (users, chain) == (1, 1)
    assert negative == _count_codes(vectors)
    assert sum(negative.values()) == len(vectors) - 2 == 18


CHAIN_CROSS_RUN = """async ([url, theirs, users]) => {
  const c = await import(url);
  const keyOf = (list) => (id, generation) => {
    const u = list.find((x) => BigInt(x.user_id) === id && BigInt(x.generation) === generation);
    return u ? {recipient: u.recipient, ed25519: c.fromHex(u.ed25519)} : null;
  };
  const state = (s) => ({index: String(s.index), head: c.toHex(s.head),
    admins: [...s.admins].map(String).sort(), expiry: String(s.expirySeconds),
    members: [...s.members.values()].map((m) => [String(m.userId), String(m.vouchedBy)]).sort()});
  // client/ → browser: replay its chain, then its fork.
  const ops = theirs.ops.map(([s, sig]) => ({statement: c.fromHex(s), signature: c.fromHex(sig)}));
  const replayed = state(c.MembershipChain.replay(ops, keyOf(theirs.users)).state);
  let fork;
  try {
    c.MembershipChain.replay([...ops, {statement: c.fromHex(theirs.fork[0]),
      signature: c.fromHex(theirs.fork[1])}], keyOf(theirs.users));
    fork = "accepted";
  } catch (e) {
    fork = {code: e.code, index: String(e.index), typed: e instanceof c.CryptoError};
  }
  // browser → client/: a chain of fresh keys made here.
  const seeds = users.map(() => c.randomBytes(32));
  const mine = users.map((u, i) => ({...u, ed25519: c.toHex(c.signingPublicKey(seeds[i]))}));
  const id = (i) => BigInt(users[i].user_id);
  const conversationId = c.randomBytes(16);
  const made = [];
  const sign = (actor, kind, extra = {}) => {
    const prints = extra.keys === undefined ? null : c.fingerprintsOf({
      recipient: users[extra.keys].recipient, ed25519: c.fromHex(mine[extra.keys].ed25519)});
    const target = prints === null ? {} : {
      targetId: id(extra.keys), targetGeneration: BigInt(users[extra.keys].generation),
      targetRecipientHash: prints.recipientHash, targetEd25519Hash: prints.ed25519Hash};
    const prevHash = made.length ? c.operationHash(made.at(-1).statement) : new Uint8Array(32);
    const op = {conversationId, index: made.length, prevHash, actorId: id(actor),
      actorGeneration: BigInt(users[actor].generation), kind, clientClockMs: 0,
      ...target, ...(extra.id === undefined ? {} : {targetId: id(extra.id)}),
      ...(extra.argument === undefined ? {} : {argument: extra.argument})};
    made.push(c.signOperation(seeds[actor], op));
  };
  sign(0, "create", {keys: 0});
  sign(0, "add", {keys: 1});
  sign(0, "add", {keys: 2});
  sign(0, "grant-admin", {id: 1});
  sign(1, "set-expiry", {argument: c.expiryArgument(3600)});
  sign(1, "remove", {id: 2});
  sign(1, "rename");
  sign(0, "leave");
  const own = c.MembershipChain.replay(made, keyOf(mine));
  return {replayed, fork, users: mine, own: state(own.state),
          ops: made.map((o) => [c.toHex(o.statement), c.toHex(o.signature)])};
}"""


def test_membership_chains_cross_verify_between_the_browser_and_client(crypto):
    """Not from the vector files: a chain client/ signs (fresh keys, user ids above 2^53)
    replays in the bundle to client/'s state and its fork is refused as a fork; a chain the
    bundle signs with fresh keys replays in client.membership to the bundle's state."""
    import os

    import agecrypt
    from client import fingerprints as fp
    from client import membership, signing
    from client.endorsement import Endorsed

    ids = [2**53 + 1, 2**53 + 2, 2**60]
    keys = [signing.signing_key_from_seed(os.urandom(32)) for _ in ids]
    people = [Endorsed(uid, 3, str(agecrypt.X25519Identity.generate().recipient()),
                       signing.public_key_bytes(k)) for uid, k in zip(ids, keys, strict=True)]
    lookup = {(p.user_id, p.generation): p for p in people}
    conv, ops = os.urandom(16), []

    def sign(actor, kind, target=None, by_id=None, argument=b""):
        prev = membership.operation_hash(ops[-1][0]) if ops else bytes(32)
        extra = {}
        if target is not None:
            prints = fp.of(people[target])
            extra = {"target_id": ids[target], "target_generation": 3,
                     "target_recipient_hash": prints.recipient_hash,
                     "target_ed25519_hash": prints.ed25519_hash}
        if by_id is not None:
            extra = {"target_id": ids[by_id]}
        op = membership.Operation(conv, len(ops), prev, ids[actor], 3, kind, argument=argument,
                                  client_clock_ms=1795000000000 + len(ops), **extra)
        return membership.sign_operation(keys[actor], op)

    for step in [(0, "create", 0), (0, "add", 1), (0, "add", 2), (0, "grant-admin", None, 2),
                 (2, "remove", None, 1), (2, "set-expiry", None, None, membership
                                         .expiry_argument(2**40))]:
        ops.append(sign(*step))
    fork = membership.sign_operation(keys[0], membership.Operation(
        conv, 3, membership.operation_hash(ops[2][0]), ids[0], 3, "rename",
        client_clock_ms=1795000000999))
    expected = membership.MembershipChain.replay(ops, lambda u, g: lookup.get((u, g))).state
    theirs = {"ops": [[d.hex(), s.hex()] for d, s in ops], "fork": [fork[0].hex(), fork[1].hex()],
              "users": [{"user_id": str(p.user_id), "generation": 3, "recipient": p.recipient,
                         "ed25519": p.ed25519.hex()} for p in people]}
    mine = [{"user_id": str(p.user_id), "generation": 3, "recipient": p.recipient}
            for p in people]
    out = crypto.page.evaluate(CHAIN_CROSS_RUN, [crypto.url("test"), theirs, mine])

    # client/ → browser
    assert out["replayed"] == {
        "index": str(expected.index), "head": expected.head.hex(),
        "admins": sorted(str(a) for a in expected.admins),
        "expiry": str(2**40),
        "members": sorted([str(m.user_id), str(m.vouched_by)]
                          for m in expected.members.values())}
    assert out["fork"] == {"code": "fork", "index": "3", "typed": True}
    # browser → client/
    theirs_keys = {(int(u["user_id"]), 3): Endorsed(int(u["user_id"]), 3, u["recipient"],
                                                    bytes.fromhex(u["ed25519"]))
                   for u in out["users"]}
    made = [(bytes.fromhex(d), bytes.fromhex(s)) for d, s in out["ops"]]
    state = membership.MembershipChain.replay(made, lambda u, g: theirs_keys.get((u, g))).state
    assert out["own"] == {
        "index": "7", "head": state.head.hex(), "admins": [str(ids[1])], "expiry": "3600",
        "members": [[str(ids[1]), str(ids[0])]]}
    assert state.index == 7 and state.renames == 1 and sorted(state.members) == [ids[1]]


# --- epochs (protocol.md §16) -------------------------------------------------------------


def _group():
    """membership.json's users as client/ objects: ({id: Endorsed}, {id: identity}, lookup)."""
    import agecrypt
    from client.endorsement import Endorsed

    users = load_vectors("membership")[0]["users"]
    keys = {u["user_id"]: Endorsed(u["user_id"], u["generation"], u["recipient"],
                                   bytes.fromhex(u["ed25519"])) for u in users}
    idents = {u["user_id"]: agecrypt.parse_identity(u["identity"]) for u in users}

    def lookup(user_id, generation):
        k = keys.get(user_id)
        return k if k is not None and k.generation == generation else None

    return keys, idents, lookup


def _client_chain(length: int):
    from client import membership

    _, _, lookup = _group()
    chain = load_vectors("membership")[1]["chain"][:length]
    return membership.MembershipChain.replay(
        [(bytes.fromhex(op["statement"]), bytes.fromhex(op["signature"])) for op in chain], lookup)


def test_epochs(crypto):
    """Each epoch's statement, members, plaintext, hash and signature are rebuilt byte for
    byte; every listed member opens it (the second after the first) to the vector's secret
    and name; an envelope the bundle builds for the same members opens in the bundle and in
    client.epochs; every negative case is refused with its code."""
    from client import epochs

    membership_vectors = load_vectors("membership")
    vectors = load_vectors("epoch")
    results = crypto("epoch", vectors, extra=membership_vectors)
    keys, idents, lookup = _group()
    positive, negative, previous = 0, {}, None
    for vector, result in zip(vectors, results, strict=True):
        if "error" in vector:
            expect_refused(result, vector["error"], vector["why"])
            negative[vector["error"]] = negative.get(vector["error"], 0) + 1
            continue
        expect_fields(vector, result, [
            "conversation_id", "epoch", "prev_envelope_hash", "chain_head", "members_bytes",
            "creator_id", "creator_generation", "envelope_hash", "plaintext", "statement",
            "signature", "stanzas"])
        members = [int(uid) for uid in result["opened"]]
        assert len(members) == vector["stanzas"]
        assert result["opened"] == {str(uid): {"secret": vector["secret"], "name": vector["name"]}
                                    for uid in members}
        built = result["built"]
        assert built["opened"] == {"secret": built["secret"], "name": vector["name"]}
        assert built["secret"] != vector["secret"]
        chain = _client_chain(vector["chain_length"])
        for uid in members:  # browser → client/: every member opens the bundle's envelope
            opened = epochs.open_epoch(
                bytes.fromhex(built["envelope"]), bytes.fromhex(built["statement"]),
                bytes.fromhex(built["signature"]), me=keys[uid], identity=idents[uid],
                chain=chain, key_lookup=lookup, previous=previous)
            assert (opened.secret.hex(), opened.name) == (built["secret"], vector["name"])
        if previous is not None:
            expect_refused(result["without_previous_hash"], "bad_epoch", "not after previous")
        previous = epochs.parse_epoch_statement(bytes.fromhex(vector["statement"]))
        positive += 1
    assert positive == 2
    assert negative == _count_codes(vectors)
    assert sum(negative.values()) == len(vectors) - 2 == 11
    assert set(negative) == {"bad_epoch", "bad_signature", "not_my_key", "pin_mismatch",
                             "cannot_open"}


EPOCH_CROSS_RUN = """async ([url, theirs, users, chainOps]) => {
  const c = await import(url);
  const keysOf = (u) => ({userId: BigInt(u.user_id), generation: BigInt(u.generation),
    recipient: u.recipient, ed25519: c.fromHex(u.ed25519)});
  const lookup = (id, generation) => {
    const u = users.find((x) => BigInt(x.user_id) === id && BigInt(x.generation) === generation);
    return u ? keysOf(u) : null;
  };
  const chain = c.MembershipChain.replay(chainOps.map(([s, sig]) =>
    ({statement: c.fromHex(s), signature: c.fromHex(sig)})), lookup);
  const opened = {};
  for (const u of users.filter((x) => theirs.readers.includes(x.user_id))) {
    try {
      const o = await c.openEpoch(c.fromHex(theirs.envelope), c.fromHex(theirs.statement),
        c.fromHex(theirs.signature), {me: keysOf(u), identity: u.identity, chain,
        keyLookup: lookup});
      opened[u.user_id] = {secret: c.toHex(o.secret), name: o.name,
        epoch: String(o.statement.epoch)};
    } catch (e) {
      opened[u.user_id] = {code: e.code, typed: e instanceof c.CryptoError};
    }
  }
  // The registry: one hash per number, a second one blocks sending.
  const registry = new c.EpochRegistry();
  const conv = c.fromHex(theirs.conversation_id);
  const parsed = c.parseEpochStatement(c.fromHex(theirs.statement));
  registry.record(conv, parsed.epoch, parsed.envelopeHash);
  registry.record(conv, parsed.epoch, parsed.envelopeHash);
  let equivocation;
  try {
    registry.record(conv, parsed.epoch, new Uint8Array(32));
  } catch (e) {
    equivocation = {code: e.code, epoch: String(e.epoch), first: c.toHex(e.first)};
  }
  const gens = new Map([[BigInt(users[1].user_id), 2n]]);
  const due = {
    none: c.epochDue(null, chain.state),
    current: c.epochDue(parsed, chain.state),
    generation: c.epochDue(parsed, chain.state, gens),
    departed: c.epochDue(parsed, chain.state, new Map(), [BigInt(users[1].user_id)]),
  };
  return {opened, equivocation, blocked: registry.sendingBlocked(conv),
          latest: String(registry.latest(conv).epoch), due};
}"""


def test_epochs_built_by_client_open_in_the_browser(crypto):
    """Not from the vector files: an epoch client.epochs builds (fresh secret, group name
    with non-ASCII and quotes, epoch number above 2^53) opens in the bundle for every
    member, and not for a non-member; the registry flags a second hash and epoch_due gives
    client/'s reasons."""
    from client import epochs, signing
    from tests.vectors.generate import ed25519_seed

    keys, idents, lookup = _group()
    chain = _client_chain(3)
    members = [keys[uid] for uid in sorted(chain.state.members)]
    name = 'Club "Ünïcødé" \\ 📚\u2028'
    key = signing.signing_key_from_seed(ed25519_seed("group/Alice"))
    envelope, data, sig, secret = epochs.build_epoch(
        key, keys[1], conversation_id=chain.state.conversation_id, epoch=2**53 + 7,
        prev_envelope_hash=bytes(32), chain_head=chain.state.head, members=members, name=name)
    users = load_vectors("membership")[0]["users"]
    ops = [[op["statement"], op["signature"]] for op in load_vectors("membership")[1]["chain"][:3]]
    theirs = {"envelope": envelope.hex(), "statement": data.hex(), "signature": sig.hex(),
              "conversation_id": chain.state.conversation_id.hex(),
              "readers": [u["user_id"] for u in users]}
    out = crypto.page.evaluate(EPOCH_CROSS_RUN, [crypto.url("test"), theirs, users, ops])
    for uid, got in out["opened"].items():
        if int(uid) in chain.state.members:
            assert got == {"secret": secret.hex(), "name": name, "epoch": str(2**53 + 7)}
        else:
            assert got == {"code": "not_my_key", "typed": True}
    assert len(out["opened"]) > len(chain.state.members)
    assert out["equivocation"]["code"] == "equivocation"
    assert out["equivocation"]["epoch"] == str(2**53 + 7)
    assert out["blocked"] is True and out["latest"] == str(2**53 + 7)
    stmt = epochs.parse_epoch_statement(data)
    bob = users[1]["user_id"]
    assert out["due"] == {
        "none": epochs.epoch_due(None, chain.state, {}),
        "current": epochs.epoch_due(stmt, chain.state, {}),
        "generation": epochs.epoch_due(stmt, chain.state, {bob: 2}),
        "departed": epochs.epoch_due(stmt, chain.state, {}, {bob}),
    } == {"none": "no-epoch", "current": None, "generation": "key-generation",
          "departed": "members"}


def test_a_signed_envelope_no_age_file_has_is_bad_epoch_on_both_sides(crypto):
    """An envelope cut short (10 payload bytes: a length no age file has), signed by
    its creator: client.epochs refuses it as bad_epoch before decrypting, and so does the
    bundle (not cannot_open, which would make a member publish a notice)."""
    import hashlib as h
    import io

    import agecrypt
    from client import epochs, signing
    from client.errors import EpochError
    from tests.vectors.generate import ed25519_seed

    keys, idents, lookup = _group()
    chain = _client_chain(3)
    members = [keys[uid] for uid in sorted(chain.state.members)]
    key = signing.signing_key_from_seed(ed25519_seed("group/Alice"))
    envelope, data, _, _ = epochs.build_epoch(
        key, keys[1], conversation_id=chain.state.conversation_id, epoch=1,
        prev_envelope_hash=bytes(32), chain_head=chain.state.head, members=members, name="x")
    cut = envelope[:agecrypt.inspect(io.BytesIO(envelope)).payload_offset + 10]
    stmt = epochs.parse_epoch_statement(data)
    data = epochs.EpochStatement(**{**stmt.__dict__, "envelope_hash": h.sha256(cut).digest()}
                                 ).to_bytes()
    sig = signing.sign(key, data)
    with pytest.raises(EpochError) as raised:
        epochs.open_epoch(cut, data, sig, me=keys[2], identity=idents[2], chain=chain,
                          key_lookup=lookup)
    assert raised.value.code == "bad_epoch"
    users = load_vectors("membership")[0]["users"]
    ops = [[op["statement"], op["signature"]] for op in load_vectors("membership")[1]["chain"][:3]]
    theirs = {"envelope": cut.hex(), "statement": data.hex(), "signature": sig.hex(),
              "conversation_id": chain.state.conversation_id.hex(), "readers": [2]}
    out = crypto.page.evaluate(EPOCH_CROSS_RUN, [crypto.url("test"), theirs, users, ops])
    assert out["opened"] == {"2": {"code": "bad_epoch", "typed": True}}


NO_SOURCE_RUN = """async ([url, content, plaintext, bigContent]) => {
  const c = await import(url);
  const real = JSON.parse;
  // An engine without JSON.parse source access: the reviver gets no third argument.
  JSON.parse = (text, reviver) => real(text, reviver && ((k, v) => reviver(k, v)));
  const attempt = (fn) => {
    try {
      return {value: fn()};
    } catch (e) {
      return {code: e.code, typed: e instanceof c.CryptoError};
    }
  };
  const enc = (t) => new TextEncoder().encode(t);
  try {
    return {
      pins: attempt(() => new TextDecoder().decode(c.encodePinContent(
        c.parsePinContent(enc(content))))),
      epoch: attempt(() => String(c.parseEpochPlaintext(enc(plaintext)).epoch)),
      big: attempt(() => c.parsePinContent(enc(bigContent)).size),
      float: attempt(() => c.parsePinContent(enc(content.replace('"generation":1',
        '"generation":1.0')))),
    };
  } finally {
    JSON.parse = real;
  }
}"""


def test_json_without_source_access_reads_canonical_values_below_2_53(crypto):
    """Firefox before 135 and Safari 17 give a reviver no source text: pin content and
    epoch plaintexts still read (integers below 2^53), an id above 2^53 is refused rather
    than rounded, and a non-canonical number is refused as before."""
    from client import fingerprints as fp
    from client import notices

    pins = load_vectors("notices")[1]
    plaintext = load_vectors("epoch")[0]["plaintext"]
    big = notices.encode_content({2**60 + 1: notices.Pin(1, fp.NONE, False)}).decode()
    out = crypto.page.evaluate(NO_SOURCE_RUN, [crypto.url("test"), pins["content"], plaintext,
                                               big])
    assert out["pins"] == {"value": pins["content"]}
    assert out["epoch"] == {"value": "1"}
    assert out["big"] == {"code": "bad_pin_blob", "typed": True}
    assert out["float"] == {"code": "bad_pin_blob", "typed": True}


def test_a_header_over_64_kib_is_bad_file_however_it_is_split(crypto):
    """§18 holds the header to 64 KiB: an age file with 50 hybrid stanzas (about 76 KiB
    of header) is bad_file in the bundle whole, in pieces and as a Blob, as client/'s
    FileHasher says when fed in pieces. (client/ fed the whole file in one piece accepts
    it: its check runs only while the MAC line is missing; reported, not relied on.)"""
    import agecrypt
    from client import filehash
    from client.errors import FileHashError

    recipients = [agecrypt.HybridIdentity.generate().recipient() for _ in range(50)]
    data = agecrypt.encrypt(b"hi", recipients)
    assert data.index(b"\n---") > 64 * 1024
    with pytest.raises(FileHashError):
        filehash.file_hash([data[i:i + 4096] for i in range(0, len(data), 4096)])
    out = crypto.page.evaluate("""async ([url, file]) => {
        const c = await import(url);
        const bytes = c.fromHex(file);
        const code = async (fn) => {
          try {
            await fn();
            return "accepted";
          } catch (e) {
            return e instanceof c.CryptoError ? e.code : `untyped ${e}`;
          }
        };
        return [await code(() => c.fileHash(bytes)),
                await code(() => c.fileHash([bytes.subarray(0, 9), bytes.subarray(9)])),
                await code(() => c.fileHashOfBlob(new Blob([bytes]), {pieceSize: 4096}))];
    }""", [crypto.url("test"), data.hex()])
    assert out == ["bad_file"] * 3


DEPARTED_RUN = """async ([url, epochHex, users, chainOps, departed]) => {
  const c = await import(url);
  const keysOf = (u) => ({userId: BigInt(u.user_id), generation: BigInt(u.generation),
    recipient: u.recipient, ed25519: c.fromHex(u.ed25519)});
  const lookup = (id, generation) => {
    const u = users.find((x) => BigInt(x.user_id) === id && BigInt(x.generation) === generation);
    return u ? keysOf(u) : null;
  };
  const chain = c.MembershipChain.replay(chainOps.map(([s, sig]) =>
    ({statement: c.fromHex(s), signature: c.fromHex(sig)})), lookup);
  const bob = users.find((u) => u.user_id === 2);
  const open = async (gone) => {
    try {
      const o = await c.openEpoch(c.fromHex(epochHex[0]), c.fromHex(epochHex[1]),
        c.fromHex(epochHex[2]), {me: keysOf(bob), identity: bob.identity, chain,
        keyLookup: lookup, departed: gone.map(BigInt)});
      return {secret: c.toHex(o.secret)};
    } catch (e) {
      return {code: e.code, typed: e instanceof c.CryptoError};
    }
  };
  return {announced: await open(departed), unannounced: await open([]),
          creator_departed: await open([...departed, 1])};
}"""


def test_a_removal_the_server_announced_is_left_out_on_both_sides(crypto):
    """Not from the vector files: an epoch client.epochs builds without Carol (her account
    deleted, announced by the server) opens for Bob in the bundle only with that
    announcement; without it the list differs from the chain, and a departed creator is
    refused (bad_epoch each)."""
    from client import epochs, signing
    from client.errors import EpochError
    from tests.vectors.generate import ed25519_seed

    keys, idents, lookup = _group()
    chain = _client_chain(3)
    members = [keys[1], keys[2]]
    key = signing.signing_key_from_seed(ed25519_seed("group/Alice"))
    envelope, data, sig, secret = epochs.build_epoch(
        key, keys[1], conversation_id=chain.state.conversation_id, epoch=1,
        prev_envelope_hash=bytes(32), chain_head=chain.state.head, members=members, name="x")
    assert 3 in chain.state.members
    opened = epochs.open_epoch(envelope, data, sig, me=keys[2], identity=idents[2], chain=chain,
                               key_lookup=lookup, departed={3})
    assert opened.secret == secret
    with pytest.raises(EpochError):
        epochs.open_epoch(envelope, data, sig, me=keys[2], identity=idents[2], chain=chain,
                          key_lookup=lookup)
    users = load_vectors("membership")[0]["users"]
    ops = [[op["statement"], op["signature"]] for op in load_vectors("membership")[1]["chain"][:3]]
    out = crypto.page.evaluate(DEPARTED_RUN, [crypto.url("test"),
                                              [envelope.hex(), data.hex(), sig.hex()],
                                              users, ops, [3]])
    assert out == {"announced": {"secret": secret.hex()},
                   "unannounced": {"code": "bad_epoch", "typed": True},
                   "creator_departed": {"code": "bad_epoch", "typed": True}}


MALFORMED_GROUP_CASES = {
    "operation with a short conversation id": ("usage", (
        "c.membershipStatement({conversationId: new Uint8Array(15), index: 0, "
        "prevHash: new Uint8Array(32), actorId: 1, actorGeneration: 1, kind: 'create', "
        "clientClockMs: 1});")),
    "operation kind with a space": ("usage", (
        "c.membershipStatement({conversationId: new Uint8Array(16), index: 0, "
        "prevHash: new Uint8Array(32), actorId: 1, actorGeneration: 1, kind: 'a b', "
        "clientClockMs: 1});")),
    "operation with 11 fields": ("bad_statement", (
        "c.parseOperation(c.statement(c.MEMBERSHIP_TAG, "
        "...Array.from({length: 11}, () => new Uint8Array(8))));")),
    "members of 79 bytes": ("bad_statement", "c.decodeMembers(new Uint8Array(79));"),
    "members not increasing": ("bad_statement", (
        "c.decodeMembers(new Uint8Array(160));")),
    "an empty chain's state": ("usage", "new c.MembershipChain(() => null).state;"),
    "a chain without a lookup": ("usage", "new c.MembershipChain();"),
    "a fractional u64": ("usage", "c.big(1.5);"),
    "plaintext with spaces": ("bad_epoch", (
        "c.parseEpochPlaintext(new TextEncoder().encode('{\"v\": 2}'));")),
    "plaintext not UTF-8": ("bad_epoch", "c.parseEpochPlaintext(new Uint8Array([0xff]));"),
    "a short epoch secret": ("usage", (
        "c.encodeEpochPlaintext(new Uint8Array(16), 1, new Uint8Array(31), 'x');")),
    "a group name with a lone surrogate": ("usage", (
        "c.encodeEpochPlaintext(new Uint8Array(16), 1, new Uint8Array(32), '\\ud800');")),
    "a registry hash of 31 bytes": ("usage", (
        "new c.EpochRegistry().record(new Uint8Array(16), 1, new Uint8Array(31));")),
    "a file piece that is a string": ("usage", "new c.FileHasher().update('age');"),
    "a file of no bytes": ("bad_file", "new c.FileHasher().digest();"),
    "a file hash of 31 bytes": ("usage", (
        "await c.verifyFileHash(new Uint8Array(31), new Uint8Array(0));")),
    "pin content with a space": ("bad_pin_blob", (
        "c.parsePinContent(new TextEncoder().encode('{\"contacts\": [],\"v\":2}'));")),
    "pin content not JSON": ("bad_pin_blob", (
        "c.parsePinContent(new TextEncoder().encode('{'));")),
    "a pin blob that is not age": ("bad_pin_blob", (
        "await c.openPinBlob(new Uint8Array(8), ["
        "'AGE-SECRET-KEY-1YTM7V5FKM7Z5GSQ362JQHFXHN09897TDSQ972G6DEDRW7VR0LFKQRWZ96R'], "
        "{ownerId: 1, keyLookup: () => null});")),
    "a malformed age identity": ("usage", (
        "await c.openPinBlob(new Uint8Array(8), ['AGE-SECRET-KEY-1'], {ownerId: 1, "
        "keyLookup: () => null});")),
    "a pin blob to a non-canonical recipient": ("usage", (
        "await c.sealPinBlob(new Uint8Array(32), {userId: 1, generation: 1, recipient: "
        "'AGE1WSRJRDL2LNQYQDV8UAV0N4QKHR798D7A63NHCGS4PMWJGKMJMVAS4T24JJ'}, "
        "{ownerId: 1, version: 1, contacts: new Map()});")),
    "a cannot-open notice of another tag": ("bad_statement", (
        "c.parseCannotOpen(c.statement('securechat/v2/pins'));")),
}


def test_malformed_group_input_raises_typed_errors(crypto):
    """Membership, epochs, notices, pins and the file hash: wrong sizes, tags, kinds and
    encodings raise a CryptoError with client/'s code, never a bare TypeError."""
    results = crypto.page.evaluate(REFUSALS, [crypto.url("test"), {
        name: body for name, (_, body) in MALFORMED_GROUP_CASES.items()}])
    codes = {name: (outcome.get("typed"), outcome.get("code"))
             for name, outcome in results.items()}
    assert codes == {name: (True, code) for name, (code, _) in MALFORMED_GROUP_CASES.items()}


# --- the upload writer of v2/files (static/js/v2/files/agewriter.js) ------------------

WRITER_RUN = """async ([filesUrl, cryptoUrl, vectors]) => {
  const f = await import(filesUrl);
  const c = await import(cryptoUrl);
  const out = [];
  for (const v of vectors) {
    const writer = new f.AgeFileWriter({fileKey: c.fromHex(v.file_key), nonce: c.fromHex(v.nonce),
      stanzas: v.stanzas.map((s) => ({type: s.type, args: s.args, body: c.fromHex(s.body)})),
      plaintextLength: v.plaintext_len, aead: await f.loadAead()});
    const n = v.plaintext_len;
    const plaintext = new Uint8Array(n).map((_, i) => (i * 31 + n) % 256);
    const hasher = new c.FileHasher();
    const parts = [writer.prefix];
    const chunkHashes = [];
    // Last chunk first: each chunk is computed on its own, in any order.
    for (let i = writer.chunkCount - 1; i >= 0; i--) {
      const [a, b] = writer.plaintextRange(i);
      parts[i + 1] = writer.encryptChunk(i, plaintext.subarray(a, b));
      chunkHashes[i] = c.toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", parts[i + 1])));
    }
    for (const part of parts) hasher.update(part);
    const file = c.concat(...parts);
    out.push({header: c.toHex(writer.header), file_length: writer.length,
      file_sha256: c.toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", file))),
      chunk_sha256: chunkHashes, file_hash: c.toHex(hasher.digest()),
      file: v.plaintext_len <= 1 ? c.toHex(file) : undefined});
  }
  return out;
}"""


def _bundle_url(crypto, entry: str) -> str:
    """The test build's URL of a bundle ``entry`` (crypto.url gives crypto/index's)."""
    base = crypto.url("test").rsplit("/test/", 1)[0]
    return f"{base}/test/{crypto.manifests['test']['entries'][entry]['file']}"


def test_file_writer_is_byte_identical_to_agecrypt(crypto):
    """With agecrypt's identity, file key and nonce, the browser's upload writer gives the
    same header, chunks, whole file and file hash for 0, 1, 65536, 65537 and 3×65536+5
    bytes, each chunk computed on its own (last first)."""
    vectors = load_vectors("filewriter")
    results = crypto.page.evaluate(WRITER_RUN, [
        _bundle_url(crypto, "v2/files/index"), crypto.url("test"), vectors])
    for vector, result in zip(vectors, results, strict=True):
        expect_fields(vector, result, ["header", "file_length", "file_sha256", "chunk_sha256",
                                       "file_hash"])
        if "file" in vector:
            assert result["file"] == vector["file"]
    assert [v["plaintext_len"] for v in vectors] == [0, 1, 65536, 65537, 3 * 65536 + 5]


NEW_FILE_RUN = """async ([filesUrl, cryptoUrl, keyType, n]) => {
  const f = await import(filesUrl);
  const c = await import(cryptoUrl);
  const made = [];
  for (let k = 0; k < 2; k++) {
    const {writer, identity, recipient} = await f.AgeFileWriter.create(keyType, n);
    const plaintext = new Uint8Array(n).map((_, i) => (i * 7 + 1) % 251);
    const parts = [writer.prefix];
    for (let i = 0; i < writer.chunkCount; i++) {
      const [a, b] = writer.plaintextRange(i);
      parts.push(writer.encryptChunk(i, plaintext.subarray(a, b)));
    }
    made.push({identity, recipient, nonce: c.toHex(writer.nonce), length: writer.length,
               file: c.toHex(c.concat(...parts))});
  }
  return made;
}"""


@pytest.mark.parametrize("key_type", ["x25519", "hybrid"])
def test_file_writer_makes_files_agecrypt_opens(crypto, key_type):
    """A writer made with a fresh one-time identity of the deployment's key type writes an
    age file of exactly the announced length that agecrypt decrypts with that identity;
    two writers never share an identity or a nonce."""
    import io

    import agecrypt

    n = 2 * 65536 + 77
    made = crypto.page.evaluate(NEW_FILE_RUN, [
        _bundle_url(crypto, "v2/files/index"), crypto.url("test"), key_type, n])
    expected = bytes((i * 7 + 1) % 251 for i in range(n))
    for entry in made:
        data = bytes.fromhex(entry["file"])
        assert len(data) == entry["length"]
        identity = agecrypt.parse_identity(entry["identity"])
        assert str(identity.recipient()) == entry["recipient"]
        assert entry["recipient"].startswith("age1pq1") == (key_type == "hybrid")
        assert agecrypt.decrypt(data, [identity]) == expected
        assert agecrypt.inspect(io.BytesIO(data)).stanza_types == (
            ("mlkem768x25519",) if key_type == "hybrid" else ("X25519",))
    assert made[0]["identity"] != made[1]["identity"] and made[0]["nonce"] != made[1]["nonce"]


RESUME_RUN = """async ([filesUrl]) => {
  const f = await import(filesUrl);
  const n = 5 * 65536 + 3;
  const bytes = new Uint8Array(n).map((_, i) => i % 253);
  const file = new Blob([bytes]);
  const {writer, identity} = await f.AgeFileWriter.create("x25519", n);
  const record = f.newResumeRecord(writer, identity);
  const hash = async (b) => Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", b)),
    (x) => x.toString(16).padStart(2, "0")).join("");
  for (let i = 0; i < 3; i++) {
    const [a, b] = writer.plaintextRange(i);
    f.recordChunk(record, i, await hash(bytes.subarray(a, b)));
  }
  const covered = (k) => (k === 0 ? writer.prefix.length : writer.ciphertextRange(k - 1)[1]);
  const changed = bytes.slice();
  changed[65536 + 5] ^= 1;  // inside recorded chunk 1, below any offset the server reports
  let refusedRewrite;
  try {
    f.recordChunk(record, 1, await hash(changed.subarray(65536, 131072)));
  } catch (error) {
    refusedRewrite = error.code;
  }
  return {
    same: await f.checkResume(file, record, covered(3), covered),
    sameAtZero: await f.checkResume(file, record, 0, covered),
    beyond: await f.checkResume(file, record, covered(3) + 1, covered),
    changedEarly: await f.checkResume(new Blob([changed]), record, covered(3), covered),
    otherSize: await f.checkResume(new Blob([bytes.subarray(1)]), record, 0, covered),
    refusedRewrite,
  };
}"""


def test_resume_check_rehashes_every_recorded_chunk(crypto):
    """A resume continues only with the recorded bytes and an offset within the recorded
    chunks: a change below the server's offset, an offset past the record or another size
    each refuse; recording another hash for a chunk is refused (file_changed)."""
    out = crypto.page.evaluate(RESUME_RUN, [_bundle_url(crypto, "v2/files/index")])
    assert out == {"same": {"ok": True}, "sameAtZero": {"ok": True},
                   "beyond": {"ok": False, "reason": "offset"},
                   "changedEarly": {"ok": False, "reason": "changed"},
                   "otherSize": {"ok": False, "reason": "size"},
                   "refusedRewrite": "file_changed"}


DECRYPT_RUN = """async ([filesUrl, cryptoUrl, cases]) => {
  const f = await import(filesUrl);
  const c = await import(cryptoUrl);
  const out = {};
  for (const [name, {file, identity, expected, length}] of Object.entries(cases)) {
    const bytes = c.fromHex(file);
    const decryptor = new f.StreamDecryptor(identity, c.fromHex(expected), length);
    let released = 0;
    try {
      for (let at = 0; at < bytes.length; at += 10000) {
        for (const part of await decryptor.push(bytes.subarray(at, at + 10000))) {
          released += part.length;
        }
      }
      const last = decryptor.end();
      out[name] = {released: released + last.length};
    } catch (error) {
      out[name] = {error: error.code, typed: error instanceof f.CryptoError, released};
    }
  }
  return out;
}"""


def test_stream_decryptor_releases_the_end_only_for_the_signed_file(crypto):
    """The download reader (v2/files/download.js) gives the whole plaintext for the signed
    file; a flipped byte in the last chunk withholds that chunk and is a forgery when the
    signed hash is the original's, but bad_tag when the sender signed the broken file
    (the hash decides); a wrong identity is bad_header; a file shorter than the message
    says is bad_file."""
    import agecrypt
    from client import filehash

    vector = load_vectors("filehash")[3]  # 65,537 bytes: chunk 0 full, chunk 1 one byte
    data = bytes.fromhex(vector["file"])
    flipped = bytearray(data)
    flipped[-5] ^= 1
    other = str(agecrypt.X25519Identity.generate())
    good = {"file": vector["file"], "identity": vector["identity"],
            "expected": vector["file_hash"], "length": len(data)}
    cases = {
        "good": good,
        "forged": {**good, "file": flipped.hex()},
        "badly_made": {**good, "file": flipped.hex(),
                       "expected": filehash.file_hash(bytes(flipped)).hex()},
        "wrong_identity": {**good, "identity": other},
        "short": {**good, "file": data[:-10].hex()},
    }
    out = crypto.page.evaluate(DECRYPT_RUN, [
        _bundle_url(crypto, "v2/files/index"), crypto.url("test"), cases])
    assert out == {
        "good": {"released": 65537},
        "forged": {"error": "file_hash_mismatch", "typed": True, "released": 65536},
        "badly_made": {"error": "bad_tag", "typed": True, "released": 65536},
        "wrong_identity": {"error": "bad_header", "typed": True, "released": 0},
        "short": {"error": "bad_file", "typed": True, "released": 65536},
    }
