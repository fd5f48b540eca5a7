// Thumbnails of images (DESIGN.md §6 "Previews"; docs/protocol.md "File messages"): the
// sender's client makes a small JPEG or WebP (at most THUMBNAIL_MAX bytes) from its own
// file and puts it, base64, in the encrypted file message, so that the recipient shows it
// at once without downloading anything. The recipient trusts it no more than the file:
// it is sniffed (JPEG or WebP only), decoded with createImageBitmap and drawn into a
// canvas; anything else is ignored.
import { logFailure } from "../../common/log.js";
import { sniffBlob, thumbnailType } from "./sniff.js";

export const THUMBNAIL_MAX = 8 * 1024; // bytes of the encoded thumbnail
const SOURCE_MAX = 64 * 1024 * 1024; // larger images get no thumbnail (decoding costs memory)
const SIDES = [192, 144, 112, 80, 56, 40]; // the longer side, in pixels, tried in turn
const QUALITIES = [0.75, 0.55, 0.35, 0.2];
const TYPES = ["image/webp", "image/jpeg"];

function canvasOf(width, height) {
  if (typeof OffscreenCanvas === "function") return new OffscreenCanvas(width, height);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

function encode(canvas, type, quality) {
  if (canvas.convertToBlob) return canvas.convertToBlob({ type, quality });
  return new Promise((resolve) => canvas.toBlob(resolve, type, quality));
}

async function smallestFit(bitmap) {
  for (const side of SIDES) {
    const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
    const canvas = canvasOf(Math.max(1, Math.round(bitmap.width * scale)),
      Math.max(1, Math.round(bitmap.height * scale)));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    for (const type of TYPES) {
      for (const quality of QUALITIES) {
        const blob = await encode(canvas, type, quality);
        // A browser that cannot encode `type` gives PNG instead: sniffed, not believed.
        if (!blob || blob.size > THUMBNAIL_MAX) continue;
        const bytes = new Uint8Array(await blob.arrayBuffer());
        if (thumbnailType(bytes) !== null) return bytes;
      }
    }
  }
  return null;
}

/**
 * The thumbnail of `file` (a File or Blob the sender chose): a JPEG or WebP of at most
 * THUMBNAIL_MAX bytes, or null when the file is not an allowlisted image (by its own
 * first bytes), too large, or does not decode. Never throws (a failure is logged).
 */
export async function makeThumbnail(file) {
  if (!(file instanceof Blob) || file.size > SOURCE_MAX) return null;
  let bitmap = null;
  try {
    const found = await sniffBlob(file);
    if (found?.kind !== "image") return null;
    bitmap = await createImageBitmap(file);
    return await smallestFit(bitmap);
  } catch (error) {
    logFailure("thumbnail", "none made; the file is sent without one", error);
    return null;
  } finally {
    bitmap?.close();
  }
}

/**
 * Draws a received thumbnail (bytes from a file message) into a new canvas, or resolves
 * to null when the bytes are not a JPEG or WebP or do not decode (then nothing is shown).
 */
export async function thumbnailCanvas(bytes) {
  const type = bytes instanceof Uint8Array && bytes.length <= THUMBNAIL_MAX
    ? thumbnailType(bytes) : null;
  if (type === null) return null;
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes], { type }));
  } catch {
    return null; // a sender's bad thumbnail: the file itself is still there to download
  }
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
  return canvas;
}
