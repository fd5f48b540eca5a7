// Worker entry (bundled as v2/files/encrypt-worker): encrypts one upload off the page's
// thread (DESIGN.md §6). It holds the File and the file key; the page's tus-js-client asks
// it for ciphertext ranges and receives only ciphertext. Started by startWorker() with
// the manifest's integrity (crypto/worker-start.js).
//
// Protocol (each request {id, op, …} is answered by {id, …} or {id, error}):
//   start  {file, keyType}          → {identity, length, record}  a new identity/key/nonce
//   resume {file, record, offset}   → {ok, reason?, identity, length, record}  (resume.js)
//   slice  {start, end}             → {bytes (transferred), hashes}  ciphertext [start, end)
//   finish {}                       → {fileHash}                once every byte was sliced
// `record` is the resume record; `hashes` are the chunk hashes the slice added to it
// (in order, after those the page has), recorded before the ciphertext was posted; the
// page persists the grown record before it sends the bytes.
import { logFailure } from "../../common/log.js";
import { withIdentities } from "../../crypto/agefile.js";
import { fromHex, toHex } from "../../crypto/bytes.js";
import { CryptoError, UsageError } from "../../crypto/errors.js";
import { loadAead } from "../../crypto/aead.js";
import { AgeFileWriter, FileHashParts, nativeSha256, parseStanzas } from "./agewriter.js";
import { checkResume, newResumeRecord, recordChunk } from "./resume.js";

let upload = null; // {file, writer, identity, record, hasher, hashedChunks}

function coveredEnd(writer) {
  return (chunks) => (chunks === 0 ? writer.prefix.length : writer.ciphertextRange(chunks - 1)[1]);
}

async function begin(file, writer, identity, record) {
  const hasher = new FileHashParts();
  hasher.add(await nativeSha256(writer.prefix));
  upload = { file, writer, identity, record, hasher, hashedChunks: 0 };
  return { identity, length: writer.length, record };
}

async function start({ file, keyType }) {
  const { writer, identity } = await AgeFileWriter.create(keyType, file.size);
  return begin(file, writer, identity, newResumeRecord(writer, identity));
}

async function resume({ file, record, offset }) {
  const header = fromHex(record.header);
  const fileKey = await withIdentities([record.identity]).decryptHeader(header);
  const writer = new AgeFileWriter({ fileKey, stanzas: parseStanzas(header),
    nonce: fromHex(record.nonce), plaintextLength: record.plaintextLength,
    aead: await loadAead() });
  const verdict = await checkResume(file, record, offset, coveredEnd(writer));
  if (!verdict.ok) return { ok: false, reason: verdict.reason };
  return { ok: true, ...await begin(file, writer, record.identity, record) };
}

/**
 * Ciphertext chunks first..last of `plaintext` (their plaintext bytes, in order): each
 * chunk's plaintext hash is recorded before it is encrypted, and chunks met for the first
 * time in order feed file_hash. Hashes run in WebCrypto, all of a slice at once.
 */
async function sealChunks(first, plaintext) {
  const { writer, record, hasher } = upload;
  const base = writer.plaintextRange(first)[0];
  const pieces = [];
  for (let at = 0, index = first; at < plaintext.length || !pieces.length; index += 1) {
    const [a, b] = writer.plaintextRange(index);
    pieces.push(plaintext.subarray(a - base, b - base));
    at = b - base;
  }
  const hashes = await Promise.all(pieces.map(nativeSha256));
  hashes.forEach((hash, k) => recordChunk(record, first + k, toHex(hash)));
  const sealed = pieces.map((piece, k) => writer.encryptChunk(first + k, piece));
  const fresh = sealed.filter((_, k) => first + k >= upload.hashedChunks);
  if (fresh.length && first + sealed.length - fresh.length === upload.hashedChunks) {
    for (const hash of await Promise.all(fresh.map(nativeSha256))) hasher.add(hash);
    upload.hashedChunks += fresh.length;
  }
  return sealed;
}

async function readPlaintext(first, last) {
  const [from] = upload.writer.plaintextRange(first);
  const [, to] = upload.writer.plaintextRange(last);
  return new Uint8Array(await upload.file.slice(from, to).arrayBuffer());
}

async function slice({ start, end }) {
  const { writer } = upload;
  if (!(Number.isSafeInteger(start) && start >= 0 && start <= end && end <= writer.length)) {
    throw new UsageError(`no range [${start}, ${end}) in a file of ${writer.length} bytes`);
  }
  const known = upload.record.chunkHashes.length;
  const out = new Uint8Array(end - start);
  const prefixEnd = Math.min(end, writer.prefix.length);
  if (start < prefixEnd) out.set(writer.prefix.subarray(start, prefixEnd), 0);
  if (end > writer.prefix.length) {
    const first = writer.chunkAt(Math.max(start, writer.prefix.length));
    const last = writer.chunkAt(end - 1);
    const sealed = await sealChunks(first, await readPlaintext(first, last));
    sealed.forEach((chunk, k) => {
      const [c] = writer.ciphertextRange(first + k);
      const from = Math.max(start, c);
      const to = Math.min(end, c + chunk.length);
      out.set(chunk.subarray(from - c, to - c), from - start);
    });
  }
  return { bytes: out, hashes: upload.record.chunkHashes.slice(known), transfer: [out.buffer] };
}

async function finish() {
  const { writer } = upload;
  // After a resume the chunks sent before it were not hashed here: their plaintext was
  // checked against the record, so encrypting them again gives the same ciphertext.
  const batch = 64; // chunks (4 MiB) per read
  for (let index = upload.hashedChunks; index < writer.chunkCount; index += batch) {
    const last = Math.min(index + batch, writer.chunkCount) - 1;
    await sealChunks(index, await readPlaintext(index, last));
  }
  return { fileHash: toHex(upload.hasher.digest()) };
}

const OPERATIONS = { start, resume, slice, finish };

self.addEventListener("message", async (event) => {
  const { id, op } = event.data;
  try {
    if (!Object.hasOwn(OPERATIONS, op)) throw new UsageError(`unknown operation ${op}`);
    if (op !== "start" && op !== "resume" && upload === null) throw new UsageError("no upload");
    const { transfer = [], ...answer } = await OPERATIONS[op](event.data);
    self.postMessage({ id, ...answer }, transfer);
  } catch (error) {
    // Reported to the page, which owns the user-facing error; logged here too so a
    // failure never disappears with the worker.
    logFailure("encrypt-worker", `${op} failed`, error);
    const typed = error instanceof CryptoError;
    self.postMessage({ id, error: { name: typed ? error.name : "Error",
      code: typed ? error.code : "internal", message: String(error.message) } });
  }
});
