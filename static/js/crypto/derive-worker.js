// Worker entry (bundled as crypto/derive-worker): runs the password derivation off the
// page's thread so the page never freezes, reporting scrypt progress (issue 12, signup
// and login). Started by startWorker() with the manifest's integrity.
//
// Protocol: the page posts {id, email, accountSalt (Uint8Array), password, workFactor};
// the worker posts {id, progress} as scrypt runs, then {id, keys} or {id, error}.
import { logFailure } from "../common/log.js";
import { CryptoError } from "./errors.js";
import { deriveKeys } from "./derive.js";

const PROGRESS_STEP = 0.02; // at most ~50 progress messages per derivation

self.addEventListener("message", async (event) => {
  const { id, email, accountSalt, password, workFactor } = event.data;
  let reported = 0;
  const onProgress = (fraction) => {
    if (fraction - reported >= PROGRESS_STEP || fraction === 1) {
      reported = fraction;
      self.postMessage({ id, progress: fraction });
    }
  };
  try {
    const keys = await deriveKeys({ email, accountSalt, password, workFactor, onProgress });
    self.postMessage({ id, keys });
  } catch (error) {
    // Reported to the page, which owns the user-facing error; logged here as well so a
    // failure never disappears with the worker.
    logFailure("derive-worker", "the keys were not derived", error);
    const typed = error instanceof CryptoError;
    self.postMessage({
      id, error: { name: typed ? error.name : "Error", code: typed ? error.code : "internal",
        message: String(error.message) },
    });
  }
});
