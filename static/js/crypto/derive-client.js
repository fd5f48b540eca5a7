// The page's side of crypto/derive-worker: one request at a time per call, progress
// forwarded, errors rebuilt as typed CryptoErrors.
import { CryptoError } from "./errors.js";

let nextId = 1;

/**
 * Derives the password keys in `worker` (from startWorker). Resolves to the keys of
 * deriveKeys(); rejects with a CryptoError carrying the worker's code.
 */
export function deriveKeysInWorker(worker, params, { onProgress = undefined } = {}) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const onMessage = (event) => {
      if (event.data?.id !== id) return;
      if (event.data.progress !== undefined) {
        onProgress?.(event.data.progress);
        return;
      }
      cleanup();
      if (event.data.error) {
        const failure = new CryptoError(event.data.error.code, event.data.error.message);
        failure.name = event.data.error.name;
        reject(failure);
      } else {
        resolve(event.data.keys);
      }
    };
    const onError = (event) => {
      cleanup();
      // A worker blocked by the CSP or failing to load fires an error without a message.
      const detail = event.message ?? "it could not start (blocked or failed to load)";
      reject(new CryptoError("worker_failed", `the derivation worker failed: ${detail}`));
    };
    const cleanup = () => {
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
    };
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
    worker.postMessage({ id, ...params });
  });
}
