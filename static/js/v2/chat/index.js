// The version 2 chat, mounted by the /v2/ shell once it has unlocked the identity:
//   const chat = await startChat(rootElement, {user: {id, email}, generation,
//     ageIdentities: ["AGE-SECRET-KEY-…", …] /* newest first */, signingSeed /* 32 bytes */});
// Keys stay in this tab's memory: nothing here sends them anywhere. File messages need
// the encrypt worker's bundle: options.encryptWorker = {url, integrity} (the page's
// manifest entry "v2/files/encrypt-worker", as the /v2/ template passes it);
// options.files = the shell config's "files" (download Service Worker, PDF.js bundles,
// preview limit: accounts/views/v2.py file_config), without which downloads decrypt in
// the page and PDFs are download-only.
import { setEncryptWorkerScript, setFileConfig } from "../files/index.js";
import { ChatEngine } from "./engine.js";
import { ChatView } from "./view.js";

export { ChatEngine } from "./engine.js";
export { ChatView } from "./view.js";
export { formatSize, safeFileName } from "./filename.js";

/**
 * Starts the engine and its view in `root`; resolves with {engine, view, stop()} (the
 * shell's mount contract, static/js/v2/mount.js: stop() when the session ends).
 */
export async function startChat(root, keys, { encryptWorker, files, ...options } = {}) {
  if (encryptWorker) setEncryptWorkerScript(encryptWorker.url, encryptWorker.integrity);
  setFileConfig(files);
  const engine = new ChatEngine(keys, options);
  const view = new ChatView(root, engine);
  try {
    await engine.start();
  } catch (error) {
    view.showFailure(`The chat could not start: ${error.message}`);
    throw error;
  }
  view.render();
  return { engine, view, stop: () => engine.stop() };
}
export { DeviceState } from "./device.js";
