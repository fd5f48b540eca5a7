// Edits and unsends as the store applies them (docs/protocol.md §24 "Replies, edits,
// reactions and unsends"). An edit counts only when its sender is the sender of its
// target, a text message or reply still shown: then its text replaces the target's (the
// newest valid edit by seq wins: the engine applies items in seq order). Any other edit
// is kept as an invalid attempt the view shows, and never changes the text. An unsend
// tombstones its target: the text, every edit and every reaction are gone with it.

export const UNSEND_TYPE = "unsend";

/** {v, type: "edit", target, text}: `text` replaces the text of the message `target`. */
export function editDocument(target, text) {
  return { v: 2, type: "edit", target, text };
}

/** {v, type: "unsend", target}: takes back the message `target` (protocol.md §19). */
export function unsendDocument(target) {
  return { v: 2, type: UNSEND_TYPE, target };
}

/** True when `entry` (a shown message) may be edited by its sender. */
export function editable(entry) {
  return Boolean(entry && !entry.file && typeof entry.text === "string"
    && (entry.status === "sent" || entry.status === "received"));
}

/**
 * Applies a verified edit `doc` from `sender` at `seq` to its target in `conv`; returns
 * what the user must be told when it does not hold the target ("" otherwise).
 */
export function applyEdit(conv, sender, doc, seq) {
  const target = conv.byHash.get(doc.target);
  if (!target) return "edited a message this client does not hold";
  if (target.status === "removed") return ""; // deleted for everyone: its edits went with it
  if (target.sender !== sender || !editable(target)) {
    target.invalidEdits = [...(target.invalidEdits ?? []), { sender, seq }];
    return "";
  }
  if ((target.editSeq ?? 0) > seq) return "";
  target.originalText ??= target.text;
  target.text = doc.text;
  target.editSeq = seq;
  return "";
}

/** Makes `entry` a tombstone: nothing of what it said, its edits or reactions stays. */
export function tombstone(entry) {
  Object.assign(entry, { status: "removed", removedBy: "sender", text: null,
    originalText: null, file: null, editSeq: null, invalidEdits: [], reactions: new Map(),
    unsending: null });
}
