// The chat's preview panel and file thumbnails (DESIGN.md §6 "Previews"; the decisions are
// static/js/v2/files/preview.js's and sniff.js's, the state the engine's `preview`).
// Images, audio and video appear only as <img>, <audio controls>, <video controls> whose
// src is an object URL of the sniffed, re-typed Blob; PDFs as canvases PDF.js drew; no
// blob: URL is ever put in a frame, a link or the address bar, and the object URL is
// revoked when the preview closes. A sender's thumbnail is drawn into a canvas from its
// sniffed bytes, at once, without a click.
import { logFailure } from "../../common/log.js";
import { formatSize } from "./filename.js";
import { PREVIEWS as TEXT } from "../strings.js";


function node(tag, attributes = {}, text = null) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== null) element.textContent = text;
  return element;
}

/** Thumbnails of file entries, drawn once per entry and reused by every render. */
export class Thumbnails {
  #nodes = new WeakMap();

  constructor(engine) {
    this.engine = engine;
  }

  /** The thumbnail node of a file entry with a `thumbnail` (hidden until it is drawn), or
   *  null (none, or one that is not a JPEG or WebP or does not decode). */
  nodeFor(item) {
    if (!item.file?.thumbnail) return null;
    let holder = this.#nodes.get(item);
    if (!holder) {
      holder = node("span", { class: "v2-thumbnail", role: "img",
        "aria-label": TEXT.thumbnail(item.file.name) });
      holder.hidden = true;
      this.#nodes.set(item, holder);
      this.engine.files.thumbnailCanvas(item.file.thumbnail).then((canvas) => {
        if (canvas === null) {
          this.#nodes.set(item, null);
          holder.remove();
          return;
        }
        holder.append(canvas);
        holder.hidden = false;
      }).catch((error) => logFailure("v2 chat", "a thumbnail failed", error));
    }
    return holder;
  }

  /** Drops the drawn thumbnail of `item` (deleted for everyone: no pixels of it stay). */
  forget(item) {
    this.#nodes.get(item)?.remove();
    this.#nodes.delete(item);
  }
}

/** The one preview panel of the conversation view (engine.preview, or hidden). */
export class PreviewPanel {
  #shown = null; // the engine.preview object the panel shows
  #url = null;

  constructor(engine) {
    this.engine = engine;
    this.title = node("h3", { id: "v2-preview-title" });
    this.body = node("div", { class: "v2-preview-body" });
    const close = node("button", { type: "button", class: "v2-preview-close" }, TEXT.close);
    close.addEventListener("click", () => engine.closePreview());
    this.element = node("section", { class: "v2-preview", "aria-labelledby": "v2-preview-title" });
    this.element.hidden = true;
    this.element.append(this.title, close, this.body);
  }

  render() {
    const preview = this.engine.preview;
    this.element.hidden = !preview || preview.conversation !== this.engine.openId;
    if (preview === this.#shown && preview?.state === this.element.dataset.state) return;
    this.#clear();
    this.#shown = preview;
    if (!preview) return;
    this.element.dataset.state = preview.state;
    this.title.textContent = TEXT.previewOf(preview.entry.file.name);
    if (preview.state !== "open") {
      const text = preview.state === "too-large" ? TEXT.tooLarge(formatSize(this.engine.files.previewMaxBytes?.()))
        : TEXT[preview.state];
      this.body.replaceChildren(node("p", { class: `v2-preview-${preview.state}`,
        role: preview.state === "opening" ? "status" : "alert" }, text));
      return;
    }
    this.element.dataset.kind = preview.kind;
    if (preview.kind === "pdf") this.#pdf(preview);
    else this.#media(preview);
  }

  #media(preview) {
    this.#url = URL.createObjectURL(preview.blob);
    const label = TEXT.previewOf(preview.entry.file.name);
    const media = preview.kind === "image" ? node("img", { alt: label })
      : node(preview.kind, { controls: "", preload: "metadata", "aria-label": label });
    media.src = this.#url;
    this.body.replaceChildren(media);
  }

  #pdf(preview) {
    const pages = node("div", { class: "v2-preview-pages" });
    this.body.replaceChildren(pages);
    this.engine.files.renderPdf(preview.blob, () => {
      const canvas = node("canvas", { "aria-label": TEXT.page(pages.childElementCount + 1) });
      pages.append(canvas);
      return canvas;
    }).then((count) => {
      pages.dataset.pages = String(count);
    }).catch((error) => {
      logFailure("v2 chat", "a PDF preview failed", error);
      if (this.#shown === preview) {
        this.body.replaceChildren(node("p", { role: "alert" }, TEXT.pdfFailed));
      }
    });
  }

  #clear() {
    if (this.#url) URL.revokeObjectURL(this.#url);
    this.#url = null;
    delete this.element.dataset.state;
    delete this.element.dataset.kind;
    this.body.replaceChildren();
  }
}
