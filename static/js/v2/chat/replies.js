// Replies (docs/protocol.md §24 "Replies, edits, reactions and unsends"): a reply carries
// its text and its original's message hash, never a copy of the original; the quote is
// rendered from the original in this client's store, so it follows the original's edits
// and turns into "Deleted message" once the original is deleted for everyone.

export const QUOTE_CHARS = 80;

/** {v, type: "reply", target, text}: a text message quoting the message `target`. */
export function replyDocument(target, text) {
  return { v: 2, type: "reply", target, text };
}

/** A one-line snippet of `text`, at most QUOTE_CHARS characters. */
export function snippetOf(text) {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > QUOTE_CHARS ? `${line.slice(0, QUOTE_CHARS)}…` : line;
}

/**
 * What the quote of reply `entry` shows: {state: "shown", sender, seq, text} for an
 * original held here, "deleted" (deleted for everyone or removed), "unreadable" (failed
 * verification) or "missing" (not in this client's history).
 */
export function quoteOf(conv, entry) {
  const original = conv.byHash.get(entry.replyTo);
  if (!original) return { state: "missing" };
  if (original.status === "removed") return { state: "deleted", seq: original.seq };
  if (typeof original.text !== "string" || original.status === "failed") {
    return { state: "unreadable", seq: original.seq };
  }
  return { state: "shown", sender: original.sender, seq: original.seq,
    text: snippetOf(original.text) };
}
