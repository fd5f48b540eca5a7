// What this person shares while chatting (issue 15 "People"): read receipts and typing
// hints, both on by default. Off means this client sends none (no read position is
// stored: unread counts then do not follow across devices either) and shows none of
// others'. Kept per account in this browser (null storage on a shared computer).
import { el } from "./dom.js";
import { PRIVACY } from "../strings.js";

const KEY = (userId) => `securechat.privacy.${userId}`;

export class PrivacySettings extends EventTarget {
  // The settings own their state (issue 18): read `readReceipts` and `typing`; only set()
  // changes them, and it stores them and emits "change".
  #key;
  #storage;
  #choices;

  constructor(userId, storage) {
    super();
    this.#key = KEY(userId);
    this.#storage = storage;
    const saved = JSON.parse(storage?.getItem(this.#key) ?? "{}");
    this.#choices = { readReceipts: saved.readReceipts !== false, typing: saved.typing !== false };
  }

  get readReceipts() { return this.#choices.readReceipts; }

  get typing() { return this.#choices.typing; }

  /** Sets `name` ("readReceipts" or "typing") to `on`, remembers it, emits "change". */
  set(name, on) {
    this.#choices = { ...this.#choices, [name]: Boolean(on) };
    this.#storage?.setItem(this.#key, JSON.stringify({ readReceipts: this.readReceipts,
      typing: this.typing }));
    this.dispatchEvent(new CustomEvent("change"));
  }
}

/** The two checkboxes, in a <details> of the sidebar. */
export function privacySettingsView(settings) {
  const box = (id, name, label) => {
    const input = el("input", { type: "checkbox", id });
    input.checked = settings[name];
    input.addEventListener("change", () => settings.set(name, input.checked));
    return el("p", {}, el("label", {}, input, ` ${label}`));
  };
  return el("details", { class: "v2-settings", id: "v2-privacy-settings" },
    el("summary", { text: PRIVACY.summary }),
    box("v2-privacy-receipts", "readReceipts", PRIVACY.receipts),
    box("v2-privacy-typing", "typing", PRIVACY.typing),
    el("p", { class: "helptext", text: PRIVACY.help }));
}
