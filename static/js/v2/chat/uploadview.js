// The chat's upload controls (issue 14), kept apart from view.js: an uploading file
// entry's progress bar, speed, time left and Cancel; pasting files into the composer
// sends them as dropping them does; and the question a logout asks while an upload runs.
// Text only through textContent; the entry's state is the engine's (entry.progress,
// entry.cancel()).
import { formatSize } from "./filename.js";

export const DISCARD_UPLOADS_QUESTION =
  "An upload is still in progress. Log out anyway? The upload will be cancelled and deleted.";

function node(tag, attributes, text = "") {
  const made = Object.assign(document.createElement(tag), attributes);
  if (text) made.textContent = text;
  return made;
}

/** "12 s left", "3 min left", "2 h left" for people; "" when unknown. */
export function formatTimeLeft(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return `${Math.ceil(seconds)} s left`;
  if (seconds < 3600) return `${Math.ceil(seconds / 60)} min left`;
  return `${Math.ceil(seconds / 3600)} h left`;
}

/** The progress bar, "speed, time left" and a Cancel button of an uploading entry. */
export function uploadControls(item) {
  const { progress, file } = item;
  const bar = node("progress", { max: progress.total || 1, value: progress.sent });
  bar.setAttribute("aria-label", `Uploading ${file.name}`);
  const rate = progress.bytesPerSecond > 0
    ? [`${formatSize(progress.bytesPerSecond)}/s`, formatTimeLeft(progress.secondsLeft)]
      .filter(Boolean).join(", ") : "";
  const cancel = node("button", { type: "button", className: "v2-cancel-upload" }, "Cancel");
  cancel.setAttribute("aria-label", `Cancel the upload of ${file.name}`);
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
  return `Upload of ${name || "a file"} was interrupted — choose the same file to continue`;
}

function interruptedNotice(upload, uploads, dismiss) {
  const text = interruptedText(upload.name);
  const keep = node("button", { type: "button" }, "Dismiss");
  keep.setAttribute("aria-label", `Dismiss: ${text}`);
  keep.addEventListener("click", () => dismiss(upload.localId));
  const discard = node("button", { type: "button" }, "Discard");
  discard.setAttribute("aria-label", `Discard the interrupted upload of ${upload.name || "a file"}`);
  discard.addEventListener("click", () => {
    discard.disabled = true;
    uploads.discard(upload.localId).catch((error) => {
      console.error("chat: the interrupted upload was not discarded", error);
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
      console.error("chat: the interrupted uploads could not be listed", error);
    }
  };
  uploads.addEventListener("change", refresh);
  refresh();
  return refresh;
}
