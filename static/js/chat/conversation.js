// The open conversation: messages (sender, time, delivery state, signature
// warnings, unsend), history loading on scroll up, the typing indicator, the
// composer, the fingerprint panel and the blocking key-change notice.

import { $, h } from "./dom.js";
import { fingerprintGroups, formatFullTime, formatSize, formatTime } from "./format.js";

const TYPING_SEND_EVERY_MS = 3000;
const TYPING_SHOW_MS = 6000;
const NEAR_BOTTOM_PX = 120;
const LOAD_OLDER_PX = 150;

function messageKey(message) {
  return message.seq ? `s${message.seq}` : `c${message.client_id}`;
}

export class ConversationView {
  constructor(store, handlers) {
    this.store = store;
    this.handlers = handlers; // {send, retry, unsend, loadOlder, typing, acceptKey, back}
    this.id = null;
    this.elements = new Map(); // key -> li
    this.typingTimers = new Map();
    this.typingNames = new Map();
    this.lastTypingSent = 0;
    this.loadingOlder = false;
    this.root = $("conversation");
    this.list = $("messages");
    this.scroller = $("message-scroller");
    this.textarea = $("composer-text");
    this.composer = $("composer");
    this.note = $("composer-note");
    this.bind();
  }

  bind() {
    this.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.textarea.addEventListener("input", () => {
      this.autosize();
      const now = Date.now();
      const every = this.submittedSinceTyping ? 1100 : TYPING_SEND_EVERY_MS;
      if (this.id && this.textarea.value && now - this.lastTypingSent > every) {
        this.submittedSinceTyping = false;
        this.lastTypingSent = now;
        this.handlers.typing(this.id);
      }
    });
    this.scroller.addEventListener("scroll", () => {
      if (this.scroller.scrollTop < LOAD_OLDER_PX) this.loadOlder();
    }, { passive: true });
    $("toggle-fingerprint").addEventListener("click", () => {
      const panel = $("fingerprint-panel");
      panel.hidden = !panel.hidden;
      $("toggle-fingerprint").setAttribute("aria-expanded", String(!panel.hidden));
    });
    $("accept-key").addEventListener("click", () => this.handlers.acceptKey(this.id));
    $("back-to-list").addEventListener("click", () => this.handlers.back());
  }

  autosize() {
    this.textarea.rows = Math.min(6, Math.max(1, this.textarea.value.split("\n").length));
  }

  submit() {
    const text = this.textarea.value;
    if (!this.id || !text.trim() || this.blocked) return;
    this.textarea.value = "";
    this.autosize();
    // The next keystroke may announce typing again soon (the server relays at most one a second).
    this.submittedSinceTyping = true;
    this.handlers.send(this.id, text);
  }

  // --- opening and rendering ---------------------------------------------------
  open(conversation) {
    this.id = conversation.id;
    this.elements.clear();
    this.list.replaceChildren();
    this.root.hidden = false;
    $("chat-placeholder").hidden = true;
    $("fingerprint-panel").hidden = true;
    $("toggle-fingerprint").setAttribute("aria-expanded", "false");
    $("typing-indicator").textContent = "";
    $("history-status").textContent = "";
    this.note.hidden = true;
    this.updateHeader(conversation);
    for (const message of this.store.orderedMessages(this.id)) this.upsert(message, { stick: false });
    this.scrollToBottom();
  }

  close() {
    this.id = null;
    this.root.hidden = true;
    $("chat-placeholder").hidden = false;
  }

  updateHeader(conversation) {
    $("conversation-title").textContent = conversation.title;
    $("fingerprint-contact").textContent = conversation.title;
    const contact = conversation.others.find((m) => typeof m === "object") || {};
    const fingerprint = conversation.contact_fingerprint ?? contact.fingerprint;
    this.fillFingerprint($("contact-fingerprint"), fingerprint, "Not available yet.");
    this.fillFingerprint($("own-fingerprint"), this.store.ownFingerprint, "");
    this.setKeyChange(conversation);
  }

  fillFingerprint(element, fingerprint, fallback) {
    const groups = fingerprintGroups(fingerprint);
    element.replaceChildren(...(groups.length ? groups.map((g) => h("span", { text: g }))
      : [document.createTextNode(fallback)]));
  }

  setKeyChange(conversation) {
    const changed = Boolean(conversation.key_changed);
    this.blocked = changed;
    const panel = $("key-change");
    panel.hidden = !changed;
    if (changed) {
      $("key-change-contact").textContent = conversation.key_change_contact || conversation.title;
      this.fillFingerprint($("key-change-fingerprint"), conversation.key_change_fingerprint,
        "Loading the new fingerprint…");
    }
    this.textarea.disabled = changed;
    $("send-button").disabled = changed;
    $("file-input").disabled = changed;
    this.textarea.placeholder = changed ? "Accept the new keys to send messages"
      : "Write a message…";
    if (changed && this.id === conversation.id && !panel.contains(document.activeElement)) {
      $("accept-key").focus({ preventScroll: true });
    }
  }

