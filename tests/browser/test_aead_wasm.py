"""The browser's WebAssembly ChaCha20-Poly1305 (static/js/crypto/aead.js, the
``crypto/aead`` bundle; docs/protocol.md §26, issue 14).

In Chromium, under the CSP the server sends (``settings.SECURE_CSP``), the AEAD seals
byte for byte what Python's ``cryptography`` and npm ``@noble/ciphers`` seal, in a
page and in a Worker started the project's way (``startWorker``: fetched with
integrity, run from a ``blob:`` URL); every tampered chunk raises ``AeadError`` and
returns nothing. Without ``'wasm-unsafe-eval'`` (or without WebAssembly) it fails
closed with ``AeadUnavailableError`` instead of falling back to JavaScript.

A small static server sends each page's CSP; no database or Django server is needed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import subprocess
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from django.conf import settings
from django.utils.csp import CSP, build_policy

from tests.support.bundle import build
from tests.support.live import REPO_ROOT

pytestmark = [pytest.mark.browser]

HERE = Path(__file__).parent
KEY = bytes(range(0x80, 0xA0))
NONCE = bytes.fromhex("000000000000000000000001")
# Empty, one byte, one age STREAM chunk, one sealed chunk's length, one past a chunk, 1 MiB.
SIZES = [0, 1, 65536, 65552, 65537, 1 << 20]
CASES = {"key": KEY.hex(), "nonce": NONCE.hex(), "sizes": SIZES}


def pattern(size: int) -> bytes:
    """aead_harness.js's pattern(): byte i is (31·i + 7) mod 256."""
    return bytes((31 * i + 7) & 0xFF for i in range(size))


@functools.cache
def sealed_by_cryptography(size: int) -> bytes:
    return ChaCha20Poly1305(KEY).encrypt(NONCE, pattern(size), None)


NOBLE = """
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { createHash } from "node:crypto";
const [key, nonce, sizes] = JSON.parse(process.argv[1]);
const bytes = (h) => Uint8Array.from(Buffer.from(h, "hex"));
const out = sizes.map((size) => {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = (31 * i + 7) & 0xff;
  const sealed = chacha20poly1305(bytes(key), bytes(nonce)).encrypt(p);
  return createHash("sha256").update(sealed).digest("hex");
});
console.log(JSON.stringify(out));
"""


@functools.cache
def sealed_digests_by_noble() -> tuple[str, ...]:
    """SHA-256 of what npm @noble/ciphers (the pure-JS AEAD the bundle used so far) seals."""
    done = subprocess.run(
        ["node", "--input-type=module", "-e", NOBLE, json.dumps([KEY.hex(), NONCE.hex(), SIZES])],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True)
    return tuple(json.loads(done.stdout))


def policy(*, wasm: bool) -> str:
    """The CSP the server sends (SECURE_CSP), or the same without 'wasm-unsafe-eval'."""
    config = {name: list(values) for name, values in settings.SECURE_CSP.items()}
    if not wasm:
        config["script-src"] = [v for v in config["script-src"] if v != CSP.WASM_UNSAFE_EVAL]
    return build_policy(config)


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files of the served tree; /project/ and /no-wasm/ pages carry their CSP."""

    def end_headers(self):
        if self.path.startswith("/project/"):
            self.send_header("Content-Security-Policy", policy(wasm=True))
        elif self.path.startswith("/no-wasm/"):
            self.send_header("Content-Security-Policy", policy(wasm=False))
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(base URL, manifest) of a static server holding a fresh production bundle under
    /dist/, the test harness and worker, and an empty page under each policy."""
    root = tmp_path_factory.mktemp("aead-site")
    manifest = build(root / "dist")
    for name in ("aead_harness.js", "aead_worker.js"):
        (root / name).write_bytes((HERE / name).read_bytes())
    for variant in ("project", "no-wasm"):
        (root / variant).mkdir()
        (root / variant / "page.html").write_text("<!doctype html><title>aead</title>")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", manifest
    server.shutdown()
    server.server_close()


# Counts the page's CSP violations (an init script runs before any page script, and
# outside the page's CSP).
COUNT_VIOLATIONS = """window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));"""

IN_PAGE = "([harness, bundle, cases]) => import(harness).then((h) => h.run(bundle, cases))"

IN_WORKER = """async ([index, integrity, harness, bundle, cases]) => {
  const { startWorker } = await import(index);
  const worker = await startWorker("/aead_worker.js", integrity, { name: "aead-test" });
  const answer = await new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => resolve(data);
    worker.onerror = (e) => reject(new Error(`worker failed: ${e.message}`));
    worker.postMessage({ harness, bundle, cases });
  });
  worker.terminate();
  return answer;
}"""


