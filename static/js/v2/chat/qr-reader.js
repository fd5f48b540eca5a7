// The QR code reader: npm zxing-wasm, ZXing-C++'s reader compiled to WebAssembly, as its
// own pinned bundle with the WebAssembly inside it (tools/bundle.mjs embeds .wasm
// imports), loaded by ./qr.js the first time a code is scanned, so pages that never scan
// do not carry its megabyte. It publishes on globalThis[Symbol.for("securechat.qr-reader")]:
//   read(image) → Promise<string | null>: the text of the QR code in `image` (ImageData,
//   RGBA pixels), or null when it holds none.
// Why not @paulmillr/qr's decoder (which still draws the codes, ./qr.js): on clean,
// computer-drawn frames it misread about 1 random safety code in 80 at every scale tried
// ("invalid version pattern"), so some pairs of contacts could never scan each other;
// ZXing read all of 1,200 such frames, in about 2 ms each instead of about 100.
import { prepareZXingModule, readBarcodes } from "zxing-wasm/reader";
import wasmBinary from "zxing-wasm/reader/zxing_reader.wasm";

// The bundled bytes: the module's default would fetch them from a CDN (and the CSP
// would refuse it).
prepareZXingModule({ overrides: { wasmBinary } });

const OPTIONS = Object.freeze({
  formats: ["QRCode"],
  maxNumberOfSymbols: 1,
  textMode: "Plain",
  tryHarder: true, // camera frames are blurred, tilted and unevenly lit
});

async function read(image) {
  const [found] = await readBarcodes(image, OPTIONS);
  return found?.isValid ? found.text : null;
}

globalThis[Symbol.for("securechat.qr-reader")] = Object.freeze({ read });
