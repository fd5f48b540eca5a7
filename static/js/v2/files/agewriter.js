// The project's own age v1 writer for uploads (DESIGN.md §3 "Files", §6; docs/protocol.md
// "Browser file encryption"). typage's Encrypter draws its own file key and nonce and
// cannot seek, so an upload that must know its length in advance (Upload-Length) and
// (re)compute any chunk on its own needs this writer:
//   header  = "age-encryption.org/v1\n" || stanzas || "---" || " " || b64(MAC) || "\n"
//             MAC = HMAC-SHA256(HKDF-SHA256(file key, salt "", info "header"), header
//             through "---"), exactly agecrypt/header.py's build_header;
//   payload = nonce(16) || c_0 || … || c_last, c_i = ChaCha20-Poly1305(
//             HKDF-SHA256(file key, salt nonce, info "payload"), nonce = u88be(i) || last,
//             plaintext chunk i of 65,536 bytes; the last one 1..65,536, 0 only when empty).
// The stanza comes from typage's own recipient code (it encrypts an empty file to the
// one-time recipient, and its Decrypter returns that file's key), so this module holds no
// X25519 or ML-KEM code; the header is then re-encoded here and must equal typage's byte
// for byte. The nonce is drawn once per writer, from the one randomness seam (bytes.js).
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { base64nopad } from "@scure/base";
import { Encrypter, identityToRecipient } from "age-encryption";

import { withIdentities } from "../../crypto/agefile.js";
import { loadAead } from "../../crypto/aead.js";
import { bytesEqual, concat, randomBytes, requireBytes, u32be } from "../../crypto/bytes.js";
import { CryptoError, UsageError } from "../../crypto/errors.js";
import { FILE_TAG } from "../../crypto/filehash.js";
import { identityFromSeed } from "../../crypto/recovery.js";
import { ascii as asciiBytes, field } from "../../crypto/statement.js";

export const CHUNK_SIZE = 64 * 1024;
export const TAG_SIZE = 16;
export const ENC_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;
export const NONCE_SIZE = 16;
export const FILE_KEY_SIZE = 16;
const COLUMNS = 64;
const ascii = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const VERSION_LINE = ascii.encode("age-encryption.org/v1\n");
const HASH_FIELD = u32be(32);

/** A writer or reader of upload files failed in a way its caller must not paper over. */
export class AgeFileError extends CryptoError {
  constructor(code, message, options) {
    super(code, message, options);
    this.name = "AgeFileError";
  }
}

/** Number of STREAM chunks of a `plaintextLength`-byte file (at least one). */
export function chunkCount(plaintextLength) {
  requireLength(plaintextLength);
  return Math.max(1, Math.ceil(plaintextLength / CHUNK_SIZE));
}

/** Bytes of the STREAM chunks (nonce excluded) of a `plaintextLength`-byte file. */
export function payloadSize(plaintextLength) {
  return plaintextLength + chunkCount(plaintextLength) * TAG_SIZE;
}

function requireLength(n) {
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError("a length is a non-negative integer");
}

function stanzaBytes({ type, args, body }) {
  const valid = (arg) => typeof arg === "string" && /^[\x21-\x7e]+$/.test(arg);
  if (!valid(type) || !args.every(valid)) throw new UsageError("invalid stanza type or argument");
  const lines = [`-> ${[type, ...args].join(" ")}\n`];
  const encoded = base64nopad.encode(requireBytes(body, "a stanza body"));
  for (let i = 0; i < encoded.length; i += COLUMNS) lines.push(`${encoded.slice(i, i + COLUMNS)}\n`);
  if (encoded.length % COLUMNS === 0) lines.push("\n"); // a full last line needs a short one
  return ascii.encode(lines.join(""));
}

