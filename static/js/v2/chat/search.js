// Search across the messages this tab has decrypted (issue 15 "Search"): every
// conversation's history the engine holds (the sync replays it all after a reload), case-
// and accent-insensitive, newest first, with the match highlighted. Nothing goes to the
// server and nothing is stored: the "index" is the engine's own memory, read at each
// query, so it dies with the tab or the logout. Enter (or a click) opens a result and
// jumps to the message; Ctrl+K (⌘K) focuses the box; Esc clears it.
import { logFailure } from "../../common/log.js";
import { el } from "./dom.js";
import { SEARCH } from "../strings.js";

const MAX_RESULTS = 50;
const SNIPPET_CONTEXT = 40; // characters shown on each side of the match
const DEBOUNCE_MS = 80;

/** `text` folded for matching (lower case, accents dropped), and its original indices. */
function folded(text) {
  let out = "";
  const map = [];
  for (let i = 0; i < text.length; i += 1) {
    const piece = text[i].normalize("NFD").replace(/\p{M}/gu, "").toLocaleLowerCase();
    out += piece;
    for (let k = 0; k < piece.length; k += 1) map.push(i);
  }
  map.push(text.length);
  return { out, map };
}

/** Readable messages of `engine` matching `query`: [{conversation, seq, sender, text,
 *  start, end}] (start/end: the match in `text`), newest first. */
export function searchMessages(engine, query, limit = MAX_RESULTS) {
  const needle = folded(query.trim()).out;
  if (!needle) return [];
  const results = [];
  for (const conv of engine.list()) {
    for (const item of conv.items) {
      if (item.kind !== "message" || typeof item.text !== "string" || item.seq === null
        || (item.status !== "sent" && item.status !== "received")) continue;
      const { out, map } = folded(item.text);
      const at = out.indexOf(needle);
      if (at < 0) continue;
      results.push({ conversation: conv.id, seq: item.seq, sender: item.sender,
        time: item.time, text: item.text, start: map[at], end: map[at + needle.length] });
    }
  }
  results.sort((a, b) => b.time - a.time);
  return results.slice(0, limit);
}

function snippet(result) {
  const { text, start, end } = result;
  const from = Math.max(0, start - SNIPPET_CONTEXT);
  const to = Math.min(text.length, end + SNIPPET_CONTEXT);
  return [from > 0 ? `…${text.slice(from, start)}` : text.slice(from, start),
    el("mark", { text: text.slice(start, end) }),
    to < text.length ? `${text.slice(end, to)}…` : text.slice(end, to)];
}

export class SearchPanel {
  /** `labelOf(conversationId)`: the conversation's name; `jump(conversationId, seq)`. */
  constructor(engine, { labelOf, jump }) {
    this.engine = engine;
    this.labelOf = labelOf;
    this.jump = jump;
    this.results = [];
    this.input = el("input", { type: "search", id: "v2-search", autocomplete: "off",
      placeholder: SEARCH.placeholder, "aria-controls": "v2-search-results" });
    this.list = el("ul", { class: "v2-search-results", id: "v2-search-results",
      "aria-label": SEARCH.results });
    this.status = el("p", { class: "helptext", role: "status", id: "v2-search-status" });
    this.element = el("div", { class: "v2-search", role: "search" },
      el("label", { for: "v2-search", class: "visually-hidden", text: SEARCH.label }),
      this.input, this.status, this.list);
    this.#wire();
  }

  #wire() {
    this.input.addEventListener("input", () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.run(), DEBOUNCE_MS);
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        this.run();
        if (this.results.length) this.#open(this.results[0]);
      } else if (e.key === "Escape") {
        this.clear();
      }
    });
    this.onShortcut = (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
        e.preventDefault();
        this.input.focus();
        this.input.select();
      }
    };
    document.addEventListener("keydown", this.onShortcut);
  }

  /** Runs the query in the box and shows the results. */
  run() {
    const query = this.input.value;
    this.results = searchMessages(this.engine, query);
    this.list.replaceChildren(...this.results.map((result) => {
      const button = el("button", { type: "button", class: "v2-search-result",
        "data-conversation": result.conversation, "data-seq": String(result.seq) },
      el("span", { class: "v2-search-where",
        text: SEARCH.where(this.labelOf(result.conversation), this.engine.nameOf(result.sender)) }),
      el("span", { class: "v2-search-text" }, ...snippet(result)));
      button.addEventListener("click", () => this.#open(result));
      return el("li", {}, button);
    }));
    const count = this.results.length;
    this.status.textContent = !query.trim() ? ""
      : count ? SEARCH.found(count, count === MAX_RESULTS) : SEARCH.nothing;
  }

  #open(result) {
    Promise.resolve(this.jump(result.conversation, result.seq)).catch((error) => {
      logFailure("v2 chat", "the search result did not open", error);
    });
  }

  clear() {
    this.input.value = "";
    this.results = [];
    this.list.replaceChildren();
    this.status.textContent = "";
  }

  stop() {
    document.removeEventListener("keydown", this.onShortcut);
    this.clear();
  }
}
