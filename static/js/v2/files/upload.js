// Browser uploads of version 2 (DESIGN.md §6, docs/protocol.md "Browser file transfers"):
// tus-js-client sends to /api/v1/uploads/ what the encrypt worker
// makes from File slices, one PATCH of `chunkSize` bytes at a time, so memory does not
// grow with the file. No Upload-Metadata and no stored fingerprint: neither the name nor
// anything about the file reaches the server or the browser's storage.
//
// Memory shape (issue 14): every PATCH is a fixed `chunkSize` (PATCH_SIZE, at most
// 16 MiB; only the last is shorter) at a fixed offset. tus-js-client asks for the next
// body only after the previous PATCH was answered (one request at a time, no parallel
// uploads), and the worker reads just that range with File.slice and encrypts it on
// demand (encrypt-worker.js `slice`), transferring the ciphertext to the page. So at
// most two PATCH bodies exist at once: the one being sent and, until it is collected,
// the one before it (Chromium sends no streaming request body over HTTP/1.1, so a body
// is a whole Blob).
import { Upload } from "tus-js-client";

import { logFailure } from "../../common/log.js";
import { CryptoError, UsageError } from "../../crypto/errors.js";
import { openEncryptWorker } from "./worker-client.js";

export const UPLOAD_ENDPOINT = "/api/v1/uploads/";
export const PATCH_SIZE = 8 * 1024 * 1024; // at most 16 MiB (issue 14)

async function getJson(path) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw new CryptoError("http", `${path}: HTTP ${response.status}`);
  return response.json();
}

/** The deployment's key type, as the server lists the user's own current keys. */
async function deploymentKeyType() {
  const keyType = (await getJson("/api/v1/me")).key_type;
  if (keyType !== "x25519" && keyType !== "hybrid") {
    throw new CryptoError("no_key_type", "the account has no current key generation");
  }
  return keyType;
}

/** tus-js-client's file reader: each slice is ciphertext from the worker. */
function ciphertextReader(worker, length, record, onResumeRecord, uploadUrl) {
  return {
    openFile: async () => ({
      size: length,
      async slice(start, end) {
        const { bytes, hashes } = await worker.call("slice", { start, end });
        // The record names every chunk these bytes hold: it is stored before they leave.
        record.chunkHashes.push(...hashes);
        record.uploadUrl = uploadUrl();
        await onResumeRecord?.(record);
        return { value: new Blob([bytes]), done: end >= length };
      },
      close() {},
    }),
  };
}

const TUS = { "Tus-Resumable": "1.0.0" };

/** {offset, length} the server holds for an upload URL of this site, or null. */
async function serverState(url) {
  const target = new URL(url, location.href);
  if (target.origin !== location.origin || !target.pathname.startsWith(UPLOAD_ENDPOINT)) {
    return null;
  }
  const response = await fetch(target, { method: "HEAD", headers: TUS,
    credentials: "same-origin", cache: "no-store" });
  if (!response.ok) return null;
  return { offset: Number(response.headers.get("Upload-Offset")),
    length: Number(response.headers.get("Upload-Length")) };
}

// A PATCH cut short (a cancel, a reload) holds the upload's lease until the server has
// noticed; a DELETE meanwhile is 423, so it is tried again for longer than that takes.
const TERMINATE_RETRY_MS = [250, 500, 1000, 2000, 4000, 8000];

/** Terminates an upload that will not be continued (tus DELETE); resolves to whether the
 *  server no longer has it. A failure is logged. */
export async function terminateUpload(url, token) {
  for (const delay of [0, ...TERMINATE_RETRY_MS]) {
    await new Promise((wake) => { setTimeout(wake, delay); });
    try {
      const response = await fetch(url, { method: "DELETE",
        headers: { ...TUS, "X-CSRFToken": token }, credentials: "same-origin" });
      if (response.ok || response.status === 404) return true;
      if (response.status !== 423) throw new Error(`HTTP ${response.status}`);
    } catch (error) {
      logFailure("upload", "terminating the abandoned upload failed", error);
      return false;
    }
  }
  logFailure("upload", "the abandoned upload stayed locked; it expires on the server");
  return false;
}

