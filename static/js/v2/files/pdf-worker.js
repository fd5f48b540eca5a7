// PDF.js's worker (npm pdfjs-dist), as its own pinned bundle (tools/bundle.mjs): the page
// starts it as it starts every worker (crypto/worker-start.js: fetched with integrity, run
// from a blob: URL), and hands it to ./pdf-render.js. It parses the PDF; it gets the bytes
// of one file the recipient chose to preview and nothing else (no network: every fetch
// option is off).
import "pdfjs-dist/build/pdf.worker.mjs";