@pytest.fixture
def open_page(browser, site):
    """``open_page(variant, webassembly=True)`` → (page, run_in_page, run_in_worker)."""
    base, manifest = site
    contexts = []
    entries = manifest["entries"]
    bundle = f"{base}/dist/{entries['crypto/aead']['file']}"
    index = f"{base}/dist/{entries['crypto/index']['file']}"
    worker_bytes = (HERE / "aead_worker.js").read_bytes()
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(worker_bytes).digest()).decode()

    def make(variant, webassembly=True, cases=CASES):
        context = browser.new_context()
        contexts.append(context)
        context.add_init_script(COUNT_VIOLATIONS)
        if not webassembly:
            context.add_init_script("delete globalThis.WebAssembly;")
        page = context.new_page()
        page.goto(f"{base}/{variant}/page.html")
        harness = f"{base}/aead_harness.js"
        return (page,
                lambda: page.evaluate(IN_PAGE, [harness, bundle, cases]),
                lambda: page.evaluate(IN_WORKER, [index, integrity, harness, bundle, cases]))

    yield make
    for context in contexts:
        context.close()


def expect_identical_to_cryptography_and_noble(answer: dict) -> None:
    assert answer["loaded"] is True, answer
    assert answer["implementation"] == "libsodium-wasm"
    noble = sealed_digests_by_noble()
    for size, result, noble_digest in zip(SIZES, answer["results"], noble, strict=True):
        expected = sealed_by_cryptography(size)
        assert result["size"] == size
        assert result["sealed_length"] == size + 16
        assert result["sealed_sha256"] == hashlib.sha256(expected).hexdigest() == noble_digest, size
        if size <= 64:
            assert result["sealed_hex"] == expected.hex()
        assert result["opened_matches"] is True, size


def expect_every_tampering_refused(refusals: dict) -> None:
    for case in ("flipped_tag", "flipped_ciphertext", "other_nonce", "other_key",
                 "shorter_than_tag"):
        outcome = refusals[case]
        assert outcome["returned"] is False, f"{case} returned plaintext"
        assert outcome["error"]["name"] == "AeadError", (case, outcome)
        assert outcome["error"]["code"] == "bad_tag" and outcome["error"]["typed"] is True
    for case in ("key_of_31_bytes", "nonce_of_24_bytes", "into_too_small"):
        assert refusals[case]["error"]["name"] == "UsageError", (case, refusals[case])
        assert refusals[case]["error"]["typed"] is True
    assert refusals["untampered"] == {"returned": True}


def expect_into_buffers_work(into: dict) -> None:
    """Sealing into a caller's buffer gives the same bytes in that buffer; a refused open
    leaves the caller's buffer untouched."""
    assert into == {"sealed_same": True, "opened_same": True, "refused_wrote_nothing": True}


def test_in_a_page_under_the_served_csp_it_matches_cryptography_and_noble(open_page):
    """Byte-identical sealing at 0 B … 1 MiB, opening round-trips, one instance per page,
    every tampered chunk raises AeadError, and the page logs no CSP violation."""
    page, in_page, _ = open_page("project")
    answer = in_page()
    expect_identical_to_cryptography_and_noble(answer)
    expect_every_tampering_refused(answer["refusals"])
    expect_into_buffers_work(answer["into"])
    assert answer["same_instance"] is True
    assert page.evaluate("window.__violations") == []


def test_in_a_worker_started_with_start_worker_it_matches_too(open_page):
    """The Worker (blob: URL, inheriting the page's CSP) compiles WebAssembly and gives
    the same bytes and refusals; neither realm logs a violation."""
    page, _, in_worker = open_page("project")
    answer = in_worker()
    assert "failed" not in answer, answer
    expect_identical_to_cryptography_and_noble(answer)
    expect_every_tampering_refused(answer["refusals"])
    expect_into_buffers_work(answer["into"])
    assert answer["violations"] == 0
    assert page.evaluate("window.__violations") == []


SMALL = {**CASES, "sizes": [1]}


def test_without_wasm_unsafe_eval_it_fails_closed_in_page_and_worker(open_page):
    """The served policy minus 'wasm-unsafe-eval' (every other directive the same):
    loadAead() rejects with AeadUnavailableError in the page and in its Worker, and the
    browser reports the blocked compile — the AEAD never runs without WebAssembly."""
    page, in_page, in_worker = open_page("no-wasm", cases=SMALL)
    unavailable = {"name": "AeadUnavailableError", "code": "wasm_unavailable", "typed": True}
    answer = in_page()
    assert answer["loaded"] is False
    assert {k: answer["error"][k] for k in unavailable} == unavailable
    page.wait_for_function("window.__violations.length > 0")
    assert any(v.startswith("script-src") for v in page.evaluate("window.__violations"))
    assert "Content Security Policy" in answer["error"]["cause"], answer["error"]
    answer = in_worker()
    assert answer.get("loaded") is False, answer
    assert {k: answer["error"][k] for k in unavailable} == unavailable
    # Chromium reports no violation event inside a Worker; the cause names the policy.
    assert "Content Security Policy" in answer["error"]["cause"], answer["error"]
    # Positive control: the same calls under the served policy load and seal.
    _, in_page, in_worker = open_page("project", cases=SMALL)
    assert in_page()["loaded"] is True
    assert in_worker()["loaded"] is True


def test_without_webassembly_it_fails_closed(open_page):
    """A realm with no WebAssembly object gets AeadUnavailableError, not a JS fallback."""
    _, in_page, _ = open_page("project", webassembly=False, cases=SMALL)
    answer = in_page()
    assert answer["loaded"] is False
    assert answer["error"]["name"] == "AeadUnavailableError"
    assert answer["error"]["code"] == "wasm_unavailable"
