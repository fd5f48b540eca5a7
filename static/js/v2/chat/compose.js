// How much a text message may still hold (issue 15: a counter near the limit and a clear
// refusal before sending). The limit is the message box's: the plaintext document
// {"v": 2, "type": "text", "text": …} as UTF-8 JSON must fit the largest padded size
// (static/js/crypto/messagebox.js), less its 4-byte length prefix.
import { PADDED_SIZES } from "../../crypto/messagebox.js";
import { COMPOSER } from "../strings.js";

const MAX_JSON_BYTES = Math.max(...PADDED_SIZES) - 4;
// Show the counter once less than this share of the room is left.
const COUNTER_FROM = 0.2;
const encoder = new TextEncoder();

/** Bytes left for `text` (negative: over the limit by that many). */
export function bytesLeft(text) {
  const json = JSON.stringify({ v: 2, type: "text", text });
  return MAX_JSON_BYTES - encoder.encode(json).length;
}

/** {show, over, text} for the composer's counter. */
export function counterState(text) {
  const left = bytesLeft(text);
  const show = left < MAX_JSON_BYTES * COUNTER_FROM;
  return { show, over: left < 0,
    text: left < 0 ? COMPOSER.over(-left) : COMPOSER.left(left) };
}
