// Previews of received files (DESIGN.md §6 "Previews"; docs/security.md "Previews"):
//   setPreviewConfig({previewMax, pdfRenderer, pdfWorker})  once, from the shell's config
//   previewAllowed(file)         false for files over previewMax (never decrypted to show)
//   previewOf(blob)              → {kind, type, blob} | null: the decrypted, hash-checked
//                                  file typed from its own first bytes (./sniff.js)
//   renderPdf(blob, pageCanvas)  draws the pages of a PDF into canvases
// What may be shown is decided only here: images, audio and video from a Blob whose type
// is the sniffed one (the view puts it in <img>, <audio>, <video>, nothing else); PDFs
// drawn by the bundled PDF.js into canvases; everything else is download-only. No blob:
// URL is ever framed or navigated to.
import { loadPinnedModule } from "../../common/pinned.js";
import { startWorker } from "../../crypto/worker-start.js";
import { chunkCount, TAG_SIZE } from "./agewriter.js";
import { sniffBlob } from "./sniff.js";

export const DEFAULT_PREVIEW_MAX = 64 * 1024 * 1024;
const MAX_HEADER = 64 * 1024;
const PDF_API = Symbol.for("securechat.pdf");
let config = { previewMax: DEFAULT_PREVIEW_MAX, pdfRenderer: null, pdfWorker: null };

/** The deployment's preview settings (the shell's config JSON "files"). */
export function setPreviewConfig({ previewMax, pdfRenderer = null, pdfWorker = null } = {}) {
  config = { previewMax: Number.isSafeInteger(previewMax) ? previewMax : DEFAULT_PREVIEW_MAX,
    pdfRenderer, pdfWorker };
}

/** The largest plaintext previewed, in bytes. */
export function previewMaxBytes() {
  return config.previewMax;
}

/**
 * Whether a file entry ({size, length} of its message) may be decrypted for a preview:
 * its plaintext at most previewMax bytes. `length` bounds what the download accepts, so
 * a sender who understates `size` still cannot make the page hold more.
 */
export function previewAllowed(file) {
  const max = config.previewMax;
  const maxLength = MAX_HEADER + 16 + max + chunkCount(max) * TAG_SIZE;
  return Number.isSafeInteger(file?.size) && file.size <= max && file.length <= maxLength;
}

/**
 * The preview of a decrypted file: {kind: "image" | "video" | "audio" | "pdf", type, blob}
 * with `blob` re-typed to the sniffed type, or null (download-only). PDFs need the
 * renderer's bundles; without them they are download-only too.
 */
export async function previewOf(blob) {
  const found = await sniffBlob(blob);
  if (found === null) return null;
  if (found.kind === "pdf" && (config.pdfRenderer === null || config.pdfWorker === null)) {
    return null;
  }
  return { ...found, blob: new Blob([blob], { type: found.type }) };
}

/**
 * Draws the pages of the PDF `blob` (a previewOf() result's) into canvases made by
 * `pageCanvas()`, in a fresh PDF.js worker that ends with the rendering; resolves to the
 * number of pages drawn.
 */
export async function renderPdf(blob, pageCanvas, { maxPages = 20 } = {}) {
  const api = await loadPinnedModule(config.pdfRenderer, PDF_API);
  const worker = await startWorker(config.pdfWorker.url, config.pdfWorker.integrity,
    { name: "pdf-preview" });
  try {
    const bytes = new Uint8Array(await blob.arrayBuffer());
    return await api.render(bytes, { port: worker, pageCanvas, maxPages });
  } finally {
    worker.terminate();
  }
}
