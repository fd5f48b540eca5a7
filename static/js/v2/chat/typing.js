// The typing indicator of the v2 chat view: "Alice is typing…" under the open
// conversation while another member's typing hints keep coming. A hint shows for
// TYPING_SHOW_MS and goes at once when that member's message arrives. Typing in the
// composer sends hints through the engine (rate-limited there). Typing is metadata
// the server sees and relays, never stores (docs/security.md).
import { el } from "./dom.js";
import { CHAT } from "../strings.js";

export const TYPING_SHOW_MS = 6000; // longer than the engine's interval between hints

export class TypingIndicator {
  #timers = new Map(); // "<conversation>:<user>" → timeout id

  constructor(engine, { showMs = TYPING_SHOW_MS } = {}) {
    this.engine = engine;
    this.showMs = showMs;
    this.element = el("p", { class: "v2-typing", "aria-live": "polite" });
    engine.addEventListener("typing", (e) => this.#typing(e.detail.conversation, e.detail.user));
    engine.addEventListener("message", (e) => {
      if (!e.detail.entry.mine) this.#stop(e.detail.conversation, e.detail.entry.sender);
    });
  }

  /** Sends hints while the user types into `input` (the composer). */
  watch(input) {
    input.addEventListener("input", () => {
      if (this.engine.openId && input.value.trim()) this.engine.typing(this.engine.openId);
    });
  }

  #typing(conversation, user) {
    const key = `${conversation}:${user}`;
    clearTimeout(this.#timers.get(key));
    this.#timers.set(key, setTimeout(() => this.#stop(conversation, user), this.showMs));
    this.render();
  }

  #stop(conversation, user) {
    const key = `${conversation}:${user}`;
    if (!this.#timers.has(key)) return;
    clearTimeout(this.#timers.get(key));
    this.#timers.delete(key);
    this.render();
  }

  /** Shows who is typing in the open conversation (nothing when no one is). */
  render() {
    const prefix = `${this.engine.openId}:`;
    const shown = this.engine.privacy.typing ? [...this.#timers.keys()] : [];
    const names = shown.filter((key) => key.startsWith(prefix))
      .map((key) => this.engine.nameOf(BigInt(key.slice(prefix.length))));
    this.element.textContent = names.length === 0 ? "" : CHAT.typing(names);
  }
}
