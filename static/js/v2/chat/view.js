// The version 2 chat view: renders the engine's state into `root` and turns the user's
// input into engine calls. Text only through textContent (never HTML), no inline styles
// or scripts (strict CSP). Every form has labels, announces its errors (role="alert") and
// keeps what was typed when it fails; new messages are announced in a polite live region.
// Files: a labelled file input and drag-and-drop onto the conversation send file
// messages (pasting files into the message box too: uploadview.js); a file entry shows its
// (safe) name, size, progress (speed, time left, Cancel) and the sender's thumbnail;
// "Download" saves it through the download Service Worker (or, without one, the decrypted,
// hash-checked Blob through a temporary object URL); "Preview" opens ./previewview.js.
// The member panel (members.js), the typing indicator (typing.js) and receipts
// (receipts.js) are their own modules, as are replies, reactions, edits and "Delete for
// everyone" (actionsview.js: the buttons on a message and the composer's reply/edit bar).
import { logFailure } from "../../common/log.js";
import { ComposerIntent, MessageActions } from "./actionsview.js";
import { AttentionIndicator, offlineText } from "./attention.js";
import { avatar, paintAvatar } from "./avatar.js";
import { counterState } from "./compose.js";
import { el, field, placeInOrder } from "./dom.js";
import { formatSize } from "./filename.js";
import { addressProblem, inviteOffer } from "./invite.js";
import { linkified } from "./linkify.js";
import { MemberPanel } from "./members.js";
import { Notifier, notificationSettings } from "./notify.js";
import { PreviewPanel, Thumbnails } from "./previewview.js";
import { PrivacySettings, privacySettingsView } from "./privacy.js";
import { receiptText } from "./receipts.js";
import { SearchPanel } from "./search.js";
import { clockTime, dayLabel, daysAgo, fullTimestamp, startsNewDay } from "./timeformat.js";
import { TypingIndicator } from "./typing.js";
import { bindPaste, uploadControls } from "./uploadview.js";
import { VerifyPanel } from "./verify.js";
import { CHAT, COMPOSER, FILES } from "../strings.js";

const RELABEL_EVERY_MS = 60 * 1000;
const PREVIEW_CHARS = 60; // of the newest message, in the conversation list
// Messages older than this when they arrive were caught up, not sent just now.
const FRESH_MS = 60 * 1000;
// Consecutive messages of one sender within this time show as one group (one name).
const GROUP_GAP_MS = 5 * 60 * 1000;
const RENDER_DELAY_MS = 16;

/** Builds the static skeleton around the member panel and typing line; its parts by name. */
function skeleton(root, members, typing, settings, search) {
  const parts = {
    status: el("p", { class: "v2-status", role: "status" }),
    offline: el("p", { class: "v2-offline", id: "v2-offline", role: "status", hidden: true }),
    // Live lists, not role="alert": an alert role would hide their items' list semantics.
    alerts: el("ul", { class: "v2-alerts", "aria-live": "assertive" }),
    announce: el("p", { class: "visually-hidden", "aria-live": "polite" }),
    list: el("ul", { class: "v2-conversations" }),
    newError: el("p", { class: "error", id: "v2-new-error", role: "alert" }),
    emails: el("input", { id: "v2-new-emails", name: "emails", autocomplete: "off",
      "aria-describedby": "v2-new-error", required: true }),
    groupName: el("input", { id: "v2-new-name", name: "name", autocomplete: "off" }),
    title: el("h2", { id: "v2-title" }),
    warnings: el("ul", { class: "v2-warnings", "aria-live": "assertive" }),
    timeline: el("ol", { class: "v2-timeline", "aria-labelledby": "v2-title" }),
    text: el("textarea", { id: "v2-text", name: "text", rows: "2",
      "aria-describedby": "v2-send-error" }),
    sendError: el("p", { class: "error", id: "v2-send-error", role: "alert" }),
    counter: el("p", { class: "helptext v2-counter", id: "v2-text-counter",
      "aria-live": "polite", hidden: true }),
    empty: el("p", { class: "v2-empty", id: "v2-empty", hidden: true }),
    attach: el("input", { type: "file", id: "v2-attach", name: "file", multiple: true,
      "aria-describedby": "v2-send-error" }),
  };
  parts.newForm = el("form", { class: "v2-new", "aria-label": CHAT.newConversation },
    field("v2-new-emails", CHAT.newEmails, parts.emails),
    field("v2-new-name", CHAT.newGroupName, parts.groupName), parts.newError,
    el("button", { type: "submit", text: CHAT.start }));
  parts.composer = el("form", { class: "v2-composer", "aria-label": COMPOSER.label },
    field("v2-text", COMPOSER.message, parts.text), parts.counter,
    field("v2-attach", COMPOSER.attach, parts.attach),
    parts.sendError, el("button", { type: "submit", text: COMPOSER.send }));
  parts.conversation = el("section", { class: "v2-conversation", hidden: true,
    "aria-labelledby": "v2-title" }, parts.title, parts.warnings, parts.empty, parts.timeline,
  typing, parts.composer, members);
  root.replaceChildren(el("div", { class: "v2-chat" }, parts.status, parts.offline,
    parts.alerts, parts.announce,
    el("section", { class: "v2-sidebar", "aria-label": CHAT.conversations },
      el("h2", { text: CHAT.conversations }), search, parts.list, parts.newForm, ...settings),
    parts.conversation));
  return parts;
}

