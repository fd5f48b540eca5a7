// QR codes for contact verification, with the bundled @paulmillr/qr (Linux Chromium has no
// BarcodeDetector): an SVG element built with DOM calls (strict CSP: no HTML, no inline
// styles), and reading a code from an image file or from the camera, frame by frame,
// through a canvas. The text read is only handed on: verification.js judges it.
import encodeQR from "@paulmillr/qr";
import decodeQR from "@paulmillr/qr/decode.js";

const SVG = "http://www.w3.org/2000/svg";
const QUIET_ZONE = 4; // modules of white around the code, as the QR standard asks
const MAX_SIDE = 1280; // larger pictures are scaled down first: decoding time grows with pixels
const FRAME_INTERVAL_MS = 120; // between two camera frames tried (one decode may take ~100 ms)

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

/** The text of the QR code in `image` ({width, height, data} RGBA), or null for none. */
function decodePixels(image) {
  try {
    return decodeQR(image);
  } catch {
    // The decoder throws for "no code found" (no finder patterns, unreadable bits): for a
    // camera that is most frames, and for a picture it is the answer, not a failure.
    return null;
  }
}

/**
 * The text of the QR code in an image File, or null when it holds none; rejects (a
 * DOMException from createImageBitmap) when the file is not an image the browser decodes.
 */
export async function readImageFile(file) {
  const bitmap = await createImageBitmap(file);
  try {
    return decodePixels(pixelsOf(bitmap, bitmap.width, bitmap.height));
  } finally {
    bitmap.close();
  }
}

/**
 * Reads QR codes from the camera shown in `video`: start(onText) asks for the camera
 * (rejects when it is refused or missing) and calls onText(text) once, for the first
 * code it reads, after stopping the camera; stop() ends it at any time.
 */
export class CameraScanner {
  #stream = null;
  #timer = null;
  #starts = 0; // a stop() while the camera is being asked for cancels that start

  constructor(video) {
    this.video = video;
  }

  async start(onText) {
    this.stop();
    const start = this.#starts;
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
    const tick = () => {
      if (this.#stream !== stream) return; // stopped meanwhile
      const text = this.#readFrame();
      if (text === null) {
        this.#timer = setTimeout(tick, FRAME_INTERVAL_MS);
        return;
      }
      this.stop();
      onText(text);
    };
    tick();
  }

  #readFrame() {
    const { video } = this;
    if (video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA || !video.videoWidth) return null;
    return decodePixels(pixelsOf(video, video.videoWidth, video.videoHeight));
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
