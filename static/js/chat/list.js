// The conversation list: title, latest activity, a preview and the unread count.

import { h } from "./dom.js";
import { formatActivity, formatFullTime } from "./format.js";

function hue(text) {
  let sum = 0;
  for (const ch of text) sum = (sum * 31 + ch.codePointAt(0)) % 997;
  return sum % 6;
}

function preview(store, conversation) {
  const message = conversation.preview;
  if (!message) return conversation.last_seq ? "" : "No messages yet";
  const who = message.mine ? "You: " : "";
  if (message.deleted) return `${who}Message unsent`;
  if (message.signature === "invalid") return `${who}⚠ Message could not be verified`;
  if (message.kind === "file") return `${who}📎 ${message.file?.name || "File"}`;
  return `${who}${message.text ?? ""}`;
}

export function renderConversationList(store, currentId, list, onOpen) {
  const focusedId = document.activeElement?.dataset?.conversation;
  const items = store.sortedConversations().map((conversation) => {
    const unread = conversation.unread > 0 && conversation.id !== currentId ? conversation.unread : 0;
    const link = h("a", {
      class: "conversation-link",
      href: `/c/${conversation.id}/`,
      dataset: { conversation: conversation.id },
      "aria-current": conversation.id === currentId ? "page" : null,
      "aria-label": `${conversation.title}${unread ? `, ${unread} unread` : ""}`,
      on: {
        click: (event) => {
          if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
          event.preventDefault();
          onOpen(conversation.id);
        },
      },
    },
    h("span", { class: "avatar", "aria-hidden": "true", dataset: { hue: hue(conversation.title) },
      text: conversation.title.slice(0, 1) }),
    h("span", { class: "conv-title", text: conversation.title }),
    h("time", {
      class: "conv-time",
      datetime: conversation.last_activity ? new Date(conversation.last_activity).toISOString() : null,
      title: formatFullTime(conversation.last_activity),
      text: formatActivity(conversation.last_activity),
    }),
    h("span", { class: "conv-preview", text: preview(store, conversation) }),
    unread ? h("span", { class: "unread-badge", dataset: { testid: "unread" }, text: String(unread) })
      : h("span"));
    return h("li", {}, link);
  });
  if (items.length === 0) {
    list.replaceChildren(h("li", { class: "empty-note", text: "No conversations yet." }));
  } else {
    list.replaceChildren(...items);
  }
  if (focusedId) list.querySelector(`[data-conversation="${CSS.escape(focusedId)}"]`)?.focus();
}