export class ChatView {
  /** Conversation id → its entry in the list: the button and its parts (#renderList). */
  #listEntries = new Map();

  /** `options.registration`: the server's registration mode (no invitations when "closed");
   * `options.qrReader`: the QR code reader's pinned bundle, {url, integrity} (verify.js). */
  constructor(root, engine, { registration = "open", qrReader = null } = {}) {
    this.engine = engine;
    this.registration = registration;
    this.failure = null; // why the chat stopped, once it did
    this.verify = new VerifyPanel(engine, { qrReader }); // contact verification (verify.js)
    this.members = new MemberPanel(engine, (member) => this.verify.controlsFor(member));
    this.typing = new TypingIndicator(engine);
    const storage = engine.keys.shared ? null : globalThis.localStorage;
    this.notifier = new Notifier(engine.me.id, storage);
    this.privacy = new PrivacySettings(engine.me.id, storage);
    engine.usePrivacy(this.privacy); // the engine reads the choices when it would send
    this.privacy.addEventListener("change", () => this.render());
    this.attention = new AttentionIndicator();
    this.wasOnline = false; // the banner speaks of a lost connection only once there was one
    this.search = new SearchPanel(engine, { jump: (id, seq) => this.jumpTo(id, seq),
      labelOf: (id) => this.#label(engine.conversations.get(id)) });
    this.parts = skeleton(root, this.members.element, this.typing.element,
      [notificationSettings(this.notifier), privacySettingsView(this.privacy)],
      this.search.element);
    this.parts.conversation.append(this.verify.element);
    this.thumbnails = new Thumbnails(engine);
    this.previews = new PreviewPanel(engine);
    this.parts.conversation.insertBefore(this.previews.element, this.parts.composer);
    this.#wireActions();
    this.#wire();
    // "Today" becomes "Yesterday" at midnight without any message arriving.
    this.clockTimer = setInterval(() => this.render(), RELABEL_EVERY_MS);
  }

  /** Stops the view's own timer and the camera, if on (the engine stops separately). */
  stop() {
    clearInterval(this.clockTimer);
    this.verify.close();
    this.attention.clear();
    this.search.stop();
    document.removeEventListener("keydown", this.onKey);
    globalThis.removeEventListener("online", this.onNetwork);
    globalThis.removeEventListener("offline", this.onNetwork);
  }

  #wire() {
    const { engine, parts } = this;
    engine.addEventListener("change", () => this.#scheduleRender());
    engine.addEventListener("message", (e) => {
      const { entry } = e.detail;
      if (!entry.mine && entry.text !== null) {
        parts.announce.textContent = `${engine.nameOf(entry.sender)}: ${entry.text}`;
        this.#notify(e.detail.conversation, entry);
      }
      this.#scheduleRender();
    });
    this.onKey = (e) => this.#shortcut(e);
    document.addEventListener("keydown", this.onKey);
    this.onNetwork = () => this.#scheduleRender();
    globalThis.addEventListener("online", this.onNetwork);
    globalThis.addEventListener("offline", this.onNetwork);
    parts.newForm.addEventListener("submit", (e) => { e.preventDefault(); this.#create(); });
    parts.composer.addEventListener("submit", (e) => { e.preventDefault(); this.#send(); });
    parts.text.addEventListener("input", () => this.#renderCounter());
    parts.text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        this.#send();
      }
    });
    this.typing.watch(parts.text);
    parts.attach.addEventListener("change", () => {
      this.#sendFiles([...parts.attach.files]);
      parts.attach.value = "";
    });
    bindPaste(parts.text, (files) => this.#sendFiles(files));
    parts.conversation.addEventListener("dragover", (e) => {
      if (![...(e.dataTransfer?.types ?? [])].includes("Files")) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
    });
    parts.conversation.addEventListener("drop", (e) => {
      if (!e.dataTransfer?.files?.length) return;
      e.preventDefault();
      this.#sendFiles([...e.dataTransfer.files]);
    });
  }

  /** Replies, reactions, edits and deletions (actionsview.js). */
  #wireActions() {
    const { engine, parts } = this;
    this.actions = new MessageActions(engine, { reply: (entry) => this.#intend("reply", entry),
      edit: (entry) => this.#intend("edit", entry), rerender: () => this.render(),
      jump: (seq) => this.jumpTo(engine.openId, seq) });
    this.intent = new ComposerIntent(engine, (intent) => {
      if (!intent && this.editing) parts.text.value = ""; // the edited text, not a draft
      this.editing = intent?.kind === "edit";
    });
    parts.text.parentElement.prepend(this.intent.element);
    parts.text.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.intent.intent) this.intent.clear();
    });
    // A message deleted for everyone: drop every copy of its text this view made.
    engine.addEventListener("unsent", (e) => {
      const { conversation, hash, entry } = e.detail;
      this.notifier.forget(conversation, hash);
      this.thumbnails.forget(entry);
      parts.announce.textContent = "";
      if (this.search.input.value.trim()) this.search.run();
      this.#scheduleRender();
    });
  }

  /** Puts the composer in reply or edit mode for `entry` of the open conversation. */
  #intend(kind, entry) {
    this.intent.set(kind, this.engine.openId, entry);
    if (kind === "edit") this.parts.text.value = entry.text;
    this.parts.text.focus();
  }

