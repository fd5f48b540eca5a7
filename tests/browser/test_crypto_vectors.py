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
KINDS = ["normalise", "prelogin", "derivation", "recovery", "safety", "messagebox"]


def load_vectors(kind: str) -> list:
    path = VECTORS / f"{kind}.json"
    if not path.exists():
        pytest.fail(f"{path} is missing: client/'s tests/vectors/generate.py writes it")
    data = json.loads(path.read_text())
    if isinstance(data, dict):
        # The spec writes each file as a list; a file grouped by key (e.g. {"valid": [...],
        # "invalid": [...]}) is read as the same list: entries kept, string lists wrapped.
        data = [item for key, group in data.items() for item in (
            [{key: group}] if all(isinstance(x, str) for x in group) else group)]
    assert isinstance(data, list) and data, f"{path} holds no vectors"
    return data


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

    def run(kind, vectors, variant="test"):
        return page.evaluate(harness, [url(variant), kind, json.dumps(vectors)])

    run.page, run.url = page, url
    yield run
    context.close()


def expect_fields(vector: dict, result: dict, names: list[str]) -> None:
    assert "error" not in result, f"the bundle raised {result} for {vector}"
    assert {n: result[n] for n in names} == {n: vector[n] for n in names}


def test_normalise(crypto):
    vectors = load_vectors("normalise")
    for vector, result in zip(vectors, crypto("normalise", vectors), strict=True):
        expect_fields(vector, result, ["normalised"])


def test_prelogin_salt(crypto):
    vectors = load_vectors("prelogin")
    for vector, result in zip(vectors, crypto("prelogin", vectors), strict=True):
        expect_fields(vector, result, ["account_salt"])


def test_derivation(crypto):
    """master, auth_key, wrap_key and the 43-character passphrase; scrypt reports progress."""
    vectors = load_vectors("derivation")
    for vector, result in zip(vectors, crypto("derivation", vectors), strict=True):
        expect_fields(vector, result, ["salt", "master", "auth_key", "wrap_key", "passphrase"])
        assert len(result["passphrase"]) == 43
        assert result["progress_end"] == 1


def test_recovery_codes(crypto):
    """Typed codes (any case, dashes, O/I/L) → the normalised code, seed, identity and
    recipient; the invalid ones raise the typed error."""
    vectors = load_vectors("recovery")
    results = crypto("recovery", vectors)
    valid = invalid = 0
    for vector, result in zip(vectors, results, strict=True):
        if "invalid" in vector:
            for code, outcome in zip(vector["invalid"], result["invalid"], strict=True):
                assert outcome.get("typed") is True, f"{code!r} gave {outcome}"
                invalid += 1
            continue
        expect_fields(vector, result, ["normalised", "seed", "identity", "recipient"])
        groups = result["formatted"].split("-")
        assert [len(g) for g in groups] == [5, 5, 5, 5, 5, 1]
        valid += 1
    assert valid and invalid, "the file needs valid and invalid codes"


def test_safety_numbers(crypto):
    vectors = load_vectors("safety")
    for vector, result in zip(vectors, crypto("safety", vectors), strict=True):
        expect_fields(vector, result, ["F_a", "F_b", "safety_number", "qr"])
        assert result["symmetric"] is True


def test_message_box_and_statement(crypto):
    """Sealing gives the vector's box byte for byte, opening gives the JSON back, the
    statement's hash and deterministic signature match and a flipped bit fails to
    verify; every negative case raises the typed error with the vector's code."""
    vectors = load_vectors("messagebox")
    results = crypto("messagebox", vectors)
    positive = negative = 0
    for vector, result in zip(vectors, results, strict=True):
        if "error" in vector:
            assert result.get("typed") is True, f"{vector} gave {result}"
            assert result["error"] == vector["error"]
            negative += 1
            continue
        expect_fields(vector, result, ["context_bytes", "box", "plaintext_json", "padded_len",
                                       "message_hash", "signature"])
        fields = result["statement_fields"]
        box = bytes.fromhex(vector["box"])
        assert "".join(fields[:7]) == "".join(  # the context, field by field, leads
            f[8:] for f in _split_fields(bytes.fromhex(vector["context_bytes"])))
        assert result["box_digest"] == hashlib.sha256(box[1:]).hexdigest()
        assert result["box_digest"] in fields
        assert result["parsed_context"] == vector["context_bytes"]  # the strict reader agrees
        assert result["parsed_digest"] == result["box_digest"]
        assert result["tampered_verify"] == {"error": "bad_signature", "typed": True,
                                             "name": "SignatureError"}
        if result["rebuilt_statement"] is not None:
            assert result["rebuilt_statement"] == vector["statement"]
        positive += 1
    assert positive and negative, "the file needs sealed boxes and negative cases"


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
        assert outcome == {"typed": True, "name": "WorkFactorError", "code": "work_factor",
                           "progress": 0}, name
    # Positive control: the same call with the vectors' factor runs in the test build.
    accepted = crypto.page.evaluate(REFUSALS, [crypto.url("test"), {"wf10": DERIVE % 10}])
    assert accepted == {"wf10": {"accepted": True}}


