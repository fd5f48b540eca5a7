// ChaCha20-Poly1305-IETF (RFC 8439) in WebAssembly, for file encryption (DESIGN.md §3:
// the project's age STREAM writer and reader; docs/protocol.md §26). The pure-JS AEAD
// runs at 42–85 MB/s in Chromium here; libsodium's WebAssembly build runs several times
// faster (docs/benchmarks.md).
//
// Fails closed: when WebAssembly is missing or the page's CSP forbids compiling it (no
// 'wasm-unsafe-eval'), loadAead() rejects with AeadUnavailableError. There is no pure-JS
// fallback on purpose: a silent fallback would hide a broken policy and a 4× slowdown.
//
// One instance per realm (page or Worker): loadAead() compiles the module once and
// every later call resolves to the same object. The instance keeps one scratch area in
// its linear memory, grown to the largest message seen; the key is wiped from it after
// every call and the plaintext after every call that wrote it.
import instantiateLibsodium from "libsodium";

import { randomBytes, requireBytes } from "./bytes.js";
import { CryptoError, UsageError } from "./errors.js";

// This module is its own bundle (tools/bundle.mjs), so it carries the base classes its
// callers branch on.
export { CryptoError, UsageError } from "./errors.js";

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;
// libsodium's message length is a u64 split into two i32 halves (no BigInt ABI); the
// high half stays 0, so one call takes less than 2 GiB.
const MAX_MESSAGE_BYTES = 0x7fffffff - AEAD_TAG_BYTES;

/** WebAssembly is unavailable or blocked (CSP without 'wasm-unsafe-eval'). */
export class AeadUnavailableError extends CryptoError {
  constructor(message, options) {
    super("wasm_unavailable", message, options);
    this.name = "AeadUnavailableError";
  }
}

/** A sealed chunk whose tag does not verify under the key and nonce: no plaintext. */
export class AeadError extends CryptoError {
  constructor(message) {
    super("bad_tag", message);
    this.name = "AeadError";
  }
}

let instance = null;

/**
 * The realm's AEAD: resolves to {seal, open, implementation}. Rejects with
 * AeadUnavailableError when WebAssembly cannot run here; a later call tries again.
 */
export function loadAead() {
  if (instance === null) {
    instance = instantiate().catch((error) => {
      instance = null;
      throw error;
    });
  }
  return instance;
}

async function instantiate() {
  if (typeof WebAssembly !== "object" || WebAssembly === null) {
    throw new AeadUnavailableError("this browser has no WebAssembly");
  }
  let sodium;
  try {
    // getRandomValue feeds libsodium's own randombytes (unused by the AEAD, but
    // sodium_init stirs it): the module's one randomness seam.
    sodium = await instantiateLibsodium({ getRandomValue: randomU32 });
  } catch (error) {
    throw new AeadUnavailableError(
      "WebAssembly could not be compiled (a CSP without 'wasm-unsafe-eval'?)", { cause: error });
  }
  if (sodium._sodium_init() < 0) throw new AeadUnavailableError("libsodium did not initialise");
  return new WasmAead(sodium);
}

