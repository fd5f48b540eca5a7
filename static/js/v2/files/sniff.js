// What a decrypted file is, from its first bytes only (DESIGN.md §6 "Previews"): the
// sender's type is a hint, never trusted. The allowlist is closed: PNG, JPEG, GIF, WebP;
// MP4, WebM; MP3, Ogg, WAV; PDF. Everything else (SVG, HTML, XML, scripts, unknown) is
// download-only. The type a preview uses is this module's, never the message's.

export const SNIFF_BYTES = 64; // how many first bytes sniff() looks at

const ascii = (bytes, start, text) =>
  [...text].every((c, i) => bytes[start + i] === c.charCodeAt(0));
const starts = (bytes, signature) => signature.every((b, i) => bytes[i] === b);
// ISO base media brands that are MP4 video or audio (not HEIF/AVIF images, not QuickTime).
const MP4_BRANDS = new Set(["isom", "iso2", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1",
  "dash", "M4V ", "M4A ", "mmp4", "MSNV"]);

function mp4(bytes) {
  if (!ascii(bytes, 4, "ftyp")) return false;
  const brand = String.fromCharCode(...bytes.subarray(8, 12));
  return MP4_BRANDS.has(brand);
}

function webm(bytes) {
  if (!starts(bytes, [0x1a, 0x45, 0xdf, 0xa3])) return false;
  for (let i = 4; i + 4 <= bytes.length; i++) if (ascii(bytes, i, "webm")) return true;
  return false;
}

function mp3(bytes) {
  if (ascii(bytes, 0, "ID3")) return true;
  // An MPEG audio frame header: 11 sync bits, a version that is not "reserved" (01) and a
  // layer that is not "reserved" (00).
  return bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0 && (bytes[1] & 0x18) !== 0x08
    && (bytes[1] & 0x06) !== 0;
}

// [kind, type, test] in the order they are tried; each test reads only `bytes`.
const RULES = [
  ["image", "image/png", (b) => starts(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])],
  ["image", "image/jpeg", (b) => starts(b, [0xff, 0xd8, 0xff])],
  ["image", "image/gif", (b) => ascii(b, 0, "GIF87a") || ascii(b, 0, "GIF89a")],
  ["image", "image/webp", (b) => ascii(b, 0, "RIFF") && ascii(b, 8, "WEBP")],
  ["video", "video/mp4", mp4],
  ["video", "video/webm", webm],
  ["audio", "audio/wav", (b) => ascii(b, 0, "RIFF") && ascii(b, 8, "WAVE")],
  ["audio", "audio/ogg", (b) => ascii(b, 0, "OggS")],
  ["audio", "audio/mpeg", mp3],
  ["pdf", "application/pdf", (b) => ascii(b, 0, "%PDF-")],
];

/**
 * {kind: "image" | "video" | "audio" | "pdf", type} for the first bytes of a file (a
 * Uint8Array of up to SNIFF_BYTES), or null: not on the allowlist, download-only. Pure.
 */
export function sniff(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.length < 4) return null;
  const head = bytes.subarray(0, SNIFF_BYTES);
  for (const [kind, type, test] of RULES) if (test(head)) return { kind, type };
  return null;
}

/** sniff() of a Blob's first bytes. */
export async function sniffBlob(blob) {
  return sniff(new Uint8Array(await blob.slice(0, SNIFF_BYTES).arrayBuffer()));
}

/** Only these may be a sender's thumbnail (decoded with createImageBitmap, shown in <img>). */
export function thumbnailType(bytes) {
  const found = sniff(bytes);
  return found && (found.type === "image/jpeg" || found.type === "image/webp") ? found.type : null;
}