def test_malformed_input_raises_typed_errors(crypto):
    """Wrong lengths, trailing bytes, bad addresses, a box over 48 KiB or of another
    version: each raises a CryptoError subclass, never a bare TypeError."""
    ctx = ("{conversationId: new Uint8Array(16), epoch: 1, envelopeHash: new Uint8Array(32), "
           "senderId: 1, senderGeneration: 1, deviceId: new Uint8Array(16), deviceCounter: 0}")
    cases = {
        "email without @": "c.normaliseEmail('alice.example.com');",
        "email with two @": "c.normaliseEmail('a@b@example.com');",
        "short account salt": "c.scryptSalt('a@example.com', new Uint8Array(15));",
        "statement with trailing byte": "c.parseStatement(new Uint8Array([0,0,0,1,65,0]));",
        "message statement with a short id": (
            "const f = c.parseStatement(c.statement('securechat/v2/message', "
            "...Array.from({length: 14}, () => new Uint8Array(8)))); "
            "c.parseMessageStatement(c.statement('securechat/v2/message', ...f));"),
        "message statement with 13 fields": (
            "c.parseMessageStatement(c.statement('securechat/v2/message', "
            "...Array.from({length: 13}, () => new Uint8Array(8))));"),
        "statement of another tag": ("c.parseStatement(c.statement('securechat/v2/epoch'), "
                                     "c.MESSAGE_TAG);"),
        "short conversation id": f"c.messageContext({{...{ctx}, conversationId: "
                                 "new Uint8Array(15)});",
        "negative counter": f"c.messageContext({{...{ctx}, deviceCounter: -1}});",
        "oversized message": (f"c.sealMessage({{epochSecret: new Uint8Array(32), context: {ctx},"
                              " json: 'x'.repeat(40000)});"),
        "box version 1": (f"const box = c.sealMessage({{epochSecret: new Uint8Array(32), "
                          f"context: {ctx}, json: '{{}}'}}); box[0] = 1; "
                          f"c.openMessage({{box, epochSecret: new Uint8Array(32), "
                          f"context: {ctx}}});"),
        "truncated box": (f"c.openMessage({{box: new Uint8Array(20), "
                          f"epochSecret: new Uint8Array(32), context: {ctx}}});"),
        "recovery code with U": "c.parseRecoveryCode('U'.repeat(26));",
        "unknown key type": "c.recoverySeed('0'.repeat(26), 'rsa');",
        "short signature": ("c.verifyStatement(new Uint8Array(32), new Uint8Array(1), "
                            "new Uint8Array(63));"),
        "same user twice": ("const u = {userId: 1, ed25519: new Uint8Array(32), "
                            "recipient: 'age1x'}; c.safetyNumber(u, u);"),
    }
    results = crypto.page.evaluate(REFUSALS, [crypto.url("test"), cases])
    untyped = {name: outcome for name, outcome in results.items() if not outcome.get("typed")}
    assert untyped == {}
    assert results["box version 1"]["code"] == "bad_version"
    assert results["oversized message"]["code"] == "too_large"


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
    for name in ("work factor 11", "work factor 30"):
        assert results[name] | {"ms": 0} == {"typed": True, "name": "WorkFactorError",
                                             "code": "work_factor", "ms": 0}, name
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
                                 "code": "work_factor"}, name
    assert results["other salt"] == {"typed": True, "name": "AccountParametersError",
                                     "code": "salt_changed"}
    assert results["short salt"]["code"] == "invalid_input"
