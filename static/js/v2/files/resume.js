// The resume record of an upload and its check (DESIGN.md §6 "Nonce safety is the client's
// duty"). A chunk index is only ever encrypted under one plaintext: the SHA-256 of
// plaintext chunk i enters the record before any byte of its ciphertext leaves the
// writer, and a resume re-hashes every recorded chunk, whatever offset the server
// reports. The record is plain data ({uploadUrl, identity, header, nonce,
// plaintextLength, chunkHashes}: bytes as hex) that its owner stores encrypted under the
// device key; it holds the one-time identity, so it never goes to the server.
import { sha256 } from "@noble/hashes/sha2.js";

import { toHex } from "../../crypto/bytes.js";
import { UsageError } from "../../crypto/errors.js";
import { AgeFileError } from "./agewriter.js";

const READ_SIZE = 4 * 1024 * 1024;

/** A new, empty record for an upload made by `writer` to `identity`. */
export function newResumeRecord(writer, identity) {
  return { identity, header: toHex(writer.header), nonce: toHex(writer.nonce),
    plaintextLength: writer.plaintextLength, uploadUrl: null, chunkHashes: [] };
}

/**
 * Records the hash (hex) of plaintext chunk `index`. Returns true when it is new; refuses
 * (AgeFileError file_changed) a different hash for a recorded chunk: the file changed
 * under the upload, and encrypting it again would reuse the chunk's nonce.
 */
export function recordChunk(record, index, hash) {
  const known = record.chunkHashes[index];
  if (known === undefined) {
    if (index !== record.chunkHashes.length) throw new UsageError("chunks are recorded in order");
    record.chunkHashes.push(hash);
    return true;
  }
  if (known !== hash) {
    throw new AgeFileError("file_changed", `chunk ${index} of the file changed during its upload`);
  }
  return false;
}

/**
 * Whether the upload of `record` may continue from `serverOffset` with `file` (a Blob):
 * {ok: true} only when every recorded chunk of `file` hashes as recorded and the server's
 * offset lies within the recorded chunks (`coveredEnd(k)` gives the ciphertext end of
 * the first k chunks); else {ok: false, reason}. Reads the file slice by slice.
 */
export async function checkResume(file, record, serverOffset, coveredEnd) {
  if (!(file instanceof Blob)) throw new UsageError("expected a Blob");
  if (file.size !== record.plaintextLength) return { ok: false, reason: "size" };
  const recorded = record.chunkHashes.length;
  if (!Number.isSafeInteger(serverOffset) || serverOffset < 0 ||
      serverOffset > coveredEnd(recorded)) {
    return { ok: false, reason: "offset" };
  }
  const chunk = 64 * 1024;
  for (let start = 0; start < recorded * chunk; start += READ_SIZE) {
    const end = Math.min(start + READ_SIZE, recorded * chunk, file.size);
    const piece = new Uint8Array(await file.slice(start, end).arrayBuffer());
    for (let at = 0; at < piece.length || (at === 0 && file.size === 0); at += chunk) {
      const index = (start + at) / chunk;
      if (toHex(sha256(piece.subarray(at, at + chunk))) !== record.chunkHashes[index]) {
        return { ok: false, reason: "changed" };
      }
      if (file.size === 0) break;
    }
  }
  return { ok: true };
}