/** The header of `stanzas` ({type, args, body}) with its MAC under the 16-byte file key. */
export function encodeHeader(stanzas, fileKey) {
  requireBytes(fileKey, "a file key", FILE_KEY_SIZE);
  if (!Array.isArray(stanzas) || !stanzas.length) throw new UsageError("a header needs a stanza");
  const macInput = concat(VERSION_LINE, ...stanzas.map(stanzaBytes), ascii.encode("---"));
  const macKey = hkdf(sha256, fileKey, new Uint8Array(0), ascii.encode("header"), 32);
  const mac = hmac(sha256, macKey, macInput);
  return concat(macInput, ascii.encode(` ${base64nopad.encode(mac)}\n`));
}

/** The stanzas ({type, args, body}) of a header that typage or agecrypt wrote. */
export function parseStanzas(header) {
  const lines = latin1.decode(requireBytes(header, "a header")).split("\n");
  const stanzas = [];
  for (let i = 1; i < lines.length && !lines[i].startsWith("---");) {
    if (!lines[i].startsWith("-> ")) throw new AgeFileError("bad_file", "unexpected header line");
    const [type, ...args] = lines[i].slice(3).split(" ");
    let body = "";
    for (i += 1; ; i += 1) {
      if (i >= lines.length) throw new AgeFileError("bad_file", "the header ends in a stanza");
      body += lines[i];
      if (lines[i].length < COLUMNS) break;
    }
    i += 1;
    stanzas.push({ type, args, body: base64nopad.decode(body) });
  }
  return stanzas;
}

/** The header (through the MAC line) at the start of `bytes`, or null if it has not ended. */
export function headerOf(bytes) {
  const text = latin1.decode(bytes.subarray(0, Math.min(bytes.length, 64 * 1024)));
  const mac = text.indexOf("\n---");
  const end = mac < 0 ? -1 : text.indexOf("\n", mac + 1);
  return end < 0 ? null : bytes.slice(0, end + 1);
}

/**
 * A fresh one-time identity of `keyType` ("x25519" or "hybrid") and a file key wrapped to
 * it: {identity, recipient, fileKey, stanzas}. The seed comes from the randomness seam;
 * the stanza and file key from typage (see the module comment). AgeFileError
 * writer_mismatch if this module's header encoding differs from typage's.
 */
export async function oneTimeKeys(keyType) {
  const identity = identityFromSeed(randomBytes(32), keyType);
  const recipient = await identityToRecipient(identity);
  const encrypter = new Encrypter();
  encrypter.addRecipient(recipient);
  const header = headerOf(await encrypter.encrypt(new Uint8Array(0)));
  const fileKey = await withIdentities([identity]).decryptHeader(header);
  const stanzas = parseStanzas(header);
  if (!bytesEqual(encodeHeader(stanzas, fileKey), header)) {
    throw new AgeFileError("writer_mismatch", "the header encoder disagrees with typage");
  }
  return { identity, recipient, fileKey, stanzas };
}

/**
 * The STREAM cipher of one file: chunk i sealed or opened on its own, by `aead` (the
 * WebAssembly ChaCha20-Poly1305 of crypto/aead.js: `await loadAead()`; there is no
 * pure-JS fallback for files, which would be 3-6 times slower, protocol.md §26).
 */
export class ChunkCipher {
  #aeadKey;
  #aead;

  constructor(fileKey, nonce, aead) {
    requireBytes(fileKey, "a file key", FILE_KEY_SIZE);
    requireBytes(nonce, "a payload nonce", NONCE_SIZE);
    if (typeof aead?.seal !== "function" || typeof aead?.open !== "function") {
      throw new UsageError("a chunk cipher needs the file AEAD (loadAead())");
    }
    this.#aead = aead;
    this.#aeadKey = hkdf(sha256, fileKey, nonce, ascii.encode("payload"), 32);
  }

  #nonce(index, last) {
    if (!Number.isSafeInteger(index) || index < 0) throw new UsageError("bad chunk index");
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setBigUint64(3, BigInt(index));
    nonce[11] = last ? 1 : 0;
    return nonce;
  }

  seal(index, plaintext, last) {
    return this.#aead.seal(this.#aeadKey, this.#nonce(index, last), plaintext);
  }

  /** The plaintext; AgeFileError bad_tag if the chunk does not authenticate. */
  open(index, ciphertext, last) {
    try {
      return this.#aead.open(this.#aeadKey, this.#nonce(index, last), ciphertext);
    } catch (error) {
      throw new AgeFileError("bad_tag", `chunk ${index} does not authenticate`, { cause: error });
    }
  }
}

