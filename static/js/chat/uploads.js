// File uploads with tus-js-client (pinned in the bundle manifest as vendor/tus): one
// progress row per file with speed and time left, cancel, and resume after a
// page reload: tus-js-client remembers each upload's URL in localStorage under
// a fingerprint of the file and conversation, so dropping or choosing the same
// file again continues from the server's committed offset.

import { getCsrfToken } from "./api.js";
import { h } from "./dom.js";
import { formatDuration, formatSize, formatSpeed } from "./format.js";

const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000];
const FINGERPRINT_PREFIX = "securechat-upload";

function tusLibrary() {
  if (!window.tus || !window.tus.Upload) throw new Error("The upload library did not load.");
  return window.tus;
}

function fingerprintOf(conversationId, file, endpoint) {
  return [FINGERPRINT_PREFIX, conversationId, file.name, file.type, file.size,
    file.lastModified, endpoint].join("|");
}

export class Uploads {
  constructor(list, interruptedNote, { endpoint, onDone }) {
    this.list = list;
    this.note = interruptedNote;
    this.endpoint = endpoint;
    this.onDone = onDone;
    this.active = new Map(); // row id -> {upload, row}
    this.counter = 0;
  }

  // Interrupted uploads of a conversation, from tus-js-client's URL storage.
  async showInterrupted(conversationId) {
    this.note.hidden = true;
    let stored;
    try {
      stored = await tusLibrary().defaultOptions.urlStorage.findAllUploads();
    } catch (error) {
      // No resumable uploads to offer; the page still works, so log and carry on.
      console.error("could not read the stored uploads", error);
      return;
    }
    const mine = stored.filter((u) => u.urlStorageKey.includes(`${FINGERPRINT_PREFIX}|${conversationId}|`)
      && ![...this.active.values()].some((a) => a.upload.url === u.uploadUrl));
    if (mine.length === 0) return;
    const names = mine.map((u) => `${u.metadata?.filename || "a file"} (${formatSize(u.size)})`);
    this.note.textContent = `Interrupted upload${mine.length > 1 ? "s" : ""}: ${names.join(", ")}. `
      + "Drop or choose the same file again to resume where it stopped.";
    this.note.hidden = false;
  }

  async add(conversationId, files) {
    for (const file of files) await this.start(conversationId, file);
  }

  async start(conversationId, file) {
    const tus = tusLibrary();
    const token = await getCsrfToken();
    this.counter += 1;
    const rowId = `upload-${this.counter}`;
    const progress = h("progress", { max: "100", value: "0", "aria-label": `Upload of ${file.name}` });
    const stats = h("span", { class: "upload-stats", "aria-live": "polite", text: "Starting…" });
    const cancel = h("button", { type: "button", class: "small secondary", text: "Cancel",
      "aria-label": `Cancel the upload of ${file.name}` });
    const row = h("li", { class: "upload", id: rowId, dataset: { state: "uploading", name: file.name } },
      h("span", { class: "upload-name", text: `${file.name} · ${formatSize(file.size)}` }),
      cancel, progress, stats);
    this.list.append(row);

    const meter = { time: performance.now(), bytes: 0, speed: 0, resumedFrom: 0 };
    const upload = new tus.Upload(file, {
      endpoint: this.endpoint,
      retryDelays: RETRY_DELAYS,
      metadata: {
        conversation: String(conversationId),
        filename: file.name,
        filetype: file.type || "application/octet-stream",
      },
      headers: { "X-CSRFToken": token },
      withCredentials: true,
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      fingerprint: (f, options) => Promise.resolve(fingerprintOf(conversationId, f, options.endpoint)),
      onProgress: (sent, total) => {
        const now = performance.now();
        const elapsed = (now - meter.time) / 1000;
        if (elapsed >= 0.5 || sent === total) {
          const instant = (sent - meter.bytes) / Math.max(elapsed, 0.001);
          meter.speed = meter.speed ? meter.speed * 0.6 + instant * 0.4 : instant;
          meter.time = now;
          meter.bytes = sent;
        }
        const percent = total ? (sent / total) * 100 : 0;
        progress.value = percent;
        row.dataset.sent = String(sent);
        const left = meter.speed > 0 ? (total - sent) / meter.speed : NaN;
        stats.textContent = [
          `${formatSize(sent)} of ${formatSize(total)} (${Math.floor(percent)}%)`,
          formatSpeed(meter.speed),
          Number.isFinite(left) ? `${formatDuration(left)} left` : "",
          meter.resumedFrom ? `resumed at ${formatSize(meter.resumedFrom)}` : "",
        ].filter(Boolean).join(" · ");
      },
      onSuccess: () => {
        row.dataset.state = "done";
        progress.value = 100;
        stats.textContent = "Sent";
        cancel.remove();
        this.active.delete(rowId);
        setTimeout(() => row.remove(), 2500);
        this.onDone?.(conversationId, file);
      },
      onError: (error) => {
        row.dataset.state = "error";
        const response = error.originalResponse;
        let detail = error.message;
        try {
          const body = response ? JSON.parse(response.getBody()) : null;
          if (body?.detail) detail = body.detail;
        } catch {
          /* not JSON */
        }
        stats.textContent = `Upload failed: ${detail}`;
        cancel.textContent = "Dismiss";
        this.active.delete(rowId);
      },
    });
    this.active.set(rowId, { upload, row });
    cancel.addEventListener("click", async () => {
      if (!this.active.has(rowId)) {
        row.remove();
        return;
      }
      this.active.delete(rowId);
      stats.textContent = "Cancelling…";
      try {
        await upload.abort(true); // terminate on the server and forget the URL
      } catch {
        /* the server may already have dropped it */
      }
      row.remove();
    });

    const previous = await upload.findPreviousUploads();
    if (previous.length > 0) {
      upload.resumeFromPreviousUpload(previous[0]);
      row.dataset.resumed = "true";
      stats.textContent = "Resuming…";
      meter.resumedFrom = -1; // set on the first progress report below
      const report = upload.options.onProgress;
      upload.options.onProgress = (sent, total) => {
        if (meter.resumedFrom === -1) {
          meter.resumedFrom = sent;
          meter.bytes = sent;
        }
        report(sent, total);
      };
    }
    upload.start();
    this.note.hidden = true;
  }

  hasActive() {
    return this.active.size > 0;
  }
}
