// The chat application: wires the store, the websocket, the list, the open
// conversation, uploads and notifications. Navigation between conversations
// uses the History API (/c/<id>/), never a reload.

import { del, get, post } from "./api.js";
import { ConversationView } from "./conversation.js";
import { $, toast } from "./dom.js";
import { renderConversationList } from "./list.js";
import { Notifier } from "./notifications.js";
import { ChatSocket } from "./socket.js";
import { Store } from "./store.js";
import { Uploads } from "./uploads.js";

const PAGE_SIZE = 50;
const root = $("chat-app");
const store = new Store(root.dataset.userId, root.dataset.email);
const notifier = new Notifier($("enable-notifications"));
let currentId = null;

const asList = (data, key) => (Array.isArray(data) ? data : (data?.[key] ?? []));

function newClientId() {
  return crypto.randomUUID ? crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

// --- the websocket --------------------------------------------------------------
const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
const socket = new ChatSocket(`${scheme}//${window.location.host}${root.dataset.wsPath}`, {
  since: () => store.lastSeqs(),
});

const view = new ConversationView(store, {
  send: sendText,
  retry: (message) => {
    store.pendingBucket(message.conversation).delete(message.client_id);
    view.remove(message);
    sendText(message.conversation, message.text);
  },
  unsend,
  loadOlder,
  typing: (id) => socket.notify({ type: "typing", conversation: id }),
  acceptKey,
  back: () => navigate(null),
});

const uploads = new Uploads($("uploads"), $("interrupted-uploads"), {
  endpoint: root.dataset.uploadEndpoint,
  onDone: () => {},
});

function renderList() {
  renderConversationList(store, currentId, $("conversation-list"), navigate);
}
store.addEventListener("conversations", renderList);

// --- conversations ------------------------------------------------------------------
async function loadConversations() {
  const data = await get("/api/v1/conversations");
  store.setConversations(asList(data, "conversations"));
}

// There is no single-conversation GET: the list carries members, unread
// counts and key state; the keys endpoint carries fingerprints.
async function loadConversation(id) {
  await loadConversations();
  const conversation = store.conversation(id);
  if (conversation && currentId === conversation.id) {
    await loadKeys(conversation.id);
    view.updateHeader(store.conversation(id));
  }
  return store.conversation(id) || null;
}

async function loadKeys(id) {
  try {
    const keys = await get(`/api/v1/conversations/${id}/keys`);
    const conversation = store.conversation(id);
    if (!conversation) return;
    const contacts = keys.contacts || [];
    const first = contacts[0];
    conversation.contact_fingerprint = first ? (first.pinned_fingerprint || first.directory_fingerprint) : null;
    const changed = contacts.find((c) => c.state === "changed");
    conversation.key_changed = Boolean(changed);
    conversation.key_change_contact = changed ? changed.email : null;
    conversation.key_change_fingerprint = changed ? changed.directory_fingerprint : null;
  } catch {
    /* the panel shows "not available" */
  }
}

function acceptMessages(list) {
  const out = [];
  for (const raw of list) {
    if (raw.conversation === undefined && raw.conversation_id === undefined) continue;
    socket.markSeen(raw.conversation ?? raw.conversation_id, raw.seq);
    out.push(store.putMessage(raw).message);
  }
  return out;
}

async function loadLatest(id) {
  const data = await get(`/api/v1/conversations/${id}/messages?limit=${PAGE_SIZE}`);
  const messages = acceptMessages(asList(data, "messages").map((m) => ({ conversation: id, ...m })));
  if (data && data.has_before === false) store.oldestLoaded.set(id, 1);
  return messages;
}

async function loadOlder(id, before) {
  const data = await get(`/api/v1/conversations/${id}/messages?before=${before}&limit=${PAGE_SIZE}`);
  const list = asList(data, "messages").map((m) => ({ conversation: id, ...m }));
  const messages = acceptMessages(list);
  if (data && data.has_before === false) store.oldestLoaded.set(id, 1);
  return messages;
}

// A seq we learn about (ack or live message) right after an unknown one means
// the live stream skipped something: read the gap back over HTTP.
function checkGap(id, seq) {
  const bucket = store.bucket(id);
  if (seq <= 1 || bucket.has(seq - 1) || store.oldestLoaded.get(id) === seq) return;
  let below = 0;
  for (const known of bucket.keys()) if (known < seq) below = Math.max(below, known);
  if (below === 0 && store.oldestSeq(id) === null && currentId !== id) return;
  fillGap(id, below).catch(() => {});
}

// Messages the live stream skipped (seen through a heartbeat or `synced`).
async function fillGap(id, after) {
  const data = await get(`/api/v1/conversations/${id}/messages?after=${after}&limit=${PAGE_SIZE * 4}`);
  for (const message of acceptMessages(asList(data, "messages").map((m) => ({ conversation: id, ...m })))) {
    view.upsert(message);
  }
  renderList();
}

async function navigate(id, { push = true } = {}) {
  const target = id === null ? null : Number(id);
  if (push) {
    const url = target === null ? "/" : `/c/${target}/`;
    if (window.location.pathname !== url) window.history.pushState({ id: target }, "", url);
  }
  currentId = target;
  root.dataset.view = target === null ? "list" : "conversation";
  if (target === null) {
    view.close();
    renderList();
    document.title = "Chats · SecureChat";
    return;
  }
  let conversation = store.conversation(target);
  if (!conversation) conversation = await loadConversation(target);
  if (!conversation) {
    toast("That conversation does not exist or is not yours.");
    navigate(null);
    return;
  }
  conversation.unread = 0;
  document.title = `${conversation.title} · SecureChat`;
  view.open(conversation);
  renderList();
  uploads.showInterrupted(target);
  try {
    await loadLatest(target);
    if (currentId !== target) return;
    view.open(store.conversation(target));
    markRead(target);
    await loadKeys(target); // fingerprints and key state
    if (currentId === target) view.updateHeader(store.conversation(target));
  } catch (error) {
    toast(`Could not load messages: ${error.message}`);
  }
  $("composer-text").focus({ preventScroll: true });
}

window.addEventListener("popstate", () => {
  const match = window.location.pathname.match(/^\/c\/(\d+)\/$/);
  navigate(match ? Number(match[1]) : null, { push: false });
});

// --- sending -------------------------------------------------------------------------
function sendText(id, text) {
  const clientId = newClientId();
  const local = store.addPending(id, clientId, text);
  view.upsert(local);
  socket.request({ type: "send", conversation: id, text, client_id: clientId }, { retain: true })
    .then((ack) => {
      const message = store.acknowledge(id, clientId, ack);
      if (message) {
        socket.markSeen(id, message.seq);
        view.upsert(message);
        checkGap(id, message.seq);
      }
      renderList();
    })
    .catch((error) => {
      const pending = store.pendingBucket(id).get(clientId);
      if (pending) {
        pending.state = "failed";
        view.upsert(pending);
      }
      if (error.code === "key_changed") {
        const conversation = store.conversation(id);
        if (conversation) {
          conversation.key_changed = true;
          view.setKeyChange(conversation);
        }
        loadConversation(id).catch(() => {}); // the new fingerprint for the notice
        view.showNote("Not sent: this contact's keys changed. Accept the new keys, then send again.");
      } else {
        view.showNote(`Not sent: ${error.message}`);
      }
    });
}

async function unsend(message) {
  try {
    await del(`/api/v1/conversations/${message.conversation}/messages/${message.id}`);
    const { message: updated } = store.putMessage({ ...message, deleted: true, text: null, file: null });
    view.upsert(updated, { stick: false });
    renderList();
  } catch (error) {
    toast(`Could not unsend: ${error.message}`);
  }
}

async function acceptKey(id) {
  try {
    await socket.request({ type: "accept_key", conversation: id });
  } catch (error) {
    toast(`Could not accept the keys: ${error.message}`);
    return;
  }
  const conversation = store.conversation(id);
  if (conversation) {
    conversation.key_changed = false;
    view.setKeyChange(conversation);
    view.showNote("");
    view.refreshStates(); // failed messages offer "Retry" again
  }
  await loadConversation(id);
  toast("New keys accepted.");
}

function markRead(id) {
  const conversation = store.conversation(id);
  if (!conversation || document.visibilityState !== "visible") return;
  const seq = store.maxSeq(id);
  if (seq > 0 && seq > (conversation.read_seq || 0)) {
    if (socket.notify({ type: "read", conversation: id, seq, req_id: socket.nextId() })) {
      conversation.read_seq = seq;
    }
  }
  conversation.unread = 0;
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && currentId !== null) {
    markRead(currentId);
    renderList();
  }
});

