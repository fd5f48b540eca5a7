// The page's side of the download Service Worker (./download-sw.js; DESIGN.md §6):
//   setDownloadWorkerScript(url, integrity)  once, from the shell's config
//   streamingDownloads()                      true when downloads can go through it
//   saveThroughWorker(ref, {onProgress})      a hash-checked download saved to disk
// A Service Worker script cannot carry SRI and the browser fetches it itself, so it cannot
// be pinned (docs/security.md). What the page can do: register only the current build's
// hash-named URL, fetch it with `integrity` first (so a server that serves other bytes
// under that name is caught here, and the download falls back to the page), and ask the
// browser never to take the script from its HTTP cache.
import { CryptoError, FileHashError } from "../../crypto/errors.js";
import { WorkerIntegrityError } from "../../crypto/worker-start.js";

const SCOPE = "/dl/";
const KEEPALIVE_MS = 20_000; // a message event keeps an idle Service Worker running
// The worker may finish a small file before the browser has turned the frame's navigation
// into a download; removing the frame then would cancel it. So frames go a while later.
const FRAME_LINGER_MS = 60_000;
let script = null; // {url, integrity}
let registration = null; // Promise of the active ServiceWorker

/** Names the download Service Worker's script ({url, integrity} from the page's config). */
export function setDownloadWorkerScript(url, integrity) {
  script = { url, integrity };
  registration = null;
}

/** True when this browser can save downloads through the Service Worker. */
export function streamingDownloads() {
  return script !== null && globalThis.isSecureContext === true
    && "serviceWorker" in navigator && typeof MessageChannel === "function";
}

async function checkScript() {
  let response;
  try {
    response = await fetch(script.url, { integrity: script.integrity, cache: "no-store",
      credentials: "same-origin" });
  } catch (error) {
    throw new WorkerIntegrityError(`${script.url} failed its integrity check`, { cause: error });
  }
  if (!response.ok) throw new WorkerIntegrityError(`${script.url}: HTTP ${response.status}`);
}

function activated(worker) {
  if (worker.state === "activated") return Promise.resolve(worker);
  return new Promise((resolve, reject) => {
    worker.addEventListener("statechange", () => {
      if (worker.state === "activated") resolve(worker);
      else if (worker.state === "redundant") {
        reject(new CryptoError("worker_failed", "the download service worker did not start"));
      }
    });
  });
}

async function register() {
  await checkScript();
  const reg = await navigator.serviceWorker.register(script.url,
    { scope: SCOPE, type: "module", updateViaCache: "none" });
  // Registering another build's URL for the same scope installs it in place of the old one
  // (it calls skipWaiting), so the newest of these is the one this page named.
  return activated(reg.installing ?? reg.waiting ?? reg.active);
}

/** The active download worker, registered once per page (a failure is tried again later). */
export function downloadWorker() {
  if (!streamingDownloads()) {
    return Promise.reject(new CryptoError("unsupported", "no service worker for downloads"));
  }
  if (registration === null) {
    registration = register().catch((error) => {
      registration = null;
      throw error;
    });
  }
  return registration;
}

function rebuilt(answer) {
  const ErrorType = answer.name === "FileHashError" ? FileHashError : CryptoError;
  const error = new ErrorType(answer.code, answer.message);
  error.name = answer.name;
  return error;
}

/**
 * Starts the save of /dl/<token>: a hidden iframe navigates to it, since Chromium sends an
 * <a download> click to the network, past the Service Worker. The worker's answer is an
 * attachment (and sandboxed), so the frame never renders it; anything the server would
 * answer there is 404 and X-Frame-Options DENY. Returns the frame (removed a while after
 * the download ends: FRAME_LINGER_MS).
 */
function startSave(token) {
  const frame = document.createElement("iframe");
  frame.hidden = true;
  frame.className = "v2-download-frame";
  frame.src = `${SCOPE}${token}`;
  document.body.append(frame);
  return frame;
}

/**
 * Saves the file `ref` names ({uploadId, identity, fileHash (hex), length, name}) through
 * the Service Worker: resolves when the whole file was written and its hash matched;
 * rejects with FileHashError on a forgery (the browser then discards the partial file).
 */
export async function saveThroughWorker(ref, { onProgress } = {}) {
  const worker = await downloadWorker();
  const channel = new MessageChannel();
  const keepalive = setInterval(() => worker.postMessage({ type: "keepalive" }), KEEPALIVE_MS);
  let frame = null;
  try {
    return await new Promise((resolve, reject) => {
      channel.port1.onmessage = ({ data }) => {
        if (data.state === "ready") frame = startSave(data.token);
        else if (data.state === "progress") onProgress?.(data.received, ref.length);
        else if (data.state === "done") resolve({ received: data.received });
        else if (data.state === "failed") reject(rebuilt(data));
      };
      worker.postMessage({ type: "download", ref: { uploadId: ref.uploadId,
        identity: ref.identity, fileHash: ref.fileHash, length: ref.length, name: ref.name } },
      [channel.port2]);
    });
  } finally {
    clearInterval(keepalive);
    channel.port1.close();
    if (frame) setTimeout(() => frame.remove(), FRAME_LINGER_MS);
  }
}
