// The hash a file message signs, over an age file's ciphertext (docs/protocol.md §18,
// client/filehash.py):
//   file_hash = SHA-256( field("securechat/v2/file") || field(SHA-256(header || nonce)) ||
//                        field(SHA-256(c_0)) || … || field(SHA-256(c_last)) )
// `header` is the age header through its MAC line, `nonce` the 16-byte STREAM nonce, c_i
// the ciphertext chunks of 65,552 bytes (the last may be shorter; 16 bytes only for an
// empty file). FileHasher takes the file in pieces of any size in constant memory: only
// the header (at most 64 KiB) is held, until its MAC line is complete and parsed. Nothing
// is decrypted: the hash names the ciphertext the sender signed.
import { sha256 } from "@noble/hashes/sha2.js";

import { bytesEqual, requireBytes, u32be } from "./bytes.js";
import { checkAgeHeader, ENC_CHUNK_SIZE, possiblePayloadLength } from "./agefile.js";
import { FileHashError, UsageError } from "./errors.js";
import { field, ascii } from "./statement.js";

export const FILE_TAG = "securechat/v2/file";
export const MAX_HEADER_SIZE = 64 * 1024;
const NONCE_SIZE = 16;
const HASH_FIELD = u32be(32);
const NEWLINE = 0x0a;

function badFile(message) {
  return new FileHashError("bad_file", message);
}

/**
 * Incremental file hash: update(bytes) with any split, then digest(). FileHashError
 * (bad_file) as soon as the header is not age's or longer than 64 KiB, and at digest()
 * for a file without header and nonce or with a payload length no age file has.
 * `onHash(h)`, if given, sees each 32-byte field hash in order (header and nonce first).
 */
export class FileHasher {
  #onHash;
  #outer = sha256.create().update(field(ascii(FILE_TAG)));
  #header = new Uint8Array(MAX_HEADER_SIZE);
  #headerLength = 0;
  #lineStart = 0;
  #prefix = null; // SHA-256(header || nonce) in progress, once the header is parsed
  #nonceLeft = NONCE_SIZE;
  #chunk = sha256.create();
  #chunkLength = 0;
  #payloadLength = 0;
  #done = null;

  constructor({ onHash = undefined } = {}) {
    this.#onHash = onHash;
  }

  /** Feeds the next piece of the file (a Uint8Array of any length). */
  update(piece) {
    if (this.#done) throw new UsageError("the hash is already final");
    let view = requireBytes(piece, "a file piece");
    if (this.#prefix === null) view = this.#feedHeader(view);
    if (this.#nonceLeft && view.length) {
      const take = Math.min(this.#nonceLeft, view.length);
      this.#prefix.update(view.subarray(0, take));
      this.#nonceLeft -= take;
      view = view.subarray(take);
      if (!this.#nonceLeft) this.#add(this.#prefix.digest());
    }
    if (view.length) this.#feedPayload(view);
    return this;
  }

  /** Buffers header lines; once the MAC line is complete, parses it and returns the rest. */
  #feedHeader(view) {
    while (view.length) {
      const newline = view.indexOf(NEWLINE);
      const line = newline < 0 ? view : view.subarray(0, newline + 1);
      if (this.#headerLength + line.length > MAX_HEADER_SIZE) {
        throw badFile("the age header is too long");
      }
      this.#header.set(line, this.#headerLength);
      this.#headerLength += line.length;
      view = view.subarray(line.length);
      if (newline < 0) break;
      if (this.#startsMacLine()) {
        this.#finishHeader();
        return view;
      }
      this.#lineStart = this.#headerLength;
    }
    return view;
  }

  #startsMacLine() {
    const h = this.#header;
    const s = this.#lineStart;
    return h[s] === 0x2d && h[s + 1] === 0x2d && h[s + 2] === 0x2d;
  }

  #finishHeader() {
    const header = this.#header.subarray(0, this.#headerLength);
    checkAgeHeader(header, badFile);
    this.#prefix = sha256.create().update(header);
    this.#header = null; // the header buffer is not needed again
  }

  #feedPayload(view) {
    this.#payloadLength += view.length;
    while (view.length) {
      if (this.#chunkLength === ENC_CHUNK_SIZE) {
        this.#add(this.#chunk.digest());
        this.#chunk = sha256.create();
        this.#chunkLength = 0;
      }
      const take = Math.min(ENC_CHUNK_SIZE - this.#chunkLength, view.length);
      this.#chunk.update(view.subarray(0, take));
      this.#chunkLength += take;
      view = view.subarray(take);
    }
  }

  #add(hash) {
    this.#outer.update(HASH_FIELD).update(hash);
    this.#onHash?.(hash);
  }

  /** The 32-byte file hash; FileHashError(bad_file) if the bytes are not a whole age file. */
  digest() {
    if (this.#done) return this.#done.slice();
    if (this.#prefix === null || this.#nonceLeft) {
      throw badFile("the file ends before its header and nonce");
    }
    if (!possiblePayloadLength(this.#payloadLength)) {
      throw badFile("the payload length is not one an age file can have");
    }
    this.#add(this.#chunk.digest());
    this.#done = this.#outer.digest();
    return this.#done.slice();
  }
}

/** The file hash of a whole age file given as bytes or as an iterable of pieces. */
export function fileHash(pieces) {
  const hasher = new FileHasher();
  for (const piece of pieces instanceof Uint8Array ? [pieces] : pieces) hasher.update(piece);
  return hasher.digest();
}

/**
 * The file hash of a Blob (or File), read in slices of `pieceSize` bytes so that memory
 * stays constant however large the file is.
 */
export async function fileHashOfBlob(blob, { pieceSize = 1024 * 1024, onHash } = {}) {
  if (!(blob instanceof Blob)) throw new UsageError("expected a Blob");
  if (!Number.isSafeInteger(pieceSize) || pieceSize < 1) {
    throw new UsageError("the piece size is a positive integer");
  }
  const hasher = new FileHasher({ onHash });
  for (let offset = 0; offset < blob.size; offset += pieceSize) {
    const slice = blob.slice(offset, offset + pieceSize);
    hasher.update(new Uint8Array(await slice.arrayBuffer()));
  }
  return hasher.digest();
}

/**
 * Returns nothing when the file's hash is `expected` (32 bytes); FileHashError
 * file_hash_mismatch otherwise (a forgery), bad_file if it is not an age file. `file` is
 * bytes, an iterable of pieces or a Blob.
 */
export async function verifyFileHash(expected, file) {
  requireBytes(expected, "a file hash", 32);
  const actual = file instanceof Blob ? await fileHashOfBlob(file) : fileHash(file);
  if (!bytesEqual(actual, expected)) {
    throw new FileHashError("file_hash_mismatch", "the file is not the one its sender signed");
  }
}