/**
 * Starts the worker on `file`: continuing the upload of `record` when the server still
 * has it and the worker's check passes (resume.js), else under a new identity, key and
 * nonce (after terminating the old upload). Returns {identity, length, record, resumeUrl}.
 */
async function begin(worker, file, keyType, record, token) {
  if (record?.uploadUrl) {
    const state = await serverState(record.uploadUrl);
    if (state !== null) {
      const answer = await worker.call("resume", { file, record, offset: state.offset });
      if (answer.ok && answer.length === state.length) {
        return { ...answer, resumeUrl: record.uploadUrl };
      }
    }
    await terminateUpload(record.uploadUrl, token);
  }
  return { ...await worker.call("start", { file, keyType }), resumeUrl: null };
}

/** Runs `upload`; `signal` aborts it and rejects once the server's copy is terminated
 *  (so that a logout can wait for the DELETE before it ends the session). */
function send(upload, signal, token) {
  return new Promise((resolve, reject) => {
    const cancel = async () => {
      await upload.abort(false);
      if (upload.url) await terminateUpload(upload.url, token);
      reject(new CryptoError("cancelled", "the upload was cancelled"));
    };
    upload.options.onSuccess = () => resolve(upload.url);
    upload.options.onError = (error) => reject(error);
    signal?.addEventListener("abort", cancel, { once: true });
    upload.start();
    if (signal?.aborted) cancel();
  });
}

/**
 * Encrypts `file` (a File or Blob) in a Worker while uploading it. Resolves to
 * {uploadId, identity, fileHash (hex), length (ciphertext bytes), name, type} — what a
 * file message carries. Options: onProgress(sent, total) in ciphertext bytes; signal (an
 * AbortSignal: cancels and terminates the upload); keyType (default: the account's);
 * onResumeRecord(record), awaited before each PATCH leaves (resume.js); resumeFrom (a
 * record saved by onResumeRecord: the upload continues if DESIGN.md §6 allows, else
 * starts over; the result's `resumed` says which); chunkSize.
 */
export async function uploadFile(file, { onProgress, signal, keyType, onResumeRecord,
  resumeFrom, chunkSize = PATCH_SIZE } = {}) {
  if (!(file instanceof Blob)) throw new UsageError("expected a File or Blob");
  if (!(chunkSize > 0 && chunkSize <= 16 * 1024 * 1024)) throw new UsageError("bad chunk size");
  if (signal?.aborted) throw new CryptoError("cancelled", "the upload was cancelled");
  const type = keyType ?? await deploymentKeyType();
  const worker = await openEncryptWorker();
  try {
    const token = (await getJson("/api/v1/csrf")).csrf_token;
    const { identity, length, record, resumeUrl } = await begin(worker, file, type, resumeFrom,
      token);
    if (signal?.aborted && resumeUrl) await terminateUpload(resumeUrl, token);
    if (signal?.aborted) throw new CryptoError("cancelled", "the upload was cancelled");
    const upload = new Upload(file, {
      endpoint: UPLOAD_ENDPOINT, uploadUrl: resumeUrl, uploadSize: length, chunkSize,
      retryDelays: [0, 1000, 3000],
      headers: { "X-CSRFToken": token }, metadata: {}, storeFingerprintForResuming: false,
      fingerprint: async () => null,
      fileReader: ciphertextReader(worker, length, record, onResumeRecord, () => upload.url),
      onProgress: (sent, total) => onProgress?.(sent, total),
    });
    const url = await send(upload, signal, token);
    const { fileHash } = await worker.call("finish");
    return { uploadId: url.replace(/\/+$/, "").split("/").pop(), identity, fileHash, length,
      name: file.name ?? "", type: file.type ?? "", resumed: resumeUrl !== null };
  } finally {
    worker.terminate();
  }
}
