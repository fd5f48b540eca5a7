// Browser notifications for new messages while a tab is open (issue 15 "Attention"): only
// when the person allowed them, only for a message they are not looking at (another
// conversation, or the tab hidden or unfocused), with the sender's name only unless they
// opted in to the text. There is no push with the tab closed (no Service Worker controls
// the app). The choices are kept per account in this browser; shown notifications are
// recorded from their "show" event (`shown`) and closed when a conversation is opened.
import { logFailure } from "../../common/log.js";
import { el } from "./dom.js";
import { NOTIFICATIONS } from "../strings.js";

const SETTINGS_KEY = (userId) => `securechat.notifications.${userId}`;

export class Notifier {
  #messageOf = new WeakMap(); // a `shown` record → the hash of its message
  constructor(userId, storage) {
    this.key = SETTINGS_KEY(userId);
    this.storage = storage; // null on a shared computer: nothing remembered
    this.shown = []; // {conversation, title, body}, from each notification's "show" event
    this.open = new Map(); // conversation id → Notification objects still on screen
    const saved = JSON.parse(storage?.getItem(this.key) ?? "{}");
    this.enabled = Boolean(saved.enabled);
    this.withText = Boolean(saved.withText);
  }

  get supported() {
    return typeof Notification !== "undefined";
  }

  get permission() {
    return this.supported ? Notification.permission : "unsupported";
  }

  #save() {
    this.storage?.setItem(this.key, JSON.stringify({ enabled: this.enabled,
      withText: this.withText }));
  }

  /** Turns notifications on (asking the browser's permission) or off; resolves with `enabled`. */
  async setEnabled(enabled) {
    if (enabled && this.supported && Notification.permission === "default") {
      await Notification.requestPermission();
    }
    this.enabled = enabled && this.permission === "granted";
    this.#save();
    return this.enabled;
  }

  setWithText(withText) {
    this.withText = Boolean(withText);
    this.#save();
  }

  /** A notification for `text` from `sender` in `conversation`, when allowed and wanted
   *  (`hash`: the message's, to close it if the message is deleted for everyone). */
  message({ conversation, sender, text, looking, hash = null }) {
    if (!this.enabled || looking || this.permission !== "granted") return;
    const title = NOTIFICATIONS.title(sender);
    const body = this.withText && typeof text === "string" ? text : NOTIFICATIONS.newMessage;
    const notification = new Notification(title, { body, tag: conversation });
    notification.addEventListener("show", () => {
      const record = { conversation, title, body };
      this.#messageOf.set(record, hash);
      this.shown.push(record);
    });
    notification.messageHash = hash;
    notification.addEventListener("error", (event) => {
      logFailure("v2 chat", "a notification could not be shown", event);
    });
    const list = this.open.get(conversation) ?? [];
    list.push(notification);
    this.open.set(conversation, list);
  }

  /**
   * Closes the notifications of the message `hash` (deleted for everyone) and forgets
   * what they showed; the others of `conversation` stay.
   */
  forget(conversation, hash) {
    const list = this.open.get(conversation) ?? [];
    for (const notification of list) {
      if (notification.messageHash === hash) notification.close();
    }
    this.open.set(conversation, list.filter((n) => n.messageHash !== hash));
    this.shown = this.shown.filter((record) => this.#messageOf.get(record) !== hash);
  }

  /** Closes the notifications of `conversation` (it was opened). */
  dismiss(conversation) {
    for (const notification of this.open.get(conversation) ?? []) notification.close();
    this.open.delete(conversation);
  }
}

/** The sidebar's notification settings (a <details>): on/off, and whether to show text. */
export function notificationSettings(notifier) {
  const status = el("p", { class: "helptext", role: "status", id: "v2-notify-status" });
  const on = el("input", { type: "checkbox", id: "v2-notify-on" });
  const text = el("input", { type: "checkbox", id: "v2-notify-text" });
  const sync = () => {
    on.checked = notifier.enabled;
    text.checked = notifier.withText;
    text.disabled = !notifier.enabled;
    status.textContent = notifier.permission === "denied"
      ? NOTIFICATIONS.blocked
      : notifier.permission === "unsupported" ? NOTIFICATIONS.unsupported : "";
  };
  on.addEventListener("change", () => {
    notifier.setEnabled(on.checked).then(sync, (error) => {
      logFailure("v2 chat", "notifications could not be turned on", error);
      sync();
    });
  });
  text.addEventListener("change", () => {
    notifier.setWithText(text.checked);
    sync();
  });
  sync();
  return el("details", { class: "v2-settings", id: "v2-notify-settings" },
    el("summary", { text: NOTIFICATIONS.summary }),
    el("p", {}, el("label", {}, on, NOTIFICATIONS.on)),
    el("p", {}, el("label", {}, text, NOTIFICATIONS.withText)), status,
    el("p", { class: "helptext", text: NOTIFICATIONS.noPush }));
}