// --- new conversation -----------------------------------------------------------------
$("new-conversation").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("new-conversation-email");
  const errorBox = $("new-conversation-error");
  errorBox.hidden = true;
  const email = input.value.trim();
  if (!email) {
    errorBox.textContent = "Enter the email address of the person to write to.";
    errorBox.hidden = false;
    input.focus();
    return;
  }
  try {
    const created = await post("/api/v1/conversations", { email });
    await loadConversations();
    input.value = "";
    await navigate(Number(created.id));
  } catch (error) {
    errorBox.textContent = error.detail || error.message;
    errorBox.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
});
$("new-conversation-email").addEventListener("input", (event) => {
  event.target.removeAttribute("aria-invalid");
});

// --- frames from the server --------------------------------------------------------------
function onMessage(frame) {
  const known = store.conversation(frame.conversation);
  const { message, isNew } = store.putMessage(frame);
  if (!known) {
    loadConversations().catch(() => {});
  }
  view.upsert(message);
  if (isNew) checkGap(message.conversation, message.seq);
  if (isNew && !message.mine && !message.deleted) {
    const conversation = store.conversation(message.conversation);
    const visible = currentId === message.conversation && document.visibilityState === "visible";
    if (visible) markRead(message.conversation);
    else if (conversation) conversation.unread = (conversation.unread || 0) + 1;
    view.stopTyping(message.sender);
    const from = store.memberName(message.conversation, message.sender);
    notifier.notify({
      title: `New message from ${from}`,
      body: message.kind === "file" ? `📎 ${message.file?.name || "File"}`
        : message.signature === "invalid" ? "A message whose signature failed" : (message.text || ""),
      tag: `conversation-${message.conversation}`,
      onClick: () => navigate(message.conversation),
    });
  }
  renderList();
}

