// Base64 forms the v2 API uses: unpadded base64url for keys and salts, standard base64
// for age files (docs/api.md). Decoding is strict: a non-canonical form is refused.

/** Unpadded base64url of bytes. */
export function toBase64url(bytes) {
  return toBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Standard padded base64 of bytes. */
export function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Bytes of standard base64; TypeError for anything else. */
export function fromBase64(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
    throw new TypeError("not base64");
  }
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** Bytes of canonical unpadded base64url, of exactly `length` bytes when given. */
export function fromBase64url(text, length = undefined) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text)) {
    throw new TypeError("not base64url");
  }
  const padded = text.replaceAll("-", "+").replaceAll("_", "/")
    + "=".repeat((4 - (text.length % 4)) % 4);
  const bytes = fromBase64(padded);
  if (toBase64url(bytes) !== text || (length !== undefined && bytes.length !== length)) {
    throw new TypeError("not canonical base64url of the expected length");
  }
  return bytes;
}