/**
 * The layout and cipher of one upload file of `plaintextLength` bytes. Any chunk can be
 * encrypted on its own, any number of times (same key, nonce and index: the caller makes
 * sure the plaintext is the same, see resume.js). Built from fixed parts by tests
 * (`new AgeFileWriter({fileKey, stanzas, nonce, plaintextLength, aead})`), or by create().
 */
export class AgeFileWriter {
  #cipher;

  constructor({ fileKey, stanzas, nonce, plaintextLength, aead }) {
    requireLength(plaintextLength);
    this.header = encodeHeader(stanzas, fileKey);
    this.nonce = requireBytes(nonce, "a payload nonce", NONCE_SIZE).slice();
    this.prefix = concat(this.header, this.nonce);
    this.plaintextLength = plaintextLength;
    this.chunkCount = chunkCount(plaintextLength);
    this.length = this.prefix.length + payloadSize(plaintextLength);
    this.#cipher = new ChunkCipher(fileKey, this.nonce, aead);
  }

  /** {writer, identity, recipient}: a new one-time identity, file key and nonce. */
  static async create(keyType, plaintextLength) {
    const { identity, recipient, fileKey, stanzas } = await oneTimeKeys(keyType);
    const writer = new AgeFileWriter({ fileKey, stanzas, nonce: randomBytes(NONCE_SIZE),
      plaintextLength, aead: await loadAead() });
    return { writer, identity, recipient };
  }

  /** [start, end) of plaintext chunk `index`. */
  plaintextRange(index) {
    this.#checkIndex(index);
    return [index * CHUNK_SIZE, Math.min((index + 1) * CHUNK_SIZE, this.plaintextLength)];
  }

  /** [start, end) of ciphertext chunk `index` in the whole file. */
  ciphertextRange(index) {
    const [start, end] = this.plaintextRange(index);
    const offset = this.prefix.length + index * ENC_CHUNK_SIZE;
    return [offset, offset + end - start + TAG_SIZE];
  }

  /** The index of the chunk holding file offset `offset` (past the prefix). */
  chunkAt(offset) {
    return Math.min(this.chunkCount - 1,
      Math.floor((offset - this.prefix.length) / ENC_CHUNK_SIZE));
  }

  /** Ciphertext chunk `index` of `plaintext` (exactly that chunk's bytes). */
  encryptChunk(index, plaintext) {
    const [start, end] = this.plaintextRange(index);
    requireBytes(plaintext, "a plaintext chunk", end - start);
    return this.#cipher.seal(index, plaintext, index === this.chunkCount - 1);
  }

  #checkIndex(index) {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.chunkCount) {
      throw new UsageError(`chunk ${index} is outside the file`);
    }
  }
}

/** SHA-256 by the platform (WebCrypto: native code, an order faster than pure JS). */
export async function nativeSha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", requireBytes(bytes, "bytes")));
}

/**
 * file_hash (docs/protocol.md §18) from its parts, for code that knows the chunk
 * boundaries: add(SHA-256(header || nonce)), then add(SHA-256(c_i)) for every ciphertext
 * chunk in order, then digest(). Equal to crypto/filehash.js's FileHasher on the same
 * file; the 32-byte hashes come from nativeSha256, so only this small outer hash runs in
 * JavaScript.
 */
export class FileHashParts {
  #outer = sha256.create().update(field(asciiBytes(FILE_TAG)));
  #count = 0;

  add(hash) {
    this.#outer.update(HASH_FIELD).update(requireBytes(hash, "a chunk hash", 32));
    this.#count += 1;
  }

  /** The 32-byte file hash; UsageError before the header hash and one chunk hash. */
  digest() {
    if (this.#count < 2) throw new UsageError("a file hash needs the header and a chunk");
    return this.#outer.digest();
  }
}
