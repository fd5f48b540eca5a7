// The name a received file is shown and saved under. A file message's name is chosen by
// its sender, so it is untrusted: it must not climb out of the download folder, hide its
// real extension behind bidi overrides ("evil\u202Etxt.exe" shows as "evilexe.txt") or
// carry control characters into the page or the file system.

export const MAX_FILE_NAME = 150; // characters (code points)
export const FALLBACK_FILE_NAME = "file";

// C0/C1 controls (NUL included), DEL, and every bidi control (embeddings, overrides,
// isolates, the marks LRM/RLM/ALM).
const UNSAFE = /[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu;
const RESERVED = /[<>:"|?*]/g; // refused by Windows file systems
const KEEP_EXTENSION = 16; // an extension of up to this many characters survives the cap

/**
 * A safe file name for `name` (any value): unsafe characters removed, only the part after
 * the last "/" or "\" kept, leading dots and trailing dots or spaces dropped (no hidden
 * files, no "." or ".."), capped at MAX_FILE_NAME characters keeping a short extension;
 * FALLBACK_FILE_NAME when nothing is left. Pure.
 */
export function safeFileName(name) {
  if (typeof name !== "string") return FALLBACK_FILE_NAME;
  const cleaned = name.normalize("NFC").replace(UNSAFE, "").replace(RESERVED, "_");
  const base = cleaned.split(/[/\\]/).at(-1).replace(/^[\s.]+/, "").replace(/[\s.]+$/, "");
  if (!base) return FALLBACK_FILE_NAME;
  const chars = [...base];
  if (chars.length <= MAX_FILE_NAME) return base;
  const dot = base.lastIndexOf(".");
  const extension = dot > 0 ? [...base.slice(dot)] : [];
  if (extension.length > 1 && extension.length <= KEEP_EXTENSION) {
    return chars.slice(0, MAX_FILE_NAME - extension.length).join("") + extension.join("");
  }
  return chars.slice(0, MAX_FILE_NAME).join("");
}

/** "1.2 MB"-style size for people (powers of 1,000, as file managers show them). */
export function formatSize(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return "";
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
