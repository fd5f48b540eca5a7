// The message box (DESIGN.md §3, SPEC-v2-crypto.md): a per-message key from the epoch
// secret and a fresh salt, ChaCha20-Poly1305 with a zero nonce (the key is never reused)
// and the context as associated data. The context is built by the caller from its own
// state, never from the message.
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";

import { concat, fromUtf8, randomBytes, requireBytes, u32be, u64be, utf8 } from "./bytes.js";
import { MessageBoxError, UsageError } from "./errors.js";
import { field } from "./statement.js";

export const BOX_VERSION = 0x02;
export const BOX_MAX_BYTES = 48 * 1024;
const SALT_BYTES = 16;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + SALT_BYTES;
const BUCKETS = [256, 1024, 4096, 16384];
const LARGE_BUCKET = 16384;
const OVERHEAD = HEADER_BYTES + TAG_BYTES; // 33
// Every padded size a box of at most 48 KiB can hold (§9): 256, 1K, 4K, 16K, 32K.
export const PADDED_SIZES = Object.freeze([...BUCKETS, 2 * LARGE_BUCKET]
  .filter((size) => size + OVERHEAD <= BOX_MAX_BYTES));
const ZERO_NONCE = new Uint8Array(12);
const INFO = utf8("securechat/v2/message");

/**
 * The context bytes: field() of conversation id (16), u64 epoch, envelope hash (32),
 * u64 sender id, u64 sender generation, device id (16), u64 device counter.
 */
export function messageContext(ctx) {
  return concat(...contextFields(ctx).map(field));
}

/** The seven context values as raw field contents, in order (shared with the statement). */
export function contextFields(ctx) {
  return [
    requireBytes(ctx.conversationId, "conversation id", 16),
    u64be(ctx.epoch),
    requireBytes(ctx.envelopeHash, "envelope hash", 32),
    u64be(ctx.senderId),
    u64be(ctx.senderGeneration),
    requireBytes(ctx.deviceId, "device id", 16),
    u64be(ctx.deviceCounter),
  ];
}

/** The padded length for `length` bytes of JSON (4-byte length prefix included). */
export function paddedLength(length) {
  const needed = 4 + length;
  const bucket = BUCKETS.find((size) => size >= needed);
  return bucket ?? Math.ceil(needed / LARGE_BUCKET) * LARGE_BUCKET;
}

/** u32be(len) || json || zeros up to the bucket. */
export function pad(jsonBytes) {
  const out = new Uint8Array(paddedLength(jsonBytes.length));
  out.set(u32be(jsonBytes.length), 0);
  out.set(jsonBytes, 4);
  return out;
}

/**
 * The JSON bytes of a padded plaintext. Raises MessageBoxError("bad_padding") for a
 * length beyond the buffer, non-zero padding, or a buffer that is not the canonical
 * bucket for its length (protocol.md §14.6), in client.messagebox.unpad's order.
 */
export function unpad(padded) {
  if (padded.length < 4) throw new MessageBoxError("bad_padding", "padded plaintext too short");
  const length = new DataView(padded.buffer, padded.byteOffset, 4).getUint32(0);
  if (length > padded.length - 4) {
    throw new MessageBoxError("bad_padding", "length runs past the plaintext");
  }
  if (padded.subarray(4 + length).some((byte) => byte !== 0)) {
    throw new MessageBoxError("bad_padding", "non-zero padding");
  }
  if (paddedLength(length) !== padded.length) {
    throw new MessageBoxError("bad_padding", "padded to the wrong bucket");
  }
  return padded.slice(4, 4 + length);
}

function messageKey(epochSecret, salt, contextBytes) {
  requireBytes(epochSecret, "epoch secret", 32);
  requireBytes(salt, "box salt", SALT_BYTES);
  return hkdf(sha256, epochSecret, salt, concat(INFO, contextBytes), 32);
}

/**
 * Seals the JSON text: box = 0x02 || salt (16) || ChaCha20-Poly1305(padded, aad=context).
 * `salt` is for test vectors only; leave it out to draw a fresh one.
 * Raises UsageError (client/'s "usage") when the box would exceed 48 KiB, i.e. for
 * more than 32764 bytes of JSON.
 */
export function sealMessage({ epochSecret, context, json, salt = randomBytes(SALT_BYTES) }) {
  const contextBytes = messageContext(context);
  const padded = pad(utf8(json));
  if (HEADER_BYTES + padded.length + TAG_BYTES > BOX_MAX_BYTES) {
    throw new UsageError("the message is too large for one box (48 KiB)");
  }
  const key = messageKey(epochSecret, salt, contextBytes);
  const ct = chacha20poly1305(key, ZERO_NONCE, contextBytes).encrypt(padded);
  return concat(new Uint8Array([BOX_VERSION]), salt, ct);
}

/**
 * Raises MessageBoxError("bad_format") unless `box` is 0x02 followed by 16 + 16 bytes
 * more than one of PADDED_SIZES: the checks anyone can make without a key (§9 (a)).
 */
export function checkBox(box) {
  if (!(box instanceof Uint8Array)) throw new MessageBoxError("bad_format", "a box is bytes");
  if (!PADDED_SIZES.includes(box.length - OVERHEAD)) {
    throw new MessageBoxError("bad_format", "box size is not one a padded message can have");
  }
  if (box[0] !== BOX_VERSION) throw new MessageBoxError("bad_format", "unknown box version");
}

/**
 * Opens a box under the caller's own context and epoch secret; returns the JSON text.
 * In order (§9): bad_format (version, size), bad_tag, bad_padding, then bad_format for
 * a plaintext that is not UTF-8 (as client.messagebox.parse_plaintext). No plaintext is
 * released past a failed check.
 */
export function openMessage({ box, epochSecret, context }) {
  checkBox(box);
  const contextBytes = messageContext(context);
  const key = messageKey(epochSecret, box.subarray(1, HEADER_BYTES), contextBytes);
  let padded;
  try {
    padded = chacha20poly1305(key, ZERO_NONCE, contextBytes).decrypt(box.subarray(HEADER_BYTES));
  } catch (error) {
    throw new MessageBoxError("bad_tag", "the box does not open in this context", { cause: error });
  }
  const json = unpad(padded);
  try {
    return fromUtf8(json);
  } catch (error) {
    throw new MessageBoxError("bad_format", "the plaintext is not UTF-8", { cause: error });
  }
}

/** SHA-256(salt || ct) of a box: the box's digest in the message statement. */
export function boxDigest(box) {
  requireBytes(box, "box");
  return sha256(box.subarray(1));
}