function onLastSeqs(lastSeqs) {
  for (const [key, last] of Object.entries(lastSeqs || {})) {
    const id = Number(key);
    if (!store.conversation(id)) {
      loadConversations().catch(() => {});
      continue;
    }
    const have = store.maxSeq(id);
    if (last > have && currentId === id) fillGap(id, have).catch(() => {});
    else if (last > have) {
      const conversation = store.conversation(id);
      conversation.unread = (conversation.unread || 0) + (last - have);
      conversation.last_seq = last;
    }
  }
  renderList();
}

socket.addEventListener("frame", ({ detail: frame }) => {
  switch (frame.type) {
    case "message":
      onMessage(frame);
      break;
    case "synced":
    case "heartbeat":
      onLastSeqs(frame.last_seqs);
      break;
    case "typing":
      view.showTyping(frame.conversation, frame.user);
      break;
    case "read": {
      const conversation = store.conversation(frame.conversation);
      if (conversation && Number(frame.user) !== store.userId) {
        conversation.read_by_others = Math.max(conversation.read_by_others || 0, frame.seq);
        if (currentId === conversation.id) view.refreshStates();
      }
      break;
    }
    case "key_change": {
      const conversation = store.conversation(frame.conversation);
      if (conversation) {
        conversation.key_changed = true;
        if (frame.contact !== undefined) {
          conversation.key_change_contact = store.memberName(conversation.id, frame.contact);
        }
        if (currentId === conversation.id) view.setKeyChange(conversation);
        loadConversation(conversation.id).catch(() => {});
      } else {
        loadConversations().then(() => loadConversation(frame.conversation)).catch(() => {});
      }
      break;
    }
    case "conversation":
      loadConversation(frame.conversation).catch(() => {});
      break;
    case "error":
      if (!frame.req_id && frame.error !== "rate_limited") toast(frame.detail || frame.error);
      break;
    default:
      break;
  }
});

