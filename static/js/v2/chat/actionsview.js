// The view side of replies, reactions, edits and "Delete for everyone" (the store side:
// engine.js with edits.js, reactions.js, replies.js). `MessageActions.decorate` adds to a
// rendered message its quote (a reply), "edited", invalid edit attempts, reaction counts
// (who reacted in the title), the pending deletion with its Undo, and the action buttons;
// `ComposerIntent` is the composer's "Replying to …" / "Editing …" bar. Text only through
// textContent; every user-visible string of these parts is in strings.js (ACTIONS).
import { el } from "./dom.js";
import { editable } from "./edits.js";
import { REACTION_EMOJI, reactionOf, reactionSummary } from "./reactions.js";
import { quoteOf, snippetOf } from "./replies.js";
import { ACTIONS as STRINGS } from "../strings.js";

/** True when actions may be taken on `item` (a stored, readable message). */
function actionable(item) {
  return item.kind === "message" && Boolean(item.hash) && !item.unsending
    && (item.status === "sent" || item.status === "received");
}

export class MessageActions {
  /** `reply(entry)` and `edit(entry)` put the composer in that mode; `jump(seq)` shows a
   *  message of the open conversation; `rerender()` draws the view again (the picker). */
  constructor(engine, { reply, edit, jump, rerender }) {
    Object.assign(this, { engine, reply, edit, jump, rerender });
    this.pickerFor = null; // the hash of the message whose emoji picker is open
  }

