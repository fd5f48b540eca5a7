// The download Service Worker (DESIGN.md §6 "Download"; docs/security.md "Downloads"):
// registered by the chat page from /dl/sw-<hash>.js with scope /dl/, so it controls no
// page or script of the app, only the one-time download URLs it hands out.
//
// 1. The page posts {type: "download", ref} with a MessagePort (ref: what the file
//    message carries: uploadId, identity, fileHash, length, name). The worker answers on
//    the port {state: "ready", token}: a fresh random token, valid once, for a short time.
//    Nothing secret is ever in a URL.
// 2. The page starts a download of /dl/<token> (a hidden iframe navigates to it: Chromium
//    sends <a download> clicks past the worker). The worker fetches GET /api/v1/files/
//    <upload id> (with the session cookie) and answers with a stream that decrypts chunk by chunk as the browser writes it to disk: it pulls the next piece only
//    when the browser asks for more, so memory stays constant whatever the file's size.
//    The final chunk is released only when the recomputed file_hash equals the signed one
//    (StreamDecryptor); on a mismatch or any other failure the stream is ERRORED, so the
//    browser fails the download and no complete file is ever saved.
// 3. Progress, success and failure go back on the port ({state: "progress" | "done" |
//    "failed", …}), so the chat shows them (a forgery says so).
// The response carries exactly responseHeaders(): nothing it holds is ever rendered.
import { logWarning } from "../../common/log.js";
import { fromHex, toHex } from "../../crypto/bytes.js";
import { safeFileName } from "../chat/filename.js";
import { StreamDecryptor } from "./download.js";

const SCOPE_PATH = new URL("./", self.location.href).pathname; // "/dl/"
const TOKEN_LIFETIME_MS = 60_000;
const PROGRESS_STEP = 1024 * 1024; // bytes of ciphertext between two progress messages
const jobs = new Map(); // token → {ref, port, expires}

/** The four headers of a download response (DESIGN.md §6), and no others. */
function responseHeaders(name) {
  return new Headers({
    "Content-Disposition": `attachment; filename*=UTF-8''${rfc5987(safeFileName(name))}`,
    "Content-Type": "application/octet-stream",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
  });
}

/** RFC 5987 value-chars: percent-encoding of everything but attr-char. */
function rfc5987(text) {
  return encodeURIComponent(text).replace(/['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The fields of a posted ref, checked (a malformed one is refused, never fetched). */
function checkedRef(ref) {
  const ok = ref && /^[0-9a-f]{32}$/.test(ref.uploadId) && /^[0-9a-f]{64}$/.test(ref.fileHash)
    && typeof ref.identity === "string" && ref.identity.startsWith("AGE-SECRET-KEY-")
    && Number.isSafeInteger(ref.length) && ref.length > 0 && typeof ref.name === "string";
  if (!ok) throw new TypeError("a malformed download request");
  return { uploadId: ref.uploadId, fileHash: ref.fileHash, identity: ref.identity,
    length: ref.length, name: ref.name };
}

function newToken() {
  return toHex(crypto.getRandomValues(new Uint8Array(16)));
}

function failureOf(error) {
  return { state: "failed", name: error?.name ?? "Error", code: error?.code ?? "failed",
    message: error?.message ?? String(error) };
}

self.addEventListener("install", () => self.skipWaiting());

self.addEventListener("message", (event) => {
  const [port] = event.ports;
  if (event.data?.type !== "download" || !port) return; // "keepalive": its event is enough
  const now = Date.now();
  for (const [token, job] of jobs) if (job.expires < now) jobs.delete(token);
  try {
    const token = newToken();
    jobs.set(token, { ref: checkedRef(event.data.ref), port, expires: now + TOKEN_LIFETIME_MS });
    port.postMessage({ state: "ready", token });
  } catch (error) {
    port.postMessage(failureOf(error));
  }
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith(SCOPE_PATH)) return;
  const token = url.pathname.slice(SCOPE_PATH.length);
  const job = jobs.get(token);
  jobs.delete(token); // one use
  if (!job || job.expires < Date.now() || event.request.method !== "GET") {
    event.respondWith(new Response("This download link is not valid (any more).",
      { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8",
        "X-Content-Type-Options": "nosniff" } }));
    return;
  }
  event.respondWith(respond(job));
});

/** The decrypted download of one job, or a failed response when the file cannot be had. */
async function respond({ ref, port }) {
  let upstream;
  try {
    upstream = await fetch(`/api/v1/files/${ref.uploadId}`,
      { credentials: "same-origin", cache: "no-store" });
    if (!upstream.ok) throw Object.assign(new Error(`download: HTTP ${upstream.status}`), { code: "http" });
  } catch (error) {
    port.postMessage(failureOf(error));
    return Response.error();
  }
  return new Response(decryptingStream(ref, upstream.body, port),
    { status: 200, headers: responseHeaders(ref.name) });
}

/** Stops reading the encrypted body. Cancelling a body that has already failed (the
 *  network error that ended the download) rejects with that failure: a warning, not an
 *  error, as the download's own failure is reported to the page already. */
function cancelUpstream(reader, reason) {
  reader.cancel(reason).catch(
    (error) => logWarning("download-sw", "the encrypted body was not cancelled", error));
}

/**
 * A ReadableStream of the plaintext of `body` (the age file), pulled on demand: each pull
 * reads and decrypts until some plaintext is released. Errors (forgery included) error
 * the stream, so the browser fails the download.
 */
function decryptingStream(ref, body, port) {
  const decryptor = new StreamDecryptor(ref.identity, fromHex(ref.fileHash), ref.length);
  const reader = body.getReader();
  let received = 0;
  let reported = 0;
  const fail = (controller, error) => {
    controller.error(error);
    cancelUpstream(reader, error);
    port.postMessage(failureOf(error));
  };
  return new ReadableStream({
    async pull(controller) {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            controller.enqueue(decryptor.end()); // throws FileHashError on a forgery
            controller.close();
            port.postMessage({ state: "done", received });
            return;
          }
          received += value.length;
          if (received - reported >= PROGRESS_STEP) {
            reported = received;
            port.postMessage({ state: "progress", received });
          }
          const released = await decryptor.push(value);
          for (const plaintext of released) controller.enqueue(plaintext);
          if (released.length) return;
        }
      } catch (error) {
        fail(controller, error);
      }
    },
    cancel(reason) {
      cancelUpstream(reader, reason);
      port.postMessage(failureOf(Object.assign(new Error("the download was cancelled"),
        { name: "CryptoError", code: "cancelled" })));
    },
  }, { highWaterMark: 1 });
}
