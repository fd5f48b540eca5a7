// Client-side state: conversations (list entries) and the messages known per
// conversation, keyed by seq; own messages not yet acknowledged are kept by
// client_id until the server gives them a seq.

import { toMillis } from "./format.js";

export function memberLabel(member) {
  if (member === null || member === undefined) return "";
  if (typeof member === "string") return member;
  return member.email || member.name || `user ${member.id}`;
}

export class Store extends EventTarget {
  constructor(userId, email) {
    super();
    this.userId = Number(userId);
    this.email = email;
    this.conversations = new Map(); // id -> conversation
    this.messages = new Map(); // id -> Map(seq -> message)
    this.pending = new Map(); // id -> Map(client_id -> message)
    this.oldestLoaded = new Map(); // id -> lowest seq loaded (1 = all history)
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // --- conversations ---------------------------------------------------------
  normalizeConversation(raw) {
    const id = Number(raw.id);
    const old = this.conversations.get(id) || {};
    const members = raw.members || old.members || [];
    const others = members.filter((m) => {
      if (typeof m === "object" && m !== null) return Number(m.id) !== this.userId && m.email !== this.email;
      return m !== this.email;
    });
    const lastSeq = Math.max(Number(raw.last_seq ?? 0), old.last_seq || 0);
    return {
      ...old,
      ...raw,
      id,
      members,
      others,
      title: raw.title || others.map(memberLabel).join(", ") || old.title || "Just you",
      last_seq: lastSeq,
      unread: Number(raw.unread ?? raw.unread_count ?? old.unread ?? 0),
      last_activity: toMillis(raw.last_activity ?? raw.last_message_at ?? raw.updated_at
        ?? raw.last_sent_at) || old.last_activity || toMillis(raw.created_at),
      read_by_others: Number(raw.read_by_others ?? raw.others_read_seq ?? old.read_by_others ?? 0),
      key_changed: raw.key_change_pending !== undefined ? raw.key_change_pending.length > 0
        : Boolean(old.key_changed),
    };
  }

  setConversations(list) {
    for (const raw of list) {
      const conversation = this.normalizeConversation(raw);
      this.conversations.set(conversation.id, conversation);
    }
    this.emit("conversations");
  }

  upsertConversation(raw) {
    const conversation = this.normalizeConversation(raw);
    this.conversations.set(conversation.id, conversation);
    this.emit("conversations");
    return conversation;
  }

  conversation(id) {
    return this.conversations.get(Number(id));
  }

  sortedConversations() {
    return [...this.conversations.values()].sort(
      (a, b) => (b.last_activity || 0) - (a.last_activity || 0) || b.id - a.id);
  }

  memberName(conversationId, userId) {
    if (Number(userId) === this.userId) return "You";
    const conversation = this.conversation(conversationId);
    const member = conversation?.members.find((m) => typeof m === "object" && Number(m.id) === Number(userId));
    if (member) return memberLabel(member);
    if (conversation && conversation.others.length === 1) return memberLabel(conversation.others[0]);
    return userId === null || userId === undefined ? "Deleted account" : "Contact";
  }

  lastSeqs() {
    const since = {};
    for (const conversation of this.conversations.values()) {
      since[conversation.id] = this.maxSeq(conversation.id);
    }
    return since;
  }

  maxSeq(conversationId) {
    const id = Number(conversationId);
    const conversation = this.conversations.get(id);
    let max = conversation ? conversation.last_seq : 0;
    const map = this.messages.get(id);
    if (map) for (const seq of map.keys()) max = Math.max(max, seq);
    return max;
  }

  // --- messages --------------------------------------------------------------
  bucket(conversationId) {
    const id = Number(conversationId);
    if (!this.messages.has(id)) this.messages.set(id, new Map());
    return this.messages.get(id);
  }

  pendingBucket(conversationId) {
    const id = Number(conversationId);
    if (!this.pending.has(id)) this.pending.set(id, new Map());
    return this.pending.get(id);
  }

  normalizeMessage(raw) {
    return {
      ...raw,
      conversation: Number(raw.conversation ?? raw.conversation_id),
      seq: Number(raw.seq),
      sender: raw.sender === null || raw.sender === undefined ? null
        : Number(typeof raw.sender === "object" ? raw.sender.id : raw.sender),
      sent_at: toMillis(raw.sent_at),
      mine: Number(typeof raw.sender === "object" && raw.sender ? raw.sender.id : raw.sender)
        === this.userId,
    };
  }

  // Adds or updates a stored message; returns {message, isNew}.
  putMessage(raw) {
    const message = this.normalizeMessage(raw);
    const bucket = this.bucket(message.conversation);
    const existing = bucket.get(message.seq);
    const merged = existing ? { ...existing, ...message, text: message.text ?? existing.text } : message;
    bucket.set(message.seq, merged);
    // An own message that was pending under a client_id is now this one.
    const pending = this.pending.get(message.conversation);
    if (pending) {
      for (const [clientId, local] of pending) {
        if ((local.id && local.id === message.id) || local.seq === message.seq) {
          pending.delete(clientId);
          merged.client_id = clientId;
        }
      }
    }
    const conversation = this.conversation(message.conversation);
    if (conversation) {
      conversation.last_seq = Math.max(conversation.last_seq, message.seq);
      if (message.sent_at && message.sent_at >= (conversation.last_activity || 0)) {
        conversation.last_activity = message.sent_at;
        conversation.preview = message;
      }
    }
    return { message: merged, isNew: !existing };
  }

  addPending(conversationId, clientId, text) {
    const local = {
      conversation: Number(conversationId), client_id: clientId, text, kind: "text",
      sender: this.userId, mine: true, sent_at: Date.now(), state: "sending", seq: null,
    };
    this.pendingBucket(conversationId).set(clientId, local);
    return local;
  }

  // The server acknowledged a send: the pending message gets its id and seq.
  acknowledge(conversationId, clientId, ack) {
    const pending = this.pendingBucket(conversationId);
    const local = pending.get(clientId);
    const seq = Number(ack.seq);
    if (!local) return this.bucket(conversationId).get(seq) || null;
    pending.delete(clientId);
    const bucket = this.bucket(conversationId);
    const stored = bucket.get(seq);
    const merged = {
      ...local, ...(stored || {}), id: ack.id ?? stored?.id, seq, state: "sent",
      client_id: clientId, text: stored?.text ?? local.text,
      sent_at: stored?.sent_at || toMillis(ack.sent_at) || local.sent_at,
      signature: stored?.signature ?? "valid",
    };
    bucket.set(seq, merged);
    const conversation = this.conversation(conversationId);
    if (conversation) {
      conversation.last_seq = Math.max(conversation.last_seq, seq);
      conversation.last_activity = Math.max(conversation.last_activity || 0, merged.sent_at);
      conversation.preview = merged;
    }
    return merged;
  }

  orderedMessages(conversationId) {
    const bucket = this.bucket(conversationId);
    const stored = [...bucket.values()].sort((a, b) => a.seq - b.seq);
    const pending = [...this.pendingBucket(conversationId).values()];
    return [...stored, ...pending];
  }

  oldestSeq(conversationId) {
    if (this.oldestLoaded.get(Number(conversationId)) === 1) return 1;
    let min = Infinity;
    for (const seq of this.bucket(conversationId).keys()) min = Math.min(min, seq);
    return Number.isFinite(min) ? min : null;
  }
}
