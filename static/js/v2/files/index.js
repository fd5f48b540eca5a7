// Version 2 file transfers for the chat (issue 14): one entry point for the bundle.
//   setEncryptWorkerScript(url, integrity)   once, from the page's manifest entry
//   uploadFile(file, {onProgress, signal})   → {uploadId, identity, fileHash, length, name, type}
//   downloadFile(ref, {onProgress, signal})  → Blob (ref: what the file message carries)
//   new Uploads(userId).uploadFile(file, …)  uploadFile resumable across reloads (uploads.js)
export * from "./agewriter.js";
export * from "./download.js";
export * from "./resume.js";
export * from "./resumestore.js";
export * from "./upload.js";
export * from "./uploads.js";
export { openEncryptWorker, setEncryptWorkerScript } from "./worker-client.js";
// The typed errors, so that callers can branch on them (this bundle has its own copy).
export { CryptoError, FileHashError, UsageError } from "../../crypto/errors.js";
export { AeadError, AeadUnavailableError, loadAead } from "../../crypto/aead.js";
