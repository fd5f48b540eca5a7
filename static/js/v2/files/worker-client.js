// The page's side of v2/files/encrypt-worker: numbered requests, answers matched by id,
// errors rebuilt as typed CryptoErrors (as crypto/derive-client.js does).
import { CryptoError } from "../../crypto/errors.js";
import { startWorker } from "../../crypto/worker-start.js";

let script = null; // {url, integrity} of the worker bundle, from the page's manifest

/** Names the encrypt worker's bundle ({url, integrity}); pages call it once at start. */
export function setEncryptWorkerScript(url, integrity) {
  script = { url, integrity };
}

/** A started encrypt worker with `call(op, params, transfer)` → Promise of the answer. */
export async function openEncryptWorker() {
  if (script === null) {
    throw new CryptoError("worker_failed", "setEncryptWorkerScript() was not called");
  }
  const worker = await startWorker(script.url, script.integrity, { name: "encrypt-upload" });
  const pending = new Map();
  let nextId = 1;
  worker.addEventListener("message", (event) => {
    const waiter = pending.get(event.data?.id);
    if (!waiter) return;
    pending.delete(event.data.id);
    if (event.data.error) {
      const failure = new CryptoError(event.data.error.code, event.data.error.message);
      failure.name = event.data.error.name;
      waiter.reject(failure);
    } else {
      waiter.resolve(event.data);
    }
  });
  worker.addEventListener("error", (event) => {
    const failure = new CryptoError("worker_failed",
      `the encrypt worker failed: ${event.message ?? "it could not start"}`);
    for (const waiter of pending.values()) waiter.reject(failure);
    pending.clear();
  });
  return {
    call(op, params = {}, transfer = []) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, op, ...params }, transfer);
      });
    },
    terminate() {
      worker.terminate();
      const failure = new CryptoError("cancelled", "the upload was cancelled");
      for (const waiter of pending.values()) waiter.reject(failure);
      pending.clear();
    },
  };
}
