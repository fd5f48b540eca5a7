// Receipts of one's own messages, from the members' stored read positions (the server
// keeps one per member and returns them with the conversation list, so receipts survive
// a reload and show on every device; `read2` frames move them live). Only members of
// the verified chain count: a member the server inserted without a signed add never does.
import { RECEIPTS } from "../strings.js";

const STATE_TEXT = RECEIPTS.state;

/**
 * "Sending…" ("Waiting to send" while offline), "Sent", "Read" (a direct conversation whose peer read it), "Read by n of m"
 * (a group: n of the m other members), "Failed" for own message `item` of `conv`.
 */
export function receiptText(engine, conv, item) {
  const offline = !engine.online || globalThis.navigator?.onLine === false;
  if (item.status === "sending" && offline) return RECEIPTS.waiting;
  if (item.status !== "sent" || item.seq === null) return STATE_TEXT[item.status] ?? "";
  const others = engine.members(conv.id).members.filter((m) => m.id !== engine.me.id);
  const read = others.filter((m) => (conv.readPositions[String(m.id)] ?? 0) >= item.seq);
  if (!read.length || !engine.privacy.readReceipts) return RECEIPTS.sent; // none shown when off
  if (conv.kind === "direct") return RECEIPTS.read;
  return RECEIPTS.readBy(read.length, others.length);
}
