// QR codes for contact verification: drawn with the bundled @paulmillr/qr as an SVG element
// built with DOM calls (strict CSP: no HTML, no inline styles); read from an image file or
// from the camera, frame by frame, through a canvas, by ZXing (./qr-reader.js, its own
// pinned bundle, loaded the first time a code is read: Linux Chromium has no
// BarcodeDetector). The text read is only handed on: verification.js judges it.
import encodeQR from "@paulmillr/qr";

import { loadPinnedModule } from "../../common/pinned.js";

const SVG = "http://www.w3.org/2000/svg";
const QUIET_ZONE = 4; // modules of white around the code, as the QR standard asks
const MAX_SIDE = 1280; // larger pictures are scaled down first: decoding time grows with pixels
const FRAME_INTERVAL_MS = 120; // between two camera frames tried (one read takes a few ms)
const READER_API = Symbol.for("securechat.qr-reader");

/**
 * An <svg role="img"> of `text` as a QR code (byte mode, error correction level M), black
 * modules on white with a four-module quiet zone, `size` pixels wide.
 */
export function qrSvg(text, label, size = 264) {
  const rows = encodeQR(text, "raw", { ecc: "medium", encoding: "byte", border: QUIET_ZONE });
  const modules = rows.length;
  let path = "";
  rows.forEach((row, y) => row.forEach((dark, x) => {
    if (dark) path += `M${x} ${y}h1v1h-1z`;
  }));
  const svg = document.createElementNS(SVG, "svg");
  for (const [name, value] of Object.entries({ viewBox: `0 0 ${modules} ${modules}`,
    width: String(size), height: String(size), role: "img", "aria-label": label,
    "shape-rendering": "crispEdges", class: "v2-qr" })) {
    svg.setAttribute(name, value);
  }
  const background = document.createElementNS(SVG, "rect");
  for (const [name, value] of Object.entries({ width: "100%", height: "100%", fill: "#fff" })) {
    background.setAttribute(name, value);
  }
  const dark = document.createElementNS(SVG, "path");
  dark.setAttribute("d", path);
  dark.setAttribute("fill", "#000");
  svg.append(background, dark);
  return svg;
}

/** The pixels of `source` (an image, bitmap or video frame), scaled to MAX_SIDE at most. */
function pixelsOf(source, width, height) {
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(source, 0, 0, canvas.width, canvas.height);
  return context.getImageData(0, 0, canvas.width, canvas.height);
}

/**
 * The QR code reader (./qr-reader.js) of the pinned bundle `script` ({url, integrity}, the
 * page's manifest entry "v2/chat/qr-reader"), loaded on first use. Without a script (a
 * page that names none) every read fails with QrReaderUnavailable.
 */
export class QrReader {
  #script;

  constructor(script = null) {
    this.#script = script?.url ? script : null;
  }

  /** Resolves once the reader can read; rejects with QrReaderUnavailable. */
  async ready() {
    if (this.#script === null) throw new QrReaderUnavailable("this page has no QR code reader");
    try {
      return await loadPinnedModule(this.#script, READER_API);
    } catch (error) {
      throw new QrReaderUnavailable(error.message, { cause: error });
    }
  }

  /** The text of the QR code in `source` (an image, bitmap or video frame), or null. */
  async read(source, width, height) {
    const reader = await this.ready();
    return reader.read(pixelsOf(source, width, height));
  }
}

/** The QR code reader did not load (its bundle is missing, altered, or did not start). */
export class QrReaderUnavailable extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = "QrReaderUnavailable";
  }
}

/**
 * The text of the QR code in an image File, or null when it holds none; rejects with a
 * DOMException (from createImageBitmap) when the file is not an image the browser
 * decodes, and with QrReaderUnavailable when `reader` cannot read.
 */
export async function readImageFile(file, reader) {
  await reader.ready();
  const bitmap = await createImageBitmap(file);
  try {
    return await reader.read(bitmap, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

/**
 * Reads QR codes with `reader` (a QrReader) from the camera shown in `video`:
 * start(onText, onFailure) loads the reader and asks for the camera (rejects when either
 * fails: QrReaderUnavailable, or the browser's error for a camera refused or missing),
 * then calls onText(text) once, for the first code it reads, after stopping the camera,
 * or onFailure(error) if reading a frame fails, also after stopping it; stop() ends it at
 * any time.
 */
export class CameraScanner {
  #stream = null;
  #timer = null;
  #starts = 0; // a stop() while the camera is being asked for cancels that start

  constructor(video, reader) {
    this.video = video;
    this.reader = reader;
  }

  async start(onText, onFailure) {
    this.stop();
    const start = this.#starts;
    await this.reader.ready(); // before the camera: no camera light for a reader that fails
    if (start !== this.#starts) return;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: false,
      video: { facingMode: "environment" } });
    if (start !== this.#starts) { // stopped while the browser asked: release it at once
      stream.getTracks().forEach((track) => track.stop());
      return;
    }
    this.#stream = stream;
    this.video.srcObject = stream;
    try {
      await this.video.play();
    } catch (error) {
      if (this.#stream !== stream) return; // stop() during play() aborts it: not a failure
      this.stop();
      throw error;
    }
    this.#scanFrames(stream, onText, onFailure);
  }

  /** Reads a frame of `stream` every FRAME_INTERVAL_MS until one holds a code. */
  #scanFrames(stream, onText, onFailure) {
    const tick = () => {
      if (this.#stream !== stream) return; // stopped meanwhile
      this.#readFrame().then((text) => {
        if (this.#stream !== stream) return;
        if (text === null) {
          this.#timer = setTimeout(tick, FRAME_INTERVAL_MS);
          return;
        }
        this.stop();
        onText(text);
      }, (error) => {
        if (this.#stream !== stream) return;
        this.stop();
        onFailure(error);
      });
    };
    tick();
  }

  async #readFrame() {
    const { video } = this;
    if (video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA || !video.videoWidth) return null;
    return this.reader.read(video, video.videoWidth, video.videoHeight);
  }

  stop() {
    this.#starts += 1;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#stream?.getTracks().forEach((track) => track.stop());
    this.#stream = null;
    this.video.srcObject = null;
  }
}
