// Version 2 file transfers for the chat (issue 14): one entry point for the bundle.
//   setEncryptWorkerScript(url, integrity)   once, from the page's manifest entry
//   uploadFile(file, {onProgress, signal})   → {uploadId, identity, fileHash, length, name, type}
//   downloadFile(ref, {onProgress, signal})  → Blob (ref: what the file message carries)
//   new Uploads(userId).uploadFile(file, …)  uploadFile resumable across reloads (uploads.js)
//   setFileConfig(config.files)              once: download Service Worker, previews, PDF.js
//   saveThroughWorker(ref, {onProgress})     a streamed, hash-checked save to disk
//   makeThumbnail(file), previewOf(blob), renderPdf(blob, pageCanvas), sniff(bytes)
import { setDownloadWorkerScript } from "./sw-client.js";
import { setPreviewConfig } from "./preview.js";

export * from "./agewriter.js";
export * from "./download.js";
export * from "./preview.js";
export * from "./resume.js";
export * from "./resumestore.js";
export * from "./sniff.js";
export * from "./sw-client.js";
export * from "./thumbnail.js";
export * from "./upload.js";
export * from "./uploads.js";
export { openEncryptWorker, setEncryptWorkerScript } from "./worker-client.js";
// The typed errors, so that callers can branch on them (this bundle has its own copy).
export { CryptoError, FileHashError, UsageError } from "../../crypto/errors.js";
export { AeadError, AeadUnavailableError, loadAead } from "../../crypto/aead.js";

/** The shell's config JSON "files" ({downloadWorker, pdfRenderer, pdfWorker, previewMax});
 *  null or undefined: no Service Worker downloads, no PDF previews, the default limit. */
export function setFileConfig(config) {
  const { downloadWorker = null, ...previews } = config ?? {};
  if (downloadWorker) setDownloadWorkerScript(downloadWorker.url, downloadWorker.integrity);
  setPreviewConfig(previews);
}
