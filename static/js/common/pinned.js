// Pinned module bundles loaded on demand: a module that most pages never need (the PDF
// renderer, the QR code reader) is its own bundle, pinned in the manifest like the page's
// (tools/bundle.mjs), and added as a <script type=module integrity> the first time it is
// needed. Such a module publishes its API on globalThis[Symbol.for(…)], which is how the
// page gets it without a dynamic import() (which cannot carry an integrity).
import { CryptoError } from "../crypto/errors.js";
import { WorkerIntegrityError } from "../crypto/worker-start.js";

const loading = new Map(); // API symbol → Promise of the API

function addScript({ url, integrity }, api) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.type = "module";
    script.src = url;
    script.integrity = integrity; // a pinned module, like the page's own
    script.crossOrigin = "anonymous";
    script.addEventListener("load", () => {
      if (globalThis[api]) resolve(globalThis[api]);
      else reject(new CryptoError("module_unavailable", `${url} did not start`));
    });
    script.addEventListener("error", () =>
      reject(new WorkerIntegrityError(`${url} failed to load or its integrity check`)));
    document.head.append(script);
  });
}

/**
 * The API that the pinned module `script` ({url, integrity}) publishes on
 * globalThis[api], loading the module once per page. Rejects with WorkerIntegrityError
 * when the script does not load or fails its integrity check, and with a CryptoError
 * "module_unavailable" when it ran without publishing; a later call tries again.
 */
export function loadPinnedModule(script, api) {
  if (globalThis[api]) return Promise.resolve(globalThis[api]);
  if (!loading.has(api)) {
    loading.set(api, addScript(script, api).catch((error) => {
      loading.delete(api);
      throw error;
    }));
  }
  return loading.get(api);
}