  showNote(text) {
    this.note.textContent = text;
    this.note.hidden = !text;
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  deliveryState(message) {
    if (!message.mine) return null;
    if (message.deleted) return null;
    if (!message.seq) return message.state === "failed" ? "failed" : "sending";
    const conversation = this.store.conversation(message.conversation);
    if (conversation && conversation.read_by_others >= message.seq) return "read";
    return "sent";
  }

  renderBody(message) {
    if (message.deleted) {
      return h("div", { class: "bubble", text: message.mine ? "You unsent a message" : "Message unsent" });
    }
    if (message.signature === "invalid") {
      return h("div", { class: "bubble", role: "note" },
        h("span", { class: "signature-warning", text: "⚠ Signature check failed. " }),
        "This message may have been altered or forged; its content is hidden.");
    }
    if (message.unreadable) {
      return h("div", { class: "bubble", role: "note",
        text: "This message can't be read with your current keys (they were reset without the recovery code)." });
    }
    if (message.kind === "file") {
      const file = message.file || {};
      const link = h("a", {
        class: "file-name", href: `/api/v1/files/${encodeURIComponent(file.id || message.id)}`,
        download: file.name || "", text: file.name || "File",
      });
      return h("div", { class: "bubble file-card" }, link,
        h("span", { class: "file-size", text: formatSize(file.size) }));
    }
    return h("div", { class: "bubble", text: message.text ?? "" });
  }

  renderMessage(message) {
    const state = this.deliveryState(message);
    const classes = ["message"];
    if (message.mine) classes.push("mine");
    if (message.deleted) classes.push("deleted");
    if (message.signature === "invalid") classes.push("bad-signature");
    if (message.signature === "unverified") classes.push("unverified");
    const sender = this.store.memberName(message.conversation, message.sender);
    const meta = h("div", { class: "meta" },
      h("span", { class: "sender", text: sender }),
      h("time", {
        datetime: message.sent_at ? new Date(message.sent_at).toISOString() : null,
        title: formatFullTime(message.sent_at), text: formatTime(message.sent_at),
      }),
      message.signature === "unverified"
        ? h("span", { class: "unverified-note", text: "key not yet accepted" }) : null,
      state ? h("span", {
        class: "state", dataset: { state },
        text: { sending: "Sending…", sent: "Sent", read: "Read", failed: "Not sent" }[state],
      }) : null,
      state === "failed" && !this.blocked ? h("button", {
        type: "button", class: "link-button unsend", text: "Retry",
        "aria-label": "Send this message again",
        on: { click: () => this.handlers.retry(message) },
      }) : null,
      message.mine && message.seq && !message.deleted ? h("button", {
        type: "button", class: "link-button unsend", text: "Unsend",
        "aria-label": `Unsend your message from ${formatTime(message.sent_at)}`,
        on: { click: () => this.handlers.unsend(message) },
      }) : null);
    return h("li", {
      class: classes.join(" "),
      dataset: {
        seq: message.seq ?? "", clientId: message.client_id ?? "", sender: message.sender ?? "",
        state: state ?? "", signature: message.signature ?? "",
      },
    }, this.renderBody(message), meta);
  }

  // Insert or replace one message, keeping seq order (pending ones last).
  upsert(message, { stick = true } = {}) {
    if (Number(message.conversation) !== this.id) return;
    const wasNearBottom = this.nearBottom();
    const element = this.renderMessage(message);
    const key = messageKey(message);
    const pendingKey = message.client_id ? `c${message.client_id}` : null;
    // The stored element and, for an own message that just got its seq, the
    // pending one (the echo and the ack may come in either order): both go.
    for (const oldKey of new Set([key, pendingKey])) {
      if (!oldKey) continue;
      this.elements.get(oldKey)?.remove();
      this.elements.delete(oldKey);
    }
    this.elements.set(key, element);
    let before = null;
    if (message.seq) {
      for (const child of this.list.children) {
        const seq = Number(child.dataset.seq);
        if (!child.dataset.seq || seq > message.seq) {
          before = child;
          break;
        }
      }
    }
    this.list.insertBefore(element, before);
    if (stick && (wasNearBottom || message.mine)) this.scrollToBottom();
  }

  remove(message) {
    const key = messageKey(message);
    this.elements.get(key)?.remove();
    this.elements.delete(key);
  }

  refreshStates() {
    for (const message of this.store.orderedMessages(this.id)) {
      if (message.mine) this.upsert(message, { stick: false });
    }
  }

  // --- history ---------------------------------------------------------------
  async loadOlder() {
    if (this.loadingOlder || !this.id) return;
    const oldest = this.store.oldestSeq(this.id);
    if (oldest === null || oldest <= 1) return;
    this.loadingOlder = true;
    const id = this.id;
    $("history-status").textContent = "Loading earlier messages…";
    const before = this.scroller.scrollHeight;
    try {
      const messages = await this.handlers.loadOlder(id, oldest);
      if (id !== this.id) return;
      for (const message of messages) this.upsert(message, { stick: false });
      this.scroller.scrollTop += this.scroller.scrollHeight - before;
      const now = this.store.oldestSeq(id);
      $("history-status").textContent = now !== null && now <= 1 ? "This is the beginning of the conversation." : "";
    } catch (error) {
      $("history-status").textContent = `Could not load earlier messages: ${error.message}`;
    } finally {
      this.loadingOlder = false;
    }
  }

  // --- typing ----------------------------------------------------------------
  showTyping(conversationId, userId) {
    if (Number(conversationId) !== this.id || Number(userId) === this.store.userId) return;
    const name = this.store.memberName(conversationId, userId);
    clearTimeout(this.typingTimers.get(userId));
    this.typingTimers.set(userId, setTimeout(() => {
      this.typingTimers.delete(userId);
      this.renderTyping();
    }, TYPING_SHOW_MS));
    this.typingNames.set(userId, name);
    this.renderTyping();
  }

  stopTyping(userId) {
    clearTimeout(this.typingTimers.get(userId));
    this.typingTimers.delete(userId);
    this.renderTyping();
  }

  renderTyping() {
    const names = [...this.typingTimers.keys()].map((id) => this.typingNames.get(id));
    $("typing-indicator").textContent = names.length
      ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
  }
}
