// The version 2 chat view: renders the engine's state into `root` and turns the user's
// input into engine calls. Text only through textContent (never HTML), no inline styles
// or scripts (strict CSP). Every form has labels, announces its errors (role="alert") and
// keeps what was typed when it fails; new messages are announced in a polite live region.
// Files: a labelled file input and drag-and-drop onto the conversation send file
// messages; a file entry shows its (safe) name, size, progress and the sender's thumbnail;
// "Download" saves it through the download Service Worker (or, without one, the decrypted,
// hash-checked Blob through a temporary object URL); "Preview" opens ./previewview.js.
import { formatSize } from "./filename.js";
import { PreviewPanel, Thumbnails } from "./previewview.js";

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function field(id, label, input) {
  return el("p", { class: "field" }, el("label", { for: id, text: label }), input);
}

const timeOf = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const RENDER_DELAY_MS = 16;
const REMOVED_TEXT = { sender: "Message taken back by its sender.", expiry: "Message expired.",
  server: "Message removed by the server.", pending: "Message removed." };
const STATE_TEXT = { uploading: "Uploading…", sending: "Sending…", sent: "Sent",
  failed: "Failed", received: "" };
const FORGERY_TEXT = "This file does not match what its sender sent (forgery?)";
const IN_PAGE_TEXT = "This browser cannot save files while they download: the file is "
  + "decrypted in this page's memory first.";

/** Builds the static skeleton; returns its parts by name. */
function skeleton(root) {
  const parts = {
    status: el("p", { class: "v2-status", role: "status" }),
    alerts: el("ul", { class: "v2-alerts", role: "alert" }),
    announce: el("p", { class: "visually-hidden", "aria-live": "polite" }),
    list: el("ul", { class: "v2-conversations" }),
    newError: el("p", { class: "error", id: "v2-new-error", role: "alert" }),
    emails: el("input", { id: "v2-new-emails", name: "emails", autocomplete: "off",
      "aria-describedby": "v2-new-error", required: true }),
    groupName: el("input", { id: "v2-new-name", name: "name", autocomplete: "off" }),
    title: el("h2", { id: "v2-title" }),
    warnings: el("ul", { class: "v2-warnings", role: "alert" }),
    timeline: el("ol", { class: "v2-timeline", "aria-labelledby": "v2-title" }),
    text: el("textarea", { id: "v2-text", name: "text", rows: "2",
      "aria-describedby": "v2-send-error" }),
    sendError: el("p", { class: "error", id: "v2-send-error", role: "alert" }),
    attach: el("input", { type: "file", id: "v2-attach", name: "file", multiple: true,
      "aria-describedby": "v2-send-error" }),
    members: el("ul", { class: "v2-members" }),
    addEmail: el("input", { id: "v2-add-email", name: "email", autocomplete: "off",
      "aria-describedby": "v2-member-error" }),
    memberError: el("p", { class: "error", id: "v2-member-error", role: "alert" }),
    leave: el("button", { type: "button", class: "v2-leave", text: "Leave conversation" }),
  };
  parts.newForm = el("form", { class: "v2-new", "aria-label": "New conversation" },
    field("v2-new-emails", "Email address(es), separated by commas", parts.emails),
    field("v2-new-name", "Group name (for a group)", parts.groupName), parts.newError,
    el("button", { type: "submit", text: "Start conversation" }));
  parts.composer = el("form", { class: "v2-composer", "aria-label": "Write a message" },
    field("v2-text", "Message", parts.text),
    field("v2-attach", "Attach a file (or drop files on the conversation)", parts.attach),
    parts.sendError, el("button", { type: "submit", text: "Send" }));
  parts.addForm = el("form", { class: "v2-add", "aria-label": "Add a member" },
    field("v2-add-email", "Add a member by email address", parts.addEmail),
    parts.memberError, el("button", { type: "submit", text: "Add" }));
  parts.conversation = el("section", { class: "v2-conversation", hidden: true,
    "aria-labelledby": "v2-title" }, parts.title, parts.warnings, parts.timeline,
  parts.composer, el("section", { class: "v2-member-list", "aria-label": "Members" },
    el("h3", { text: "Members" }), parts.members, parts.addForm, parts.leave));
  root.replaceChildren(el("div", { class: "v2-chat" }, parts.status, parts.alerts,
    parts.announce,
    el("section", { class: "v2-sidebar", "aria-label": "Conversations" },
      el("h2", { text: "Conversations" }), parts.list, parts.newForm),
    parts.conversation));
  return parts;
}

