// The uploads of one signed-in page (issue 14): uploadFile (upload.js) with its resume
// record kept in the ResumeStore, so that an upload interrupted by a reload continues
// when the same file is attached again (DESIGN.md §6); the transfer rate and time left
// for progress; a "beforeunload" warning while any upload runs; and discardAll() for a
// logout, which terminates every partial upload on the server (tus DELETE) and deletes
// the resume records. interrupted() lists the uploads a reload left behind (for the
// chat's notice) and discard() deletes one; "change" fires when a record goes. Without a
// store (a shared computer, or IndexedDB unavailable) uploads still work, they just do
// not survive a reload. The manager owns its state (private fields, issue 18): callers
// use the methods and listen for "change".
import { logFailure } from "../../common/log.js";
import { CryptoError } from "../../crypto/errors.js";
import { fingerprintOf, ResumeStore } from "./resumestore.js";
import { terminateUpload, uploadFile } from "./upload.js";

const RATE_WINDOW_MS = 5000;

/**
 * A progress reporter: called with (sent, total), it returns {sent, total, bytesPerSecond,
 * secondsLeft} over the last few seconds (null until two samples are apart in time).
 */
export function progressRate(now = () => performance.now()) {
  const samples = [];
  return (sent, total) => {
    const at = now();
    samples.push([at, sent]);
    while (samples.length > 2 && at - samples[1][0] >= RATE_WINDOW_MS) samples.shift();
    const [since, from] = samples[0];
    const bytesPerSecond = at > since ? ((sent - from) * 1000) / (at - since) : null;
    const secondsLeft = bytesPerSecond > 0 ? (total - sent) / bytesPerSecond : null;
    return { sent, total, bytesPerSecond, secondsLeft };
  };
}

export class Uploads extends EventTarget {
  #active = new Map(); // AbortController of a running upload → Promise of its end
  #running = new Set(); // localIds of the records of the uploads running on this page
  #store; // Promise of a ResumeStore, or of null
  #upload;
  #onUnload = (event) => {
    event.preventDefault();
    event.returnValue = ""; // older Chromium shows the dialog only when it is set
  };

  /** `keep`: whether resume records are kept (not on a shared computer). */
  constructor(userId, { keep = true, upload = uploadFile, openStore = ResumeStore.open } = {}) {
    super();
    this.#upload = upload;
    this.#store = keep ? openStore(userId).catch((error) => {
      logFailure("uploads", "no resume store, uploads will not survive a reload", error);
      return null;
    }) : Promise.resolve(null);
  }

  /** Whether an upload is running. */
  get busy() {
    return this.#active.size > 0;
  }

  #track(controller, running) {
    if (running) this.#active.set(controller, running);
    else this.#active.delete(controller);
    if (running && this.#active.size === 1) addEventListener("beforeunload", this.#onUnload);
    if (!this.#active.size) removeEventListener("beforeunload", this.#onUnload);
  }

  /**
   * uploadFile (upload.js) for `file`, continuing the interrupted upload of the same file
   * when a record of it is stored. onProgress(sent, total, rate) gets progressRate()'s
   * {bytesPerSecond, secondsLeft} as `rate`; `signal` cancels (the upload is terminated
   * and its record deleted). A failed upload keeps its record: attaching the file again
   * resumes it.
   */
  async uploadFile(file, { onProgress, signal } = {}) {
    const controller = new AbortController();
    signal?.addEventListener("abort", () => controller.abort(), { once: true });
    const work = this.#run(file, controller.signal, onProgress);
    // The tracked copy only says when the upload ends; its failure is the caller's (the
    // `await work` below rethrows it), so this copy must not reject unhandled or log twice.
    this.#track(controller, work.catch(() => undefined));
    try {
      return await work;
    } finally {
      this.#track(controller, null);
    }
  }

  async #run(file, signal, onProgress) {
    const store = await this.#store;
    const fingerprint = await fingerprintOf(file);
    let previous = store ? await this.#find(store, file, fingerprint) : null;
    let current = null;
    const rate = progressRate();
    if (previous) this.#running.add(previous.localId);
    this.dispatchEvent(new Event("change"));
    try {
      const result = await this.#upload(file, { signal, resumeFrom: previous,
        onProgress: (sent, total) => onProgress?.(sent, total, rate(sent, total)),
        onResumeRecord: store && (async (record) => {
          current = record;
          if (previous && previous.localId !== record.localId) {
            await store.forget(previous.localId); // started over: that upload is terminated
            this.dispatchEvent(new Event("change"));
            previous = null;
          }
          await store.save(record, fingerprint, file.name ?? "");
          this.#running.add(record.localId);
        }) });
      await this.#forget(store, current ?? previous);
      return result;
    } catch (error) {
      if (signal.aborted) await this.#forget(store, current ?? previous);
      throw error;
    } finally {
      this.#running.delete(previous?.localId);
      this.#running.delete(current?.localId);
      this.dispatchEvent(new Event("change"));
    }
  }

  /** The uploads a reload (or a failure) interrupted, not running now: [{localId, name,
   *  size}] from the stored records; attaching the same file again continues one. */
  async interrupted() {
    const store = await this.#store;
    if (!store) return [];
    return (await store.all()).filter((record) => !this.#running.has(record.localId))
      .map((record) => ({ localId: record.localId, name: record.name,
        size: record.plaintextLength }));
  }

  /** Deletes the interrupted upload `localId`: on the server (tus DELETE) and its record. */
  async discard(localId) {
    const store = await this.#store;
    const record = store && (await store.all()).find((r) => r.localId === localId);
    if (!record || this.#running.has(localId)) return;
    if (record.uploadUrl) await terminateUpload(record.uploadUrl, await csrfToken());
    await this.#forget(store, record);
  }

  async #find(store, file, fingerprint) {
    try {
      return await store.find(file, fingerprint);
    } catch (error) {
      logFailure("uploads", "the resume records could not be read", error);
      return null;
    }
  }

  async #forget(store, record) {
    if (!store || !record?.localId) return;
    try {
      await store.forget(record.localId);
      this.dispatchEvent(new Event("change"));
    } catch (error) {
      logFailure("uploads", "a finished upload's resume record was not deleted", error);
    }
  }

  /**
   * Cancels every running upload and waits until each is terminated on the server, then
   * terminates the uploads of the stored records and deletes the records (a logout: the
   * device key that seals them dies with the session).
   */
  async discardAll() {
    const running = [...this.#active];
    for (const [controller] of running) controller.abort();
    await Promise.all(running.map(([, ended]) => ended));
    const store = await this.#store;
    if (!store) return;
    const token = await csrfToken();
    for (const record of await store.all()) {
      if (record.uploadUrl) await terminateUpload(record.uploadUrl, token);
    }
    await store.clear();
    this.dispatchEvent(new Event("change"));
  }
}

async function csrfToken() {
  const response = await fetch("/api/v1/csrf", { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw new CryptoError("http", `/api/v1/csrf: HTTP ${response.status}`);
  return (await response.json()).csrf_token;
}
