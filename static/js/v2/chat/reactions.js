// Emoji reactions (docs/protocol.md §24 "Replies, edits, reactions and unsends"): each
// member has at most one reaction per message, the newest by seq; a reaction whose emoji
// is "" takes that member's reaction back. Reactions on a deleted message are ignored.

/** The picker's emoji, in the order it shows them. */
export const REACTION_EMOJI = ["👍", "❤️", "😂", "😮", "😢", "🙏"];

/** {v, type: "reaction", target, emoji}; emoji "" removes the sender's reaction. */
export function reactionDocument(target, emoji) {
  return { v: 2, type: "reaction", target, emoji };
}

/** Applies a verified reaction `doc` from `sender` at `seq`; false when its target is
 *  not held here. */
export function applyReaction(conv, sender, doc, seq) {
  const target = conv.byHash.get(doc.target);
  if (!target) return false;
  if (target.status === "removed") return true; // deleted for everyone: nothing to mark
  target.reactions ??= new Map();
  const key = String(sender);
  if ((target.reactions.get(key)?.seq ?? 0) > seq) return true;
  if (doc.emoji === "") target.reactions.delete(key);
  else target.reactions.set(key, { emoji: doc.emoji, seq, sender });
  return true;
}

/** [{emoji, count, senders: [user id], mine}] of `entry`, in first-reaction order. */
export function reactionSummary(entry, myId) {
  const byEmoji = new Map();
  const reactions = [...(entry.reactions?.values() ?? [])].sort((a, b) => a.seq - b.seq);
  for (const { emoji, sender } of reactions) {
    const row = byEmoji.get(emoji) ?? { emoji, count: 0, senders: [], mine: false };
    row.count += 1;
    row.senders.push(sender);
    row.mine ||= sender === myId;
    byEmoji.set(emoji, row);
  }
  return [...byEmoji.values()];
}

/** The emoji `userId` reacted to `entry` with, or "". */
export function reactionOf(entry, userId) {
  return entry.reactions?.get(String(userId))?.emoji ?? "";
}