export class ChatView {
  constructor(root, engine) {
    this.engine = engine;
    this.failure = null; // why the chat stopped, once it did
    this.parts = skeleton(root);
    this.thumbnails = new Thumbnails(engine);
    this.previews = new PreviewPanel(engine);
    this.parts.conversation.insertBefore(this.previews.element, this.parts.composer);
    this.#wire();
  }

  #wire() {
    const { engine, parts } = this;
    engine.addEventListener("change", () => this.#scheduleRender());
    engine.addEventListener("message", (e) => {
      const { entry } = e.detail;
      if (!entry.mine && entry.text !== null) {
        parts.announce.textContent = `${engine.nameOf(entry.sender)}: ${entry.text}`;
      }
      this.#scheduleRender();
    });
    parts.newForm.addEventListener("submit", (e) => { e.preventDefault(); this.#create(); });
    parts.composer.addEventListener("submit", (e) => { e.preventDefault(); this.#send(); });
    parts.text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        this.#send();
      }
    });
    parts.addForm.addEventListener("submit", (e) => { e.preventDefault(); this.#add(); });
    parts.attach.addEventListener("change", () => {
      this.#sendFiles([...parts.attach.files]);
      parts.attach.value = "";
    });
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
    parts.leave.addEventListener("click", () => this.#member(() => engine.leave(engine.openId)));
  }

  async #create() {
    const { parts, engine } = this;
    const emails = parts.emails.value.split(",").map((s) => s.trim()).filter(Boolean);
    parts.newError.textContent = "";
    if (!emails.length) {
      parts.newError.textContent = "Enter at least one email address.";
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
      console.error("v2 chat: the conversation was not created", error);
    }
  }

  #send() {
    const { parts, engine } = this;
    const text = parts.text.value;
    if (!text.trim() || !engine.openId) return;
    parts.sendError.textContent = "";
    parts.text.value = "";
    engine.sendText(engine.openId, text).then((entry) => {
      if (entry?.status === "failed") parts.sendError.textContent = `Not sent: ${entry.error}`;
    });
  }

  #sendFiles(files) {
    const { parts, engine } = this;
    if (!files.length || !engine.openId) return;
    parts.sendError.textContent = "";
    for (const file of files) {
      engine.sendFile(engine.openId, file).then((entry) => {
        if (entry?.status === "failed") {
          parts.sendError.textContent = `${entry.file.name} was not sent: ${entry.error}`;
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

  async #add() {
    const email = this.parts.addEmail.value.trim();
    if (!email) {
      this.parts.memberError.textContent = "Enter an email address.";
      return;
    }
    if (await this.#member(() => this.engine.addMember(this.engine.openId, email))) {
      this.parts.addEmail.value = "";
    }
  }

  async #member(action) {
    this.parts.memberError.textContent = "";
    try {
      await action();
      return true;
    } catch (error) {
      this.parts.memberError.textContent = error.message;
      console.error("v2 chat: the membership change failed", error);
      return false;
    }
  }

  async open(id) {
    await this.engine.open(id);
    this.render();
    this.parts.text.focus();
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
    this.previews.render();
    this.parts.status.textContent = this.failure
      ?? (this.engine.online ? "Connected" : "Reconnecting…");
    this.parts.alerts.replaceChildren(...this.engine.findings.map((f) =>
      el("li", { class: `v2-warning v2-${f.kind}`, text: f.text })));
  }

  #label(conv) {
    if (conv.name) return conv.name;
    const others = this.engine.members(conv.id).members.filter((m) => m.id !== this.engine.me.id);
    return others.map((m) => m.name).join(", ") || "Conversation";
  }

  #renderList() {
    const items = this.engine.list().map((conv) => {
      const button = el("button", { type: "button", class: "v2-open", "data-id": conv.id,
        "aria-current": conv.id === this.engine.openId ? "true" : null }, this.#label(conv));
      if (conv.unread) {
        button.append(" ", el("span", { class: "v2-unread", text: `${conv.unread} unread` }));
      }
      button.addEventListener("click", () => this.open(conv.id));
      return el("li", {}, button);
    });
    this.parts.list.replaceChildren(...items);
  }

  #renderConversation() {
    const { parts, engine } = this;
    const conv = engine.conversations.get(engine.openId);
    parts.conversation.hidden = !conv;
    if (!conv) return;
    parts.title.textContent = this.#label(conv);
    parts.warnings.replaceChildren(...conv.findings.map((f) =>
      el("li", { class: `v2-warning v2-${f.kind}`, text: f.text })));
    parts.timeline.replaceChildren(...conv.items.filter((i) => i.kind !== "warning")
      .map((item) => this.#item(item)));
    const { members, admin } = engine.members(conv.id);
    parts.members.replaceChildren(...members.map((m) => this.#memberRow(m, admin)));
    const blocked = engine.blockedReason(conv);
    parts.addForm.hidden = !admin || conv.kind === "direct" || Boolean(blocked);
    parts.leave.hidden = Boolean(conv.left);
    parts.composer.querySelector("button").disabled = Boolean(blocked);
    if (blocked) parts.sendError.textContent = `Sending is blocked: ${blocked}`;
  }

  #item(item) {
    if (item.kind === "operation") {
      return el("li", { class: "v2-operation", "data-seq": item.seq, text: item.text });
    }
    const text = item.status === "removed" ? REMOVED_TEXT[item.removedBy ?? "pending"]
      : item.status === "failed" && !item.mine
        ? "This message failed verification and is not shown." : item.text;
    return el("li", { class: `v2-message ${item.mine ? "mine" : "theirs"} ${item.status}`,
      "data-seq": item.seq ?? "" },
    el("span", { class: "sender", text: this.engine.nameOf(item.sender) }), " ",
    el("time", { datetime: new Date(item.time).toISOString(), text: timeOf(item.time) }), " ",
    item.file && item.status !== "removed" && !(item.status === "failed" && !item.mine)
      ? this.#file(item) : el("span", { class: "text", text }), " ",
    el("span", { class: "state", text: item.mine ? this.#stateText(item) : "" }));
  }

  /** A file entry: name, size, upload or download progress, Download and its outcome. */
  #file(item) {
    const { file } = item;
    const box = el("span", { class: "v2-file" }, el("span", { class: "file-name",
      text: file.name }), " ", el("span", { class: "file-size", text: formatSize(file.size) }));
    if (item.status === "uploading") {
      box.append(" ", el("progress", { max: String(item.progress.total || 1),
        value: String(item.progress.sent), "aria-label": `Uploading ${file.name}` }));
    }
    const download = item.download;
    const thumbnail = this.thumbnails.nodeFor(item);
    if (thumbnail) box.prepend(thumbnail, " ");
    if (file.uploadId && (item.status === "sent" || item.status === "received")) {
      const button = el("button", { type: "button", class: "v2-download",
        "aria-label": `Download ${file.name}`, text: "Download",
        disabled: download?.state === "downloading" });
      button.addEventListener("click", () => this.#download(item));
      const preview = el("button", { type: "button", class: "v2-preview-open",
        "aria-label": `Preview ${file.name}`, text: "Preview",
        disabled: download?.state === "downloading" });
      preview.addEventListener("click", () => this.engine.openPreview(this.engine.openId, item));
      box.append(" ", button, " ", preview);
    }
    if (download?.state === "downloading" && download.fallback) {
      box.append(" ", el("span", { class: "v2-in-page", text: IN_PAGE_TEXT }));
    }
    if (download?.state === "downloading") {
      box.append(" ", el("progress", { max: String(download.total),
        value: String(download.received), "aria-label": `Downloading ${file.name}` }));
    } else if (download?.state === "failed") {
      box.append(" ", el("span", { class: "error v2-download-error", role: "alert",
        text: download.forgery ? FORGERY_TEXT : `The download failed: ${download.error}` }));
    }
    return box;
  }

  /** "Sending…", "Sent", "Read by 2 of 3", "Failed" for one's own message. */
  #stateText(item) {
    if (item.status !== "sent" || item.seq === null) return STATE_TEXT[item.status] ?? "";
    const conv = this.engine.conversations.get(this.engine.openId);
    const others = this.engine.members(conv.id).members.filter((m) => m.id !== this.engine.me.id);
    const read = others.filter((m) => (conv.readPositions[String(m.id)] ?? 0) >= item.seq);
    return read.length ? `Read by ${read.length} of ${others.length}` : "Sent";
  }

  #memberRow(member, admin) {
    const row = el("li", { "data-id": String(member.id) }, member.name,
      member.admin ? " (admin)" : "");
    if (admin && member.id !== this.engine.me.id) {
      const remove = el("button", { type: "button", class: "v2-remove",
        "aria-label": `Remove ${member.name}`, text: "Remove" });
      remove.addEventListener("click", () =>
        this.#member(() => this.engine.removeMember(this.engine.openId, member.id)));
      row.append(" ", remove);
    }
    return row;
  }
}
