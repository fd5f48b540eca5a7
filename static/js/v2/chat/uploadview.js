// The chat's upload controls (issue 14), kept apart from view.js: an uploading file
// entry's progress bar, speed, time left and Cancel; pasting files into the composer
// sends them as dropping them does; and the question a logout asks while an upload runs.
// Text only through textContent; the entry's state is the engine's (entry.progress,
// entry.cancel()).
import { logFailure } from "../../common/log.js";
import { formatSize } from "./filename.js";
import { UPLOADS } from "../strings.js";

export const DISCARD_UPLOADS_QUESTION = UPLOADS.discardQuestion;

function node(tag, attributes, text = "") {
  const made = Object.assign(document.createElement(tag), attributes);
  if (text) made.textContent = text;
  return made;
}

/** "12 s left", "3 min left", "2 h left" for people; "" when unknown. */
export function formatTimeLeft(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return UPLOADS.secondsLeft(Math.ceil(seconds));
  if (seconds < 3600) return UPLOADS.minutesLeft(Math.ceil(seconds / 60));
  return UPLOADS.hoursLeft(Math.ceil(seconds / 3600));
}

/** The progress bar, "speed, time left" and a Cancel button of an uploading entry. */
export function uploadControls(item) {
  const { progress, file } = item;
  const bar = node("progress", { max: progress.total || 1, value: progress.sent });
  bar.setAttribute("aria-label", UPLOADS.uploading(file.name));
  const rate = progress.bytesPerSecond > 0
    ? [UPLOADS.perSecond(formatSize(progress.bytesPerSecond)), formatTimeLeft(progress.secondsLeft)]
      .filter(Boolean).join(", ") : "";
  const cancel = node("button", { type: "button", className: "v2-cancel-upload" }, UPLOADS.cancel);
  cancel.setAttribute("aria-label", UPLOADS.cancelLabel(file.name));
  cancel.addEventListener("click", () => item.cancel?.());
  return [bar, " ", node("span", { className: "upload-rate" }, rate), " ", cancel];
}

/** Files pasted into `target` go to `sendFiles` (text pastes as usual). */
export function bindPaste(target, sendFiles) {
  target.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files ?? [])];
    if (!files.length) return;
    event.preventDefault();
    sendFiles(files);
  });
}

/** Whether the user lets a logout cancel and delete the running uploads. */
export function confirmDiscardUploads() {
  return window.confirm(DISCARD_UPLOADS_QUESTION);
}

/** What the chat says about an upload a reload interrupted (its record is kept). */
export function interruptedText(name) {
  return UPLOADS.interrupted(name || UPLOADS.aFile);
}

function interruptedNotice(upload, uploads, dismiss) {
  const text = interruptedText(upload.name);
  const keep = node("button", { type: "button" }, UPLOADS.dismiss);
  keep.setAttribute("aria-label", UPLOADS.dismissLabel(text));
  keep.addEventListener("click", () => dismiss(upload.localId));
  const discard = node("button", { type: "button" }, UPLOADS.discard);
  discard.setAttribute("aria-label", UPLOADS.discardLabel(upload.name || UPLOADS.aFile));
  discard.addEventListener("click", () => {
    discard.disabled = true;
    uploads.discard(upload.localId).catch((error) => {
      logFailure("chat", "the interrupted upload was not discarded", error);
      discard.disabled = false;
    });
  });
  const notice = node("p", { className: "v2-upload-interrupted" });
  notice.append(text, " ", keep, " ", discard);
  return notice;
}

/**
 * Shows, at the top of `host`, a notice per upload a reload interrupted (`uploads`:
 * files/uploads.js), with Dismiss (hides it; attaching the file still continues it) and
 * Discard (deletes the partial upload on the server and its record). Kept current as
 * records go ("change").
 */
export function showInterruptedUploads(host, uploads) {
  const box = node("div", { className: "v2-upload-notices" });
  box.setAttribute("role", "status");
  host.prepend(box);
  const dismissed = new Set();
  const refresh = async () => {
    try {
      const interrupted = (await uploads.interrupted()).filter((u) => !dismissed.has(u.localId));
      box.replaceChildren(...interrupted.map((upload) => interruptedNotice(upload, uploads,
        (id) => { dismissed.add(id); refresh(); })));
    } catch (error) {
      logFailure("chat", "the interrupted uploads could not be listed", error);
    }
  };
  uploads.addEventListener("change", refresh);
  refresh();
  return refresh;
}