// --- the connection banner ---------------------------------------------------------------
let countdown = null;
socket.addEventListener("state", ({ detail }) => {
  const banner = $("connection-banner");
  const text = $("connection-text");
  clearInterval(countdown);
  root.dataset.connection = detail.state;
  if (detail.state === "open") {
    banner.hidden = true;
    return;
  }
  if (detail.state === "connecting" && banner.hidden) return; // first connection
  banner.hidden = false;
  banner.dataset.state = detail.state;
  if (detail.state === "waiting") {
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((detail.until - Date.now()) / 1000));
      text.textContent = `Connection lost. Reconnecting in ${seconds} s… Messages you send now go out when it is back.`;
    };
    tick();
    countdown = setInterval(tick, 1000);
  } else if (detail.state === "connecting") {
    text.textContent = "Connection lost. Reconnecting…";
  } else if (detail.state === "offline") {
    text.textContent = detail.code === 4401 ? "You were logged out." : "Disconnected from the server.";
  }
});
$("reconnect-now").addEventListener("click", () => socket.reconnectNow());
socket.addEventListener("logged-out", () => {
  window.location.assign(`/login/?next=${encodeURIComponent(window.location.pathname)}`);
});
window.addEventListener("securechat:logged-out", () => {
  window.location.assign(`/login/?next=${encodeURIComponent(window.location.pathname)}`);
});

// --- files: choose or drop ------------------------------------------------------------------
$("file-input").addEventListener("change", (event) => {
  const files = [...event.target.files];
  event.target.value = "";
  if (currentId !== null && files.length) uploads.add(currentId, files);
});

const main = $("chat-main");
let dragDepth = 0;
const hasFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
main.addEventListener("dragenter", (event) => {
  if (!hasFiles(event) || currentId === null) return;
  event.preventDefault();
  dragDepth += 1;
  $("drop-overlay").hidden = false;
});
main.addEventListener("dragover", (event) => {
  if (!hasFiles(event) || currentId === null) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = view.blocked ? "none" : "copy";
});
main.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) $("drop-overlay").hidden = true;
});
main.addEventListener("drop", (event) => {
  event.preventDefault();
  dragDepth = 0;
  $("drop-overlay").hidden = true;
  if (currentId === null) return;
  if (view.blocked) {
    view.showNote("Accept the new keys before sending files.");
    return;
  }
  const files = [...(event.dataTransfer?.files || [])];
  if (files.length) uploads.add(currentId, files);
});

// The latest message of the most recent conversations, for the list's previews.
async function loadPreviews(max = 20) {
  for (const conversation of store.sortedConversations().slice(0, max)) {
    if (conversation.preview || !conversation.last_seq) continue;
    try {
      const data = await get(`/api/v1/conversations/${conversation.id}/messages?limit=1`);
      const [last] = asList(data, "messages");
      if (last && !conversation.preview) {
        conversation.preview = store.normalizeMessage({ conversation: conversation.id, ...last });
      }
    } catch {
      /* a preview is a nicety */
    }
  }
  renderList();
}

// --- start ------------------------------------------------------------------------------------
async function start() {
  get("/api/v1/me").then((me) => {
    store.ownFingerprint = me.fingerprint;
  }).catch(() => {});
  try {
    await loadConversations();
  } catch (error) {
    toast(`Could not load conversations: ${error.message}`);
  }
  renderList();
  loadPreviews();
  socket.start();
  const initial = root.dataset.initialConversation;
  if (initial) await navigate(Number(initial), { push: false });
}

start();
