// Messages that act on another message (DESIGN.md §3 "Messages"; docs/protocol.md §24
// "Replies, edits, reactions and unsends"): a reply quotes its target, an edit replaces
// its target's text, a reaction marks it, an unsend takes it back. Each names its target
// by the target's message hash (64 lowercase hex digits) and nothing else of it: what a
// reply quotes is read from the original in the receiver's own store. No DOM here.
import { UNSEND_TYPE } from "./edits.js";

// Document types that change another message and take no place in the timeline.
export const ACTION_TYPES = new Set(["edit", "reaction", UNSEND_TYPE]);
// Document types whose statement kind must be the document type (the server counts and
// routes by the signed kind; a box that says otherwise is refused as a forgery).
const SIGNED_AS_TYPE = new Set(["reply", "edit", "reaction", UNSEND_TYPE]);
const HASH = /^[0-9a-f]{64}$/;

/** True when `value` is a message hash as the documents write it. */
export function isMessageHash(value) {
  return typeof value === "string" && HASH.test(value);
}

/**
 * Throws when the opened document `doc` of statement kind `kind` is not a well-formed
 * reply, edit, reaction or unsend (other types pass: their checks are elsewhere).
 */
export function checkActionDocument(doc, kind) {
  if (!SIGNED_AS_TYPE.has(doc.type) && !SIGNED_AS_TYPE.has(kind)) return;
  if (doc.type !== kind) throw new Error("the signed kind does not match the message");
  if (!isMessageHash(doc.target)) throw new Error(`a ${doc.type} without a target hash`);
  if ((doc.type === "reply" || doc.type === "edit")
    && (typeof doc.text !== "string" || !doc.text.trim())) {
    throw new Error(`a ${doc.type} without text`);
  }
  if (doc.type === "reaction" && !isReactionEmoji(doc.emoji)) {
    throw new Error("a reaction whose emoji is not a short string");
  }
}

/** A reaction's `emoji`: "" (the sender takes its reaction back) or 1 to 16 code points
 *  with no white space or control characters. */
export function isReactionEmoji(value) {
  if (typeof value !== "string") return false;
  return value === "" || ([...value].length <= 16 && !/[\s\p{Cc}]/u.test(value));
}
