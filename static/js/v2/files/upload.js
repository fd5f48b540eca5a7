// Browser uploads of version 2 (DESIGN.md §6, docs/protocol.md "Browser file transfers"):
// tus-js-client sends to the ciphertext mode of /api/v1/uploads/ what the encrypt worker
// makes from File slices, one PATCH of `chunkSize` bytes at a time, so memory does not
// grow with the file. No Upload-Metadata and no stored fingerprint: neither the name nor
// anything about the file reaches the server or the browser's storage.
import { Upload } from "tus-js-client";

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
function ciphertextReader(worker, length, onResumeRecord, uploadUrl) {
  return {
    openFile: async () => ({
      size: length,
      async slice(start, end) {
        const { bytes, record } = await worker.call("slice", { start, end });
        // The record names every chunk these bytes hold: it is stored before they leave.
        await onResumeRecord?.({ ...record, uploadUrl: uploadUrl() });
        return { value: new Blob([bytes]), done: end >= length };
      },
      close() {},
    }),
  };
}

function send(upload, signal) {
  return new Promise((resolve, reject) => {
    upload.options.onSuccess = () => resolve(upload.url);
    upload.options.onError = (error) => reject(error);
    if (signal) {
      signal.addEventListener("abort", () => {
        upload.abort(true).catch((error) => console.error("upload: terminating failed", error));
        reject(new CryptoError("cancelled", "the upload was cancelled"));
      }, { once: true });
    }
    upload.start();
  });
}

/**
 * Encrypts `file` (a File or Blob) in a Worker while uploading it. Resolves to
 * {uploadId, identity, fileHash (hex), length (ciphertext bytes), name, type} — what a
 * file message carries. Options: onProgress(sent, total) in ciphertext bytes; signal (an
 * AbortSignal: cancels and terminates the upload); keyType (default: the account's);
 * onResumeRecord(record), awaited before each PATCH leaves (resume.js); chunkSize.
 */
export async function uploadFile(file, { onProgress, signal, keyType, onResumeRecord,
  chunkSize = PATCH_SIZE } = {}) {
  if (!(file instanceof Blob)) throw new UsageError("expected a File or Blob");
  if (!(chunkSize > 0 && chunkSize <= 16 * 1024 * 1024)) throw new UsageError("bad chunk size");
  if (signal?.aborted) throw new CryptoError("cancelled", "the upload was cancelled");
  const type = keyType ?? await deploymentKeyType();
  const worker = await openEncryptWorker();
  try {
    const { identity, length } = await worker.call("start", { file, keyType: type });
    const token = (await getJson("/api/v1/csrf")).csrf_token;
    const upload = new Upload(file, {
      endpoint: UPLOAD_ENDPOINT, uploadSize: length, chunkSize, retryDelays: [0, 1000, 3000],
      headers: { "X-CSRFToken": token }, metadata: {}, storeFingerprintForResuming: false,
      fingerprint: async () => null,
      fileReader: ciphertextReader(worker, length, onResumeRecord, () => upload.url),
      onProgress: (sent, total) => onProgress?.(sent, total),
    });
    const url = await send(upload, signal);
    const { fileHash } = await worker.call("finish");
    return { uploadId: url.replace(/\/+$/, "").split("/").pop(), identity, fileHash, length,
      name: file.name ?? "", type: file.type ?? "" };
  } finally {
    worker.terminate();
  }
}
