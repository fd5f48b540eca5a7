// Streamed download and decryption of a version 2 file (DESIGN.md §3 "Files", §6):
// GET /api/v1/files/<upload id> is read as a stream, decrypted chunk by chunk with the
// message's one-time identity, and its file_hash recomputed as the bytes arrive. The
// end of the file (its final chunk) is released only when the hash equals the signed
// one; a mismatch is FileHashError file_hash_mismatch ("forgery"). A chunk that does not
// authenticate stops the decryption, but the hash is still completed, so that a forged
// file is reported as a forgery and a file its sender made badly as bad_tag.
// The plaintext is collected as Blob parts of at most PART_SIZE (the browser may keep
// Blobs out of the page's heap); a Service Worker that streams to disk may replace this.
import { bytesEqual, fromHex, requireBytes } from "../../crypto/bytes.js";
import { CryptoError, FileHashError, UsageError } from "../../crypto/errors.js";
import { loadAead } from "../../crypto/aead.js";
import { withIdentities } from "../../crypto/agefile.js";
import { AgeFileError, ChunkCipher, ENC_CHUNK_SIZE, FileHashParts, NONCE_SIZE, headerOf,
  nativeSha256 } from "./agewriter.js";

export const PART_SIZE = 4 * 1024 * 1024;
const MAX_HEADER = 64 * 1024;

/**
 * Decrypts one age file given in pieces: push(bytes) returns the plaintext chunks it can
 * release (never the final one), end() checks length and file hash, then returns the
 * final chunk's plaintext. Throws FileHashError, AgeFileError (bad_file, bad_tag) or the
 * age library's header error (wrapped as AgeFileError bad_header).
 */
export class StreamDecryptor {
  #identity; #expected; #length;
  #hasher = new FileHashParts();
  #received = 0;
  #head = new Uint8Array(0); // header and nonce, until both are complete
  #payloadStart = -1;
  #cipher = null;
  #chunk = new Uint8Array(ENC_CHUNK_SIZE);
  #chunkFill = 0;
  #index = 0;
  #failure = null;
  #final = null;
  #hashing = []; // chunk hashes in flight (WebCrypto), added in order at the end of push()

  constructor(identity, expectedHash, length) {
    if (typeof identity !== "string") throw new UsageError("a one-time identity is a string");
    this.#identity = identity;
    this.#expected = requireBytes(expectedHash, "a file hash", 32);
    if (!Number.isSafeInteger(length) || length < 1) throw new UsageError("bad file length");
    this.#length = length;
  }

  async push(piece) {
    requireBytes(piece, "a file piece");
    if (this.#received + piece.length > this.#length) {
      throw new AgeFileError("bad_file", "the file is longer than its message says");
    }
    this.#received += piece.length;
    const released = [];
    let rest = piece;
    if (this.#payloadStart < 0) rest = await this.#readHead(rest);
    while (rest.length) {
      const take = Math.min(rest.length, this.#chunkLength() - this.#chunkFill);
      this.#chunk.set(rest.subarray(0, take), this.#chunkFill);
      this.#chunkFill += take;
      rest = rest.subarray(take);
      if (this.#chunkFill === this.#chunkLength()) this.#openChunk(released);
    }
    for (const hash of await Promise.all(this.#hashing)) this.#hasher.add(hash);
    this.#hashing = [];
    return released;
  }

  async #readHead(piece) {
    const head = new Uint8Array(this.#head.length + piece.length);
    head.set(this.#head);
    head.set(piece, this.#head.length);
    const header = headerOf(head);
    if (header === null) {
      if (head.length > MAX_HEADER) throw new AgeFileError("bad_file", "no age header");
      this.#head = head;
      return new Uint8Array(0);
    }
    if (head.length < header.length + NONCE_SIZE) {
      this.#head = head;
      return new Uint8Array(0);
    }
    this.#payloadStart = header.length + NONCE_SIZE;
    this.#head = null;
    this.#hasher.add(await nativeSha256(head.subarray(0, this.#payloadStart)));
    const aead = await loadAead(); // fails closed (AeadUnavailableError) without WebAssembly
    try {
      const fileKey = await withIdentities([this.#identity]).decryptHeader(header);
      this.#cipher = new ChunkCipher(fileKey, head.slice(header.length, this.#payloadStart),
        aead);
    } catch (error) {
      this.#failure = new AgeFileError("bad_header", "the file's header does not open",
        { cause: error });
    }
    return head.subarray(this.#payloadStart);
  }

  /** Length of the current ciphertext chunk, from the file length the message gives. */
  #chunkLength() {
    const start = this.#payloadStart + this.#index * ENC_CHUNK_SIZE;
    return Math.min(ENC_CHUNK_SIZE, this.#length - start);
  }

  #openChunk(released) {
    const start = this.#payloadStart + this.#index * ENC_CHUNK_SIZE;
    const last = start + this.#chunkFill === this.#length;
    const ciphertext = this.#chunk.subarray(0, this.#chunkFill);
    // digest() copies its input before returning, so the buffer can be refilled.
    this.#hashing.push(nativeSha256(ciphertext));
    if (this.#failure !== null) return this.#skip();
    try {
      const plaintext = this.#cipher.open(this.#index, ciphertext, last);
      if (last) this.#final = plaintext;
      else released.push(plaintext);
    } catch (error) {
      this.#failure = error;
    }
    this.#skip();
  }

  #skip() {
    this.#index += 1;
    this.#chunkFill = 0;
  }

  /** The final plaintext chunk, once the whole file arrived and its hash is the signed one. */
  end() {
    if (this.#received !== this.#length) {
      throw new AgeFileError("bad_file", "the file is shorter than its message says");
    }
    const actual = this.#payloadStart < 0 ? null : this.#hasher.digest();
    if (actual === null || !bytesEqual(actual, this.#expected)) {
      throw new FileHashError("file_hash_mismatch", "the file is not the one its sender signed");
    }
    if (this.#failure !== null) throw this.#failure;
    if (this.#final === null) throw new AgeFileError("bad_file", "the file has no final chunk");
    return this.#final;
  }
}

/**
 * Downloads and decrypts the file a message names. `ref` is {uploadId, identity,
 * fileHash (hex or 32 bytes), length, name, type}; resolves to a Blob of the plaintext
 * (type application/octet-stream: the sender's type is only a hint). Options:
 * onProgress(received, total), signal (AbortSignal). Rejects with FileHashError on a
 * forgery, without the end of the file ever being released.
 */
export async function downloadFile(ref, { onProgress, signal } = {}) {
  if (!/^[0-9a-f]{32}$/.test(ref?.uploadId ?? "")) throw new UsageError("bad upload id");
  const expected = typeof ref.fileHash === "string" ? fromHex(ref.fileHash) : ref.fileHash;
  const decryptor = new StreamDecryptor(ref.identity, expected, ref.length);
  const response = await fetch(`/api/v1/files/${ref.uploadId}`,
    { credentials: "same-origin", cache: "no-store", signal });
  if (!response.ok) throw new CryptoError("http", `download: HTTP ${response.status}`);
  const parts = [];
  let pending = [];
  let pendingSize = 0;
  let received = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    received += value.length;
    for (const plaintext of await decryptor.push(value)) {
      pending.push(plaintext);
      pendingSize += plaintext.length;
    }
    if (pendingSize >= PART_SIZE) {
      parts.push(new Blob(pending));
      pending = [];
      pendingSize = 0;
    }
    onProgress?.(received, ref.length);
  }
  const last = decryptor.end();
  return new Blob([...parts, ...pending, last], { type: "application/octet-stream" });
}
