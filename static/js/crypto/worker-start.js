// Starting Web Workers from pinned scripts (DESIGN.md §1): a worker script cannot carry
// SRI, so the page fetches it with `integrity` (the browser checks the bytes), and starts
// the checked bytes from a blob: URL (CSP worker-src blob:). The worker bundle is one
// self-contained module, so it imports nothing that could load unpinned.
import { CryptoError } from "./errors.js";

/** The worker script's bytes did not match its integrity, or could not be fetched. */
export class WorkerIntegrityError extends CryptoError {
  constructor(message, options) {
    super("worker_integrity", message, options);
    this.name = "WorkerIntegrityError";
  }
}

/**
 * Fetches the same-origin module worker script at `url`, checked against `integrity`
 * ("sha384-…"), and starts it. Resolves to the Worker; rejects with
 * WorkerIntegrityError when the script is elsewhere, missing or not the pinned bytes.
 */
export async function startWorker(url, integrity, { name = undefined } = {}) {
  const target = new URL(url, location.href);
  if (target.origin !== location.origin) {
    throw new WorkerIntegrityError(`worker script ${target} is not on this site`);
  }
  if (typeof integrity !== "string" || !integrity.startsWith("sha384-")) {
    throw new WorkerIntegrityError("a worker script needs a sha384 integrity");
  }
  let response;
  try {
    response = await fetch(target, { integrity, credentials: "same-origin", cache: "no-cache" });
  } catch (error) {
    // fetch() rejects on an integrity mismatch (and on network errors): both mean the
    // pinned code cannot run.
    throw new WorkerIntegrityError(`worker script ${target} failed its integrity check`,
      { cause: error });
  }
  if (!response.ok) throw new WorkerIntegrityError(`worker script ${target}: HTTP ${response.status}`);
  const blob = new Blob([await response.arrayBuffer()], { type: "text/javascript" });
  const blobUrl = URL.createObjectURL(blob);
  try {
    // The Worker constructor resolves the blob: URL synchronously, so it can be revoked now.
    return new Worker(blobUrl, { type: "module", name });
  } finally {
    URL.revokeObjectURL(blobUrl);
  }
}