function randomU32() {
  const [a, b, c, d] = randomBytes(4);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** The AEAD over one libsodium instance; obtained from loadAead(), not constructed. */
class WasmAead {
  constructor(sodium) {
    this.implementation = "libsodium-wasm";
    this._sodium = sodium;
    // key (32) and nonce (12) live at fixed offsets of one small block.
    this._params = sodium._malloc(AEAD_KEY_BYTES + AEAD_NONCE_BYTES);
    this._input = 0;
    this._output = 0;
    this._capacity = 0;
    if (this._params === 0) throw new AeadUnavailableError("WebAssembly memory exhausted");
  }

  /**
   * ciphertext ‖ tag (plaintext.length + 16 bytes) of `plaintext` under key and nonce.
   * With `into` (a Uint8Array of at least that length, e.g. a slot of an upload body)
   * the result is written there and the written subarray returned, saving a copy.
   */
  seal(key, nonce, plaintext, into = undefined) {
    requireBytes(plaintext, "plaintext");
    if (plaintext.length > MAX_MESSAGE_BYTES) throw new AeadError("message too long");
    const length = plaintext.length;
    const target = this._target(into, length + AEAD_TAG_BYTES);
    this._prepare(key, nonce, length + AEAD_TAG_BYTES);
    this._heap().set(plaintext, this._input);
    const status = this._sodium._crypto_aead_chacha20poly1305_ietf_encrypt(
      this._output, 0, this._input, length, 0, 0, 0, 0, 0, this._nonceAt(), this._params);
    if (status === 0) target.set(this._heap().subarray(this._output, this._output + target.length));
    this._wipe(this._input, length);
    if (status !== 0) throw new AeadError("libsodium refused to seal");
    return target;
  }

  /**
   * The plaintext of `sealed` (ciphertext ‖ tag). Throws AeadError, and writes and
   * returns nothing, when the tag does not verify (libsodium checks it before it
   * decrypts). `into` as for seal(), at least sealed.length - 16 bytes.
   */
  open(key, nonce, sealed, into = undefined) {
    requireBytes(sealed, "sealed");
    if (sealed.length < AEAD_TAG_BYTES) throw new AeadError("sealed data shorter than a tag");
    if (sealed.length > MAX_MESSAGE_BYTES + AEAD_TAG_BYTES) throw new AeadError("too long");
    const length = sealed.length - AEAD_TAG_BYTES;
    const target = this._target(into, length);
    this._prepare(key, nonce, sealed.length);
    this._heap().set(sealed, this._input);
    const status = this._sodium._crypto_aead_chacha20poly1305_ietf_decrypt(
      this._output, 0, 0, this._input, sealed.length, 0, 0, 0, 0, this._nonceAt(),
      this._params);
    if (status === 0) target.set(this._heap().subarray(this._output, this._output + length));
    this._wipe(this._output, length);
    if (status !== 0) throw new AeadError("the chunk does not authenticate");
    return target;
  }

  // A fresh array, or the first `length` bytes of the caller's (checked before any work).
  _target(into, length) {
    if (into === undefined) return new Uint8Array(length);
    requireBytes(into, "into");
    if (into.length < length) throw new UsageError(`into must hold ${length} bytes`);
    return into.subarray(0, length);
  }

  _prepare(key, nonce, bytes) {
    requireBytes(key, "key", AEAD_KEY_BYTES);
    requireBytes(nonce, "nonce", AEAD_NONCE_BYTES);
    if (bytes > this._capacity) this._grow(bytes);
    const heap = this._heap();
    heap.set(key, this._params);
    heap.set(nonce, this._nonceAt());
  }

  _grow(bytes) {
    const sodium = this._sodium;
    if (this._capacity > 0) {
      sodium._free(this._input);
      sodium._free(this._output);
    }
    // Round up to 64 KiB so a STREAM of 64 KiB chunks allocates once.
    const capacity = Math.ceil(bytes / 65536) * 65536;
    this._input = sodium._malloc(capacity);
    this._output = sodium._malloc(capacity);
    if (this._input === 0 || this._output === 0) {
      this._capacity = 0;
      throw new AeadUnavailableError("WebAssembly memory exhausted");
    }
    this._capacity = capacity;
  }

  _nonceAt() {
    return this._params + AEAD_KEY_BYTES;
  }

  // The heap view is re-read after every call: malloc may grow the memory, which
  // detaches the previous view.
  _heap() {
    return this._sodium.HEAPU8;
  }

  _wipe(plaintextAt, length) {
    const heap = this._heap();
    heap.fill(0, this._params, this._params + AEAD_KEY_BYTES);
    heap.fill(0, plaintextAt, plaintextAt + length);
  }
}
