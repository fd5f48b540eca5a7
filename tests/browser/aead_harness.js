// Page- and worker-side half of tests/browser/test_aead_wasm.py (an ES module the test's
// static server serves). run() loads the AEAD bundle at `bundleUrl`, seals and opens the
// test pattern at each size, and tries each kind of tampering. It answers with SHA-256
// digests (and the bytes of small results), so a MiB never crosses to Python as JSON.
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const bytes = (text) => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
const sha256 = async (data) => hex(new Uint8Array(await crypto.subtle.digest("SHA-256", data)));

/** The plaintext of `size` bytes both sides compute: byte i is (31·i + 7) mod 256. */
export function pattern(size) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (31 * i + 7) & 0xff;
  return out;
}

function failure(error, aead) {
  return { name: error?.name, code: error?.code, typed: error instanceof aead.CryptoError,
    message: String(error?.message), cause: String(error?.cause?.message ?? error?.cause) };
}

/** {returned: false, error} when `call` throws; {returned: true} when it gives anything. */
function attempt(call, bundle) {
  try {
    call();
    return { returned: true };
  } catch (error) {
    return { returned: false, error: failure(error, bundle) };
  }
}

function tamperings(aead, bundle, key, nonce) {
  const sealed = aead.seal(key, nonce, pattern(65536));
  const flip = (at) => { const copy = sealed.slice(); copy[at] ^= 1; return copy; };
  const otherNonce = nonce.slice(); otherNonce[0] ^= 1;
  const otherKey = key.slice(); otherKey[31] ^= 0x80;
  return {
    flipped_tag: attempt(() => aead.open(key, nonce, flip(sealed.length - 1)), bundle),
    flipped_ciphertext: attempt(() => aead.open(key, nonce, flip(0)), bundle),
    other_nonce: attempt(() => aead.open(key, otherNonce, sealed), bundle),
    other_key: attempt(() => aead.open(otherKey, nonce, sealed), bundle),
    shorter_than_tag: attempt(() => aead.open(key, nonce, sealed.subarray(0, 15)), bundle),
    key_of_31_bytes: attempt(() => aead.seal(key.subarray(1), nonce, pattern(1)), bundle),
    nonce_of_24_bytes: attempt(() => aead.seal(key, new Uint8Array(24), pattern(1)), bundle),
    into_too_small: attempt(() => aead.seal(key, nonce, pattern(16), new Uint8Array(31)), bundle),
    // Positive control: the untampered chunk opens.
    untampered: attempt(() => aead.open(key, nonce, sealed), bundle),
  };
}

/** seal/open writing into caller buffers: same bytes; a refused open writes nothing. */
function intoBuffers(aead, key, nonce) {
  const plaintext = pattern(1000);
  const expected = aead.seal(key, nonce, plaintext);
  const body = new Uint8Array(4096);
  const written = aead.seal(key, nonce, plaintext, body.subarray(100));
  const opened = new Uint8Array(2000);
  aead.open(key, nonce, written, opened);
  const untouched = new Uint8Array(2000);
  const bad = written.slice(); bad[5] ^= 1;
  try { aead.open(key, nonce, bad, untouched); } catch { /* refused: checked below */ }
  return {
    sealed_same: hex(written) === hex(expected) && written.buffer === body.buffer,
    opened_same: hex(opened.subarray(0, 1000)) === hex(plaintext),
    refused_wrote_nothing: untouched.every((b) => b === 0),
  };
}

export async function run(bundleUrl, { key, nonce, sizes }) {
  const bundle = await import(bundleUrl);
  let aead;
  try {
    aead = await bundle.loadAead();
  } catch (error) {
    return { loaded: false, error: failure(error, bundle) };
  }
  const k = bytes(key);
  const n = bytes(nonce);
  const results = [];
  for (const size of sizes) {
    const plaintext = pattern(size);
    const sealed = aead.seal(k, n, plaintext);
    const opened = aead.open(k, n, sealed);
    results.push({ size, sealed_length: sealed.length, sealed_sha256: await sha256(sealed),
      sealed_hex: size <= 64 ? hex(sealed) : null,
      opened_matches: (await sha256(opened)) === (await sha256(plaintext)) });
  }
  return { loaded: true, implementation: aead.implementation, results,
    same_instance: (await bundle.loadAead()) === aead, refusals: tamperings(aead, bundle, k, n),
    into: intoBuffers(aead, k, n) };
}