  #name(userId) {
    return this.engine.nameOf(userId);
  }

  /** Adds what `item` needs beyond its text to its rendered `node` (a .v2-message). */
  decorate(conv, item, node) {
    if (item.kind !== "message") return node;
    if (item.replyTo && item.status !== "removed") {
      node.querySelector(".text")?.before(this.#quote(conv, item));
    }
    if (item.editSeq && item.status !== "removed") {
      node.querySelector(".text")?.append(" ", el("span", { class: "v2-edited",
        text: `(${STRINGS.edited})` }));
    }
    for (const attempt of item.invalidEdits ?? []) {
      node.append(el("span", { class: "v2-invalid-edit", role: "note",
        text: STRINGS.invalidEdit(this.#name(attempt.sender), this.#name(item.sender)) }));
    }
    const reactions = this.#reactions(conv, item);
    if (reactions) node.append(reactions);
    if (item.unsending) node.append(this.#unsending(conv, item));
    if (item.actionError) {
      node.append(el("span", { class: "error v2-action-error", role: "alert",
        text: item.actionError }));
    }
    if (actionable(item)) node.append(this.#buttons(conv, item));
    return node;
  }

  #quote(conv, item) {
    const quote = quoteOf(conv, item);
    const text = quote.state === "shown" ? quote.text : quote.state === "deleted"
      ? STRINGS.quoteDeleted : quote.state === "missing" ? STRINGS.quoteMissing
        : STRINGS.quoteUnreadable;
    const who = quote.state === "shown" ? this.#name(quote.sender) : "";
    const button = el("button", { type: "button", class: `v2-quote v2-quote-${quote.state}`,
      disabled: quote.seq === undefined || quote.seq === null,
      // The name comes from what shows (axe: the visible text starts the accessible name);
      // the title says what a click does.
      title: quote.state === "shown" ? STRINGS.quoteLabel(who) : null },
    who ? el("span", { class: "v2-quote-sender", text: `${who}: ` }) : "",
    el("span", { class: "v2-quote-text", text }));
    button.addEventListener("click", () => this.jump(quote.seq));
    return button;
  }

  #reactions(conv, item) {
    const rows = reactionSummary(item, this.engine.me.id);
    if (!rows.length || item.status === "removed") return null;
    return el("span", { class: "v2-reactions" }, ...rows.map((row) => {
      const names = row.senders.map((id) => this.#name(id));
      const chip = el("button", { type: "button", class: "v2-reaction",
        "aria-pressed": row.mine ? "true" : "false", title: STRINGS.reactionTitle(names),
        "aria-label": STRINGS.reactionLabel(row.emoji, row.count, names),
        "data-emoji": row.emoji }, el("span", { text: row.emoji }), " ",
      el("span", { class: "v2-reaction-count", text: String(row.count) }));
      chip.disabled = !actionable(item);
      chip.addEventListener("click", () => this.#toggle(conv, item, row.emoji));
      return chip;
    }));
  }

  /** Your reaction `emoji` again takes it back; another one replaces yours. */
  #toggle(conv, item, emoji) {
    this.pickerFor = null;
    const mine = reactionOf(item, this.engine.me.id);
    this.engine.react(conv.id, item, mine === emoji ? "" : emoji);
  }

  #unsending(conv, item) {
    const undo = el("button", { type: "button", class: "v2-undo", text: STRINGS.undo,
      disabled: item.unsending.sending });
    undo.addEventListener("click", () => this.engine.cancelUnsend(conv.id, item));
    return el("span", { class: "v2-unsending", role: "status" }, el("span", {
      text: item.unsending.sending ? STRINGS.unsendingNow : STRINGS.unsending }),
    " ", undo);
  }

  #buttons(conv, item) {
    const button = (cls, text, label, action) => {
      const node = el("button", { type: "button", class: cls, text, "aria-label": label });
      node.addEventListener("click", action);
      return node;
    };
    const open = this.pickerFor === item.hash;
    const bar = el("span", { class: "v2-actions" },
      button("v2-reply", STRINGS.reply, STRINGS.replyLabel(this.#name(item.sender)),
        () => this.reply(item)),
      button("v2-react", STRINGS.react, null, () => {
        this.pickerFor = open ? null : item.hash;
        this.rerender();
      }));
    bar.querySelector(".v2-react").setAttribute("aria-expanded", open ? "true" : "false");
    if (item.mine && editable(item)) {
      bar.append(button("v2-edit", STRINGS.edit, null, () => this.edit(item)));
    }
    if (item.mine) {
      bar.append(button("v2-unsend", STRINGS.unsend, null,
        () => this.engine.requestUnsend(conv.id, item)));
    }
    if (open) bar.append(this.#picker(conv, item));
    return bar;
  }

  #picker(conv, item) {
    return el("span", { class: "v2-picker", role: "group", "aria-label": STRINGS.react },
      ...REACTION_EMOJI.map((emoji) => {
        const node = el("button", { type: "button", class: "v2-pick", text: emoji,
          "aria-label": STRINGS.reactWith(emoji) });
        node.addEventListener("click", () => this.#toggle(conv, item, emoji));
        return node;
      }));
  }
}

/** The composer's reply or edit mode: a bar above the message box with Cancel. */
export class ComposerIntent {
  constructor(engine, onChange) {
    this.engine = engine;
    this.onChange = onChange;
    this.intent = null; // {kind: "reply" | "edit", conversation, entry}
    this.text = el("span", { class: "v2-intent-text" });
    const cancel = el("button", { type: "button", class: "v2-intent-cancel",
      text: STRINGS.cancel });
    cancel.addEventListener("click", () => this.clear());
    // A span: it sits in the message field's <p>, before its label.
    this.element = el("span", { class: "v2-intent", id: "v2-intent", hidden: true }, this.text,
      " ", cancel);
  }

  set(kind, conversation, entry) {
    this.intent = { kind, conversation, entry };
    this.render();
    this.onChange(this.intent);
  }

  clear() {
    this.intent = null;
    this.render();
    this.onChange(null);
  }

  /** The intent for `conversation` (still valid: a deleted target ends it), or null. */
  current(conversation) {
    const intent = this.intent;
    if (!intent || intent.conversation !== conversation) return null;
    return intent.entry.status === "removed" ? null : intent;
  }

  render() {
    const intent = this.current(this.engine.openId);
    this.element.hidden = !intent;
    if (!intent) return;
    const { entry } = intent;
    this.element.dataset.kind = intent.kind;
    this.text.textContent = intent.kind === "edit" ? STRINGS.editing(snippetOf(entry.text))
      : STRINGS.replyingTo(this.engine.nameOf(entry.sender), snippetOf(entry.text ?? ""));
  }
}
