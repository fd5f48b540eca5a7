// The version 2 chat, mounted by the /v2/ shell once it has unlocked the identity:
//   const chat = await startChat(rootElement, {user: {id, email}, generation,
//     ageIdentities: ["AGE-SECRET-KEY-…", …] /* newest first */, signingSeed /* 32 bytes */});
// Keys stay in this tab's memory: nothing here sends them anywhere. File messages need
// the encrypt worker's bundle: options.encryptWorker = {url, integrity} (the page's
// manifest entry "v2/files/encrypt-worker", as the /v2/ template passes it);
// options.files = the shell config's "files" (download Service Worker, PDF.js bundles,
// preview limit: accounts/views/v2.py file_config), without which downloads decrypt in
// the page and PDFs are download-only. options.heartbeatSeconds: the server's websocket
// heartbeat (the shell's config), from which the socket knows when a silent connection
// is dead. options.qrReader = {url, integrity} of the QR code reader's bundle (manifest
// entry "v2/chat/qr-reader"), without which contacts' codes cannot be scanned, only
// compared by eye. Messages waiting to send are kept in the outbox (outbox.js) across reloads,
// unless `keys.shared`.
import { logFailure, logWarning } from "../../common/log.js";
import { setEncryptWorkerScript, setFileConfig, Uploads } from "../files/index.js";
import { ChatEngine } from "./engine.js";
import { Outbox } from "./outbox.js";
import { ChatSocket } from "./socket.js";
import { confirmDiscardUploads, showInterruptedUploads } from "./uploadview.js";
import { ChatView } from "./view.js";
import { CHAT, OFFLINE } from "../strings.js";

export { ChatEngine } from "./engine.js";
export { ChatView } from "./view.js";
export { formatSize, safeFileName } from "./filename.js";

/** The question a logout asks while `count` messages wait to send. */
export function discardWaitingQuestion(count) {
  return OFFLINE.discardWaiting(count);
}

/**
 * Before a logout: while messages wait to send or an upload runs, asks whether to
 * discard them (false: stay); then deletes the waiting messages (the outbox), terminates
 * every partial upload on the server and deletes the resume records.
 */
async function leave(uploads, engine) {
  const waiting = engine.waitingCount();
  if (waiting && !window.confirm(discardWaitingQuestion(waiting))) return false;
  if (uploads.busy && !confirmDiscardUploads()) return false;
  // A logout always goes through: what is not discarded in time expires on the server
  // (SECURECHAT_UPLOAD_EXPIRY_SECONDS), and the outbox's and uploads' records die with the
  // session's device key (the next start deletes what no longer opens).
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(resolve, LEAVE_LIMIT_MS, "late"); });
  try {
    const discarded = Promise.all([engine.discardWaiting(), uploads.discardAll()]);
    if (await Promise.race([discarded, late]) === "late") {
      logWarning("v2 chat", `discarding waiting messages and partial uploads took over `
        + `${LEAVE_LIMIT_MS} ms; logging out anyway`);
    }
  } catch (error) {
    logFailure("v2 chat", "the waiting messages or partial uploads were not all discarded",
      error);
  } finally {
    clearTimeout(timer);
  }
  return true;
}

const LEAVE_LIMIT_MS = 10_000;

/**
 * Starts the engine and its view in `root`; resolves with {engine, view, uploads, stop(),
 * leave()} (the shell's mount contract, static/js/v2/mount.js: stop() when the session
 * ends, leave() before a logout: false when the user keeps the session for an upload).
 * File uploads resume across reloads (files/uploads.js) unless `keys.shared`.
 */
export async function startChat(root, keys,
  { encryptWorker, registration, files, qrReader, heartbeatSeconds, ...options } = {}) {
  if (encryptWorker) setEncryptWorkerScript(encryptWorker.url, encryptWorker.integrity);
  setFileConfig(files);
  const uploads = new Uploads(keys.user.id, { keep: !keys.shared });
  const outbox = keys.shared ? null : await Outbox.open(keys.user.id).catch((error) => {
    logFailure("v2 chat", "no outbox, waiting messages will not survive a reload", error);
    return null;
  });
  const engine = new ChatEngine(keys, { outbox,
    socket: new ChatSocket(undefined, { heartbeatSeconds }), ...options });
  // Uploads go through the resumable manager; downloads and previews stay the engine's.
  engine.routeUploads((file, opts) => uploads.uploadFile(file, opts));
  const view = new ChatView(root, engine, { registration, qrReader });
  try {
    await engine.start();
  } catch (error) {
    view.showFailure(CHAT.couldNotStart(error.message));
    throw error;
  }
  view.render();
  showInterruptedUploads(root.querySelector(".v2-chat") ?? root, uploads);
  return { engine, view, uploads, stop: () => { view.stop(); engine.stop(); },
    leave: () => leave(uploads, engine) };
}
export { DeviceState } from "./device.js";
