// The PDF renderer (npm pdfjs-dist, DESIGN.md §6 "Previews"), its own pinned bundle,
// loaded by ./preview.js only when a PDF is previewed (a <script type=module integrity>
// it adds once), so pages that never show a PDF do not carry half a megabyte of it. The
// module publishes one function on globalThis[Symbol.for("securechat.pdf")]:
//   render(bytes, {port, pageCanvas, maxPages, width}) → number of pages drawn
// bytes: the decrypted, hash-checked, sniffed PDF; port: a started ./pdf-worker.js Worker;
// pageCanvas(): a new <canvas> for the next page. PDFs draw into canvases only: no text
// layer, no annotation layer, no links, no forms, no scripts (PDF.js runs none, and with
// every option that could load or evaluate something switched off).
import { getDocument, PDFWorker } from "pdfjs-dist/build/pdf.mjs";

const OPTIONS = Object.freeze({
  isEvalSupported: false, // no eval() or new Function() (the CSP forbids them anyway)
  enableXfa: false,
  useWasm: false, // no decoders fetched from a URL; the CSP would refuse them
  useWorkerFetch: false,
  disableAutoFetch: true,
  stopAtErrors: false,
  maxImageSize: 64 * 1024 * 1024,
});

async function render(bytes, { port, pageCanvas, maxPages = 20, width = 800 }) {
  const worker = new PDFWorker({ port, name: "pdf-preview" });
  const task = getDocument({ ...OPTIONS, data: bytes, worker });
  try {
    const doc = await task.promise;
    const pages = Math.min(doc.numPages, maxPages);
    for (let number = 1; number <= pages; number++) {
      const page = await doc.getPage(number);
      const unscaled = page.getViewport({ scale: 1 });
      const viewport = page.getViewport({ scale: width / unscaled.width });
      const canvas = pageCanvas();
      canvas.width = Math.ceil(viewport.width);
      canvas.height = Math.ceil(viewport.height);
      await page.render({ canvas, canvasContext: canvas.getContext("2d"), viewport }).promise;
    }
    return pages;
  } finally {
    await task.destroy();
  }
}

globalThis[Symbol.for("securechat.pdf")] = Object.freeze({ render });
