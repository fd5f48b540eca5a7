// Byte helpers shared by the crypto modules. Inputs are checked, never coerced: a
// string where bytes belong is a programming error reported as UsageError.
import { base64urlnopad, hex } from "@scure/base";

import { UsageError } from "./errors.js";

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * UTF-8 bytes of a string. A lone surrogate is refused (protocol.md conventions), where
 * TextEncoder would silently write U+FFFD and give bytes the Python client never makes.
 */
export function utf8(text) {
  if (typeof text !== "string") throw new UsageError("expected a string");
  if (!text.isWellFormed()) throw new UsageError("the text holds a lone surrogate");
  return encoder.encode(text);
}

/** The string of UTF-8 bytes; invalid UTF-8 raises UsageError. */
export function fromUtf8(bytes) {
  try {
    return strictDecoder.decode(bytes);
  } catch (error) {
    throw new UsageError("invalid UTF-8", { cause: error });
  }
}

/** Bytes of a lowercase or uppercase hex string. */
export function fromHex(text) {
  if (typeof text !== "string") throw new UsageError("hex must be a string");
  try {
    return hex.decode(text.toLowerCase());
  } catch (error) {
    throw new UsageError("invalid hex", { cause: error });
  }
}

/** Lowercase hex of bytes. */
export function toHex(bytes) {
  return hex.encode(requireBytes(bytes, "bytes"));
}

/** Unpadded base64url (RFC 4648 §5), as the age scrypt passphrase uses it. */
export function base64url(bytes) {
  return base64urlnopad.encode(requireBytes(bytes, "bytes"));
}

/** Concatenation of byte arrays. */
export function concat(...parts) {
  const total = parts.reduce((sum, part) => sum + requireBytes(part, "part").length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** 4-byte big-endian unsigned integer. */
export function u32be(value) {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new UsageError("u32 out of range");
  }
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

/** 2-byte big-endian unsigned integer. */
export function u16be(value) {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new UsageError("u16 out of range");
  }
  return new Uint8Array([value >> 8, value & 0xff]);
}

/** 8-byte big-endian unsigned integer from a safe integer or a BigInt. */
export function u64be(value) {
  const big = typeof value === "bigint" ? value : Number.isSafeInteger(value) ? BigInt(value) : -1n;
  if (big < 0n || big > 0xffffffffffffffffn) throw new UsageError("u64 out of range");
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, big);
  return out;
}

/** Reads a u64 big-endian field back (a BigInt); exactly 8 bytes. */
export function readU64(bytes) {
  requireBytes(bytes, "u64", 8);
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0);
}

/**
 * Returns `value` if it is a Uint8Array (of `length` bytes when given), else raises
 * UsageError naming `what`.
 */
export function requireBytes(value, what, length = undefined) {
  if (!(value instanceof Uint8Array)) throw new UsageError(`${what} must be bytes`);
  if (length !== undefined && value.length !== length) {
    throw new UsageError(`${what} must be ${length} bytes, not ${value.length}`);
  }
  return value;
}

/** Equality of two byte arrays in time independent of where they differ. */
export function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** `length` bytes from the platform's CSPRNG (the one randomness seam of the module). */
export function randomBytes(length) {
  return crypto.getRandomValues(new Uint8Array(length));
}

/**
 * JSON.parse with every non-negative integer as a BigInt, read from its source text where
 * the engine gives it (so u64 values above 2^53 keep every digit). An engine without
 * source access (Firefox before 135, Safari 17) gives BigInt of the parsed number: exact
 * below 2^53; above, the caller's canonical re-encoding differs and refuses the text.
 * Other numbers stay numbers. Throws SyntaxError for text that is not JSON.
 */
export function parseJsonBigInts(text) {
  return JSON.parse(text, (key, value, context) => {
    if (typeof value !== "number") return value;
    if (context?.source !== undefined) {
      return /^\d+$/.test(context.source) ? BigInt(context.source) : value;
    }
    return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : value;
  });
}