  async #create() {
    const { parts, engine } = this;
    const emails = parts.emails.value.split(",").map((s) => s.trim()).filter(Boolean);
    parts.newError.textContent = "";
    const problem = emails.length ? emails.map(addressProblem).find(Boolean)
      : CHAT.enterAddress;
    if (problem) { // refused here: no request leaves for a malformed address
      parts.newError.textContent = problem;
      parts.emails.setAttribute("aria-invalid", "true");
      return;
    }
    try {
      const id = await engine.createConversation({ emails, name: parts.groupName.value.trim() });
      parts.emails.value = "";
      parts.groupName.value = "";
      parts.emails.removeAttribute("aria-invalid");
      await this.open(id);
    } catch (error) {
      parts.newError.textContent = error.message;
      parts.emails.setAttribute("aria-invalid", "true");
      if (!error.unknown) {
        logFailure("v2 chat", "the conversation was not created", error);
      } else if (this.registration !== "closed") { // shown above; no failure to log
        parts.newError.append(" ", inviteOffer(engine, error.unknown));
      }
    }
  }

  #send() {
    const { parts, engine } = this;
    const text = parts.text.value;
    if (!text.trim() || !engine.openId) return;
    if (counterState(text).over) { // refused before sending, what was typed stays
      parts.sendError.textContent = COMPOSER.tooLong;
      return;
    }
    parts.sendError.textContent = "";
    const intent = this.intent.current(engine.openId);
    this.editing = false; // the box's text is sent: nothing to clear
    this.intent.clear();
    parts.text.value = "";
    this.#renderCounter();
    if (intent?.kind === "edit") {
      if (text !== intent.entry.text) engine.edit(engine.openId, intent.entry, text);
      return;
    }
    const sent = intent?.kind === "reply" ? engine.sendReply(engine.openId, intent.entry.hash, text)
      : engine.sendText(engine.openId, text);
    sent.then((entry) => {
      if (entry?.status === "failed") parts.sendError.textContent = COMPOSER.notSent(entry.error);
    });
  }

  #sendFiles(files) {
    const { parts, engine } = this;
    if (!files.length || !engine.openId) return;
    parts.sendError.textContent = "";
    for (const file of files) {
      engine.sendFile(engine.openId, file).then((entry) => {
        if (entry?.status === "failed") {
          parts.sendError.textContent = CHAT.fileNotSent(entry.file.name, entry.error);
        }
      });
    }
  }

  /** Saves a file entry under its safe name (see saveEntry); nothing on a failure. */
  async #download(entry) {
    const blob = await this.engine.saveEntry(this.engine.openId, entry);
    if (!(blob instanceof Blob)) return; // failed, or saved by the service worker
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: entry.file.name, hidden: true });
    document.body.append(link);
    try {
      link.click();
    } finally {
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 0); // after the click has started the save
    }
  }

  /** The counter near the limit ("N bytes left", or how much too long). */
  #renderCounter() {
    const { counter, text } = this.parts;
    const state = counterState(text.value);
    counter.hidden = !state.show;
    counter.textContent = state.show ? state.text : "";
    counter.classList.toggle("error", state.over);
    text.toggleAttribute("aria-invalid", state.over);
  }

  /**
   * Keyboard: Alt+↓ / Alt+↑ open the next / previous conversation of the list; Esc
   * closes the open panel (the Verify panel, which also stops the camera; a preview).
   */
  #shortcut(e) {
    if (e.key === "Escape" && this.verify.isOpen) {
      e.preventDefault();
      this.verify.close();
      return;
    }
    if (e.key === "Escape" && this.engine.preview) {
      e.preventDefault();
      this.engine.closePreview();
      return;
    }
    if (!e.altKey || (e.key !== "ArrowDown" && e.key !== "ArrowUp")) return;
    const ids = this.engine.list().map((conv) => conv.id);
    if (!ids.length) return;
    e.preventDefault();
    const at = ids.indexOf(this.engine.openId);
    const step = e.key === "ArrowDown" ? 1 : -1;
    const next = at < 0 ? 0 : (at + step + ids.length) % ids.length;
    this.open(ids[next]).catch((error) => logFailure("v2 chat", "could not open", error));
  }

  /** A notification for a fresh message the person is not looking at (notify.js). */
  #notify(conversation, entry) {
    if (Date.now() - entry.time > FRESH_MS) return; // caught up after a reload: no flood
    const looking = conversation === this.engine.openId && !document.hidden
      && document.hasFocus();
    this.notifier.message({ conversation, sender: this.engine.nameOf(entry.sender),
      text: entry.text, looking, hash: entry.hash });
  }

  async open(id) {
    this.notifier.dismiss(id);
    await this.engine.open(id);
    this.render();
    this.parts.text.focus();
  }

  /** Opens conversation `id` and shows message `seq` (a search result) highlighted. */
  async jumpTo(id, seq) {
    this.found = { conversation: id, seq }; // kept highlighted across re-renders
    await this.open(id);
    const node = this.parts.timeline.querySelector(`.v2-message[data-seq="${Number(seq)}"]`);
    if (!node) return;
    node.setAttribute("tabindex", "-1");
    node.scrollIntoView({ block: "center" });
    node.focus({ preventScroll: true });
  }

  /** Shows why the chat stopped (the engine did not start). */
  showFailure(text) {
    this.failure = text;
    this.parts.status.textContent = text;
  }

  /** One render for every change of the same moment (a replay applies many items). */
  #scheduleRender() {
    if (this.renderTimer) return;
    this.renderTimer = setTimeout(() => {
      this.renderTimer = null;
      this.render();
    }, RENDER_DELAY_MS);
  }

  render() {
    this.#renderList();
    this.#renderConversation();
    this.wasOnline ||= this.engine.online;
    const offline = offlineText(this.engine, this.wasOnline);
    this.parts.offline.hidden = !offline;
    this.parts.offline.textContent = offline ?? "";
    this.attention.show(this.engine.list().reduce((sum, conv) => sum + conv.unread, 0));
    this.previews.render();
    this.intent.render();
    this.parts.status.textContent = this.failure
      ?? (this.engine.online ? CHAT.connected : CHAT.reconnecting);
    this.parts.alerts.replaceChildren(...this.engine.findings.map((f) =>
      el("li", { class: `v2-warning v2-${f.kind}`, text: f.text })));
  }

  #label(conv) {
    if (conv.name) return conv.name;
    const others = this.engine.members(conv.id).members.filter((m) => m.id !== this.engine.me.id);
    return others.map((m) => m.name).join(", ") || CHAT.conversation;
  }

  /** The other members' ids (the avatar's colour of an unnamed conversation). */
  #otherIds(conv) {
    return this.engine.members(conv.id).members.map((m) => m.id)
      .filter((id) => id !== this.engine.me.id).join(",") || conv.id;
  }

  /** The newest message of `conv` as the list shows it ("Bob: see you…"), or null. */
  #lastLine(conv) {
    const item = conv.items.findLast((i) => i.kind === "message");
    if (!item) return null;
    const what = item.status === "removed"
      ? (item.removedBy === "sender" ? CHAT.lastDeleted : CHAT.lastRemoved)
      : item.status === "failed" && !item.mine ? CHAT.lastFailed
        : item.file ? CHAT.file(item.file.name) : item.text ?? "";
    const line = CHAT.line(this.engine.nameOf(item.sender), what);
    return { text: line.length > PREVIEW_CHARS ? `${line.slice(0, PREVIEW_CHARS)}…` : line,
      time: item.time };
  }

  /** The list keeps one button per conversation across renders, and the parts inside it,
   * updating them in place: new elements each render would lose a click whose press and
   * release straddle a render (they land on different elements), and the keyboard focus,
   * whenever a message arrives. */
  #renderList() {
    const entries = new Map();
    const rows = this.engine.list().map((conv) => {
      const entry = this.#listEntries.get(conv.id) ?? this.#newListEntry(conv.id);
      entries.set(conv.id, entry);
      this.#fillListEntry(entry, conv);
      return entry.button.parentElement;
    });
    this.#listEntries = entries;
    placeInOrder(this.parts.list, rows);
  }

  #newListEntry(id) {
    const button = el("button", { type: "button", class: "v2-open", "data-id": id });
    button.addEventListener("click", () => this.open(id));
    el("li", {}, button);
    return { button, avatar: el("span", { "aria-hidden": "true" }),
      label: el("span", { class: "v2-open-label" }), time: el("time", { class: "v2-open-time" }),
      preview: el("span", { class: "v2-open-preview" }), unread: el("span", { class: "v2-unread" }) };
  }

  #fillListEntry(entry, conv) {
    const last = this.#lastLine(conv);
    const label = this.#label(conv);
    if (conv.id === this.engine.openId) entry.button.setAttribute("aria-current", "true");
    else entry.button.removeAttribute("aria-current");
    paintAvatar(entry.avatar, label, conv.name ? conv.id : this.#otherIds(conv));
    entry.label.textContent = label;
    if (last) {
      entry.time.dateTime = new Date(last.time).toISOString();
      entry.time.textContent = daysAgo(last.time) === 0 ? clockTime(last.time) : dayLabel(last.time);
      entry.preview.textContent = last.text;
    }
    entry.unread.textContent = `${conv.unread} unread`;
    placeInOrder(entry.button, [entry.avatar, entry.label, ...(last ? [entry.time, entry.preview] : []),
      ...(conv.unread ? [entry.unread] : [])]);
  }

  #renderConversation() {
    const { parts, engine } = this;
    const conv = engine.conversations.get(engine.openId);
    parts.conversation.hidden = !conv;
    if (!conv) return;
    parts.title.textContent = this.#label(conv);
    parts.warnings.replaceChildren(...conv.findings.map((f) =>
      el("li", { class: `v2-warning v2-${f.kind}`, text: f.text })));
    parts.timeline.replaceChildren(...this.#timelineNodes(conv));
    const hasMessages = conv.items.some((i) => i.kind === "message");
    parts.empty.hidden = hasMessages;
    parts.empty.textContent = hasMessages ? "" : this.#emptyText(conv);
    this.members.render(conv);
    this.typing.render();
    const blocked = engine.blockedReason(conv);
    parts.composer.querySelector("button[type=submit]").disabled = Boolean(blocked);
    if (blocked) parts.sendError.textContent = COMPOSER.blocked(blocked);
  }

  /** A new conversation: who it is with, that it is end-to-end encrypted, how to verify. */
  #emptyText(conv) {
    const others = this.engine.members(conv.id).members.filter((m) => m.id !== this.engine.me.id);
    const who = others.map((m) => m.name).join(", ") || CHAT.nobodyYet;
    return CHAT.empty(who);
  }

  /** Items with day separators, consecutive messages of one sender grouped. */
  #timelineNodes(conv) {
    const nodes = [];
    let previous = null;
    for (const item of conv.items) {
      if (item.kind === "warning") continue;
      const time = item.time ?? previous?.time;
      if (time !== undefined && startsNewDay(time, previous?.time)) {
        nodes.push(el("li", { class: "v2-day" },
          el("span", { text: dayLabel(time), title: fullTimestamp(time) })));
        previous = null; // a new day starts a new group
      }
      const continued = item.kind === "message" && previous?.kind === "message"
        && previous.sender === item.sender && item.time - previous.time < GROUP_GAP_MS;
      const node = this.#item(conv, item);
      if (continued) node.classList.add("continued");
      if (this.found?.conversation === conv.id && this.found.seq === item.seq) {
        node.classList.add("v2-found");
      }
      nodes.push(node);
      previous = item;
    }
    return nodes;
  }

  #item(conv, item) {
    const { engine } = this;
    if (item.kind === "operation") {
      return el("li", { class: "v2-operation", "data-seq": item.seq, text: item.text });
    }
    const text = item.status === "removed" ? CHAT.removed[item.removedBy ?? "pending"]
      : item.status === "failed" && !item.mine
        ? CHAT.failedVerification : item.text;
    return this.actions.decorate(conv, item, el("li", {
      class: `v2-message ${item.mine ? "mine" : "theirs"} ${item.status}`,
      "data-seq": item.seq ?? "" },
    this.#sender(item), " ",
    el("time", { datetime: new Date(item.time).toISOString(), title: fullTimestamp(item.time),
      "aria-label": fullTimestamp(item.time), tabindex: "0", text: clockTime(item.time) }), " ",
    item.file && item.status !== "removed" && !(item.status === "failed" && !item.mine)
      ? this.#file(item) : this.#text(item, text), " ",
    el("span", { class: "state", text: item.mine ? receiptText(engine, conv, item) : "" })));
  }

  /** The sender's name (the address on hover) after their avatar. */
  #sender(item) {
    const name = this.engine.nameOf(item.sender);
    const sender = el("span", { class: "sender", title: this.engine.emailOf(item.sender) || null,
      text: name });
    sender.prepend(avatar(name, item.sender));
    // The verified mark after the name: CSS content ("✓", read as "verified"), so the
    // name's text stays the name.
    if (!item.mine && this.verify.verification.isVerified(item.sender)) {
      sender.dataset.verified = "";
    }
    return sender;
  }

  /** The text of a message: links clickable in a readable message, plain otherwise. */
  #text(item, text) {
    const readable = item.status === "sent" || item.status === "received"
      || item.status === "sending";
    if (!readable || typeof text !== "string") return el("span", { class: "text", text });
    return el("span", { class: "text" }, ...linkified(text));
  }

  /** A file entry: name, size, upload or download progress, Download and its outcome. */
  #file(item) {
    const { file } = item;
    const box = el("span", { class: "v2-file" }, el("span", { class: "file-name",
      text: file.name }), " ", el("span", { class: "file-size", text: formatSize(file.size) }));
    if (item.status === "uploading") box.append(" ", ...uploadControls(item));
    const download = item.download;
    const thumbnail = this.thumbnails.nodeFor(item);
    if (thumbnail) box.prepend(thumbnail, " ");
    if (file.uploadId && (item.status === "sent" || item.status === "received")) {
      const button = el("button", { type: "button", class: "v2-download",
        "aria-label": FILES.downloadLabel(file.name), text: FILES.download,
        disabled: download?.state === "downloading" });
      button.addEventListener("click", () => this.#download(item));
      const preview = el("button", { type: "button", class: "v2-preview-open",
        "aria-label": FILES.previewLabel(file.name), text: FILES.preview,
        disabled: download?.state === "downloading" });
      preview.addEventListener("click", () => this.engine.openPreview(this.engine.openId, item));
      box.append(" ", button, " ", preview);
    }
    if (download?.state === "downloading" && download.fallback) {
      box.append(" ", el("span", { class: "v2-in-page", text: FILES.inPage }));
    }
    if (download?.state === "downloading") {
      box.append(" ", el("progress", { max: String(download.total),
        value: String(download.received), "aria-label": FILES.downloading(file.name) }));
    } else if (download?.state === "failed") {
      box.append(" ", el("span", { class: "error v2-download-error", role: "alert",
        text: download.forgery ? FILES.forgery : FILES.downloadFailed(download.error) }));
    }
    return box;
  }
}
