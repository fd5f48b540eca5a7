// The version 2 conversation engine (the store of the v2 chat; no DOM). It holds the
// user's keys in memory, verifies every membership chain from `create` and every epoch
// before using it, seals and signs messages on this device, and opens and verifies what
// arrives; the server only stores and forwards ciphertext (DESIGN.md §3, §5).
//
// Events (EventTarget): "change" {conversation} whenever state a view shows changed;
// "finding" {conversation, kind, text} for what the user must see (kinds: membership,
// epoch, equivocation, verify, missing, history, clock, removed, key-change, unknown-key);
// "message" {conversation, entry} for each newly shown message (for aria-live);
// "typing" {conversation, user} for another member's typing hint (never stored);
// "unsent" {conversation, hash, entry} once a message is deleted for everyone (its text
// is gone from the store: the view drops every copy it made, e.g. notifications, search
// results, thumbnails).
//
// Ordering: every server item (socket frames, HTTP answers) and every own change goes
// through one promise queue, so the timeline of each conversation is applied exactly once,
// in seq order, and a change is signed against the state it follows.
//
// Pins (DESIGN.md §3 "Public keys and pinning"; pins.js): the first directory answer for
// a contact (by address, or by id through GET …/<conversation>/keys) is pinned in the pin
// blob; a later answer that differs for a pinned generation is a key-change finding and
// its keys are not used (what they signed fails verification). Endorsements between
// generations are not followed yet: a newer generation is pinned with a notice.
import { base64urlnopad } from "@scure/base";

import { logFailure, logWarning } from "../../common/log.js";
import {
  buildEpoch, bytesEqual, disputedMembers, epochDue, EpochRegistry, fingerprintsOf, fromHex,
  MembershipChain, messageHash, openEpoch, openMessage, operationHash, parseEpochStatement,
  parseMessageStatement, parseOperation, randomBytes, sealMessage, signFileClaim, signingPublicKey,
  signOperation, signStatement, toHex, verifyMessageStatement, messageStatement, ZERO_HASH,
} from "../../crypto/index.js";
import { CANNOT_OPEN_KIND, CANNOT_OPEN_TYPE, cannotOpenDocument, cannotOpenLine, checkGroupName,
  readCannotOpen, refusalOf, renameLine } from "./groups.js";
import * as fileTransfers from "../files/index.js";
import { THUMBNAIL_MAX } from "../files/thumbnail.js";
import { ACTION_TYPES, checkActionDocument } from "./actions.js";
import { ApiFailure, b64, createApi, unb64 } from "./api.js";
import { DeviceState } from "./device.js";
import { applyEdit, editDocument, tombstone, unsendDocument } from "./edits.js";
import { safeFileName } from "./filename.js";
import { PinStore } from "./pins.js";
import { applyReaction, reactionDocument } from "./reactions.js";
import { replyDocument } from "./replies.js";
import { ChatSocket } from "./socket.js";
import { CHAT, FINDINGS, operationLine } from "../strings.js";

export const BASE = "/api/v1/v2/conversations";
export const CLOCK_SKEW_MS = 10 * 60 * 1000;
export const TYPING_EVERY_MS = 3000; // at most one typing hint per conversation this often
export const UNSEND_UNDO_MS = 5000; // "Delete for everyone" waits this long for an Undo
/** The timeline line of membership operation `op`; `name(userId)` gives a display name. */
function operationText(op, name) {
  const seconds = op.kind === "set-expiry"
    ? new DataView(op.argument.buffer, op.argument.byteOffset, 8).getBigUint64(0) : 0n;
  return operationLine(op.kind, name(op.actorId), op.targetId ? name(op.targetId) : "", seconds);
}

const signedJson = (s) => ({ statement: b64(s.statement), signature: b64(s.signature) });
const epochJson = (e) => ({ envelope: b64(e.envelope), ...signedJson(e) });
const reasonOf = (error) => error?.message || String(error);

/** A Storage-like object in memory (getItem/setItem), gone with the page. */
function memoryStorage() {
  const values = new Map();
  return { getItem: (key) => values.get(key) ?? null,
    setItem: (key, value) => values.set(key, String(value)) };
}

/**
 * The conversation engine; `start()` loads the list and opens the socket. `keys` is the
 * shell's mount contract (static/js/v2/mount.js); its optional `recipient` (the current
 * age recipient, computed from the identity) must be the directory's, and `shared` keeps
 * the device state in memory only.
 */
export class ChatEngine extends EventTarget {
  // The engine owns the chat's state (issue 18): views read it (the getters below, the
  // conversations) and change it only through the methods here, which emit "change"
  // (and "finding", "typing", …) for the views to render again.
  #queue = Promise.resolve();
  #unsent = [];
  #pendingUnsends = new Set(); // entries whose "Delete for everyone" waits for an Undo
  #files; // static/js/v2/files/ (uploadFile, downloadFile, previews, …)
  #preview = null; // the open preview (openPreview), at most one
  // What this client shares (usePrivacy): read receipts and typing hints.
  #privacy = { readReceipts: true, typing: true };
  #openId = null;
  #online = false;

  constructor(keys, { api = createApi(), socket = new ChatSocket(),
    storage = globalThis.localStorage, now = () => Date.now(),
    files = fileTransfers, outbox = null } = {}) {
    super();
    // Messages waiting to send, kept across reloads (outbox.js; null: in memory only).
    this.outbox = outbox;
    this.#files = files;
    this.me = { id: BigInt(keys.user.id), email: keys.user.email,
      generation: BigInt(keys.generation) };
    this.keys = keys;
    this.seed = keys.signingSeed;
    this.pins = null; // the PinStore, once the own keys are known (start)
    this.findings = []; // findings about no one conversation (keys, pins)
    this.identity = keys.ageIdentities[0];
    this.api = api;
    this.socket = socket;
    this.now = now;
    // A shared computer keeps nothing in the browser's storage (protocol.md §23).
    this.device = new DeviceState(keys.user.id, keys.shared ? memoryStorage() : storage);
    // String(user id) → {id, email, displayName, keys: Map(String(gen) → keys), current}
    this.contacts = new Map();
    this.conversations = new Map(); // hex id → conversation state
    this.registry = new EpochRegistry();
    this.unsendUndoMs = UNSEND_UNDO_MS; // how long "Delete for everyone" offers an Undo
    this.keyLookup = (userId, generation) =>
      this.contacts.get(String(userId))?.keys.get(String(generation)) ?? null;
  }

  /** The file functions in use (static/js/v2/files/), read by the preview view. */
  get files() { return this.#files; }

  /** The open preview ({entry, state, kind, blob}; openPreview), or null. */
  get preview() { return this.#preview; }

  /** What this client shares: {readReceipts, typing}. */
  get privacy() { return this.#privacy; }

  /** The open conversation's hex id, or null. */
  get openId() { return this.#openId; }

  /** Whether the socket is up. */
  get online() { return this.#online; }

  /** Uploads go through `uploadFile(file, options)` (the resumable manager of the
   *  page) instead of the default; downloads and previews stay as they are. */
  routeUploads(uploadFile) {
    this.#files = { ...this.#files, uploadFile };
  }

  /** The person's sharing choices (privacy.js PrivacySettings: {readReceipts, typing}),
   *  read whenever the engine would send a read position or a typing hint. */
  usePrivacy(settings) {
    this.#privacy = settings;
  }

  async start() {
    const own = await this.lookup(this.me.email);
    const mine = own.keys.get(String(this.me.generation));
    if (!mine || !bytesEqual(mine.ed25519, signingPublicKey(this.seed))
      || (this.keys.recipient && mine.recipient !== this.keys.recipient)) {
      throw new Error(FINDINGS.notListed);
    }
    this.myKeys = mine;
    this.pins = new PinStore(this.api, mine, this.seed, this.keys.ageIdentities, this.keyLookup);
    try {
      await this.pins.load();
    } catch (error) {
      this.#finding(null, "pins", FINDINGS.pins(reasonOf(error)));
    }
    await this.loadList(true);
    await this.#restoreWaiting();
    this.socket.addEventListener("open", () => this.#onOpen());
    this.socket.addEventListener("down", () => this.#setOnline(false));
    this.socket.addEventListener("frame", (e) => this.#enqueue(() => this.#onFrame(e.detail)));
    this.socket.connect();
  }

  /** Stops the socket; a "Delete for everyone" still in its Undo time is not sent. */
  stop() {
    this.socket.stop();
    for (const entry of this.#pendingUnsends) {
      clearTimeout(entry.unsending.timer);
      entry.unsending = null;
    }
    this.#pendingUnsends.clear();
  }

  /** Runs `task` after everything queued before it; its result (errors logged too). */
  #enqueue(task) {
    const run = this.#queue.then(task);
    this.#queue = run.catch((error) => logFailure("v2 chat", "a queued task failed", error));
    return run;
  }

  /** #enqueue for a caller that goes on either way: resolves once `task` has run; a
   *  failure is logged by the queue and not thrown. */
  #enqueueSettled(task) {
    this.#enqueue(task);
    return this.#queue;
  }

  /** Resolves once everything queued so far has run. */
  settled() {
    return this.#enqueue(() => undefined);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #finding(conv, kind, text) {
    const finding = { kind, text, time: this.now() };
    if (conv) {
      conv.findings.push(finding);
      conv.items.push({ kind: "warning", text, time: finding.time, seq: null });
    } else {
      this.findings.push(finding);
    }
    logWarning(`v2 chat ${kind}`, text);
    this.#emit("finding", { conversation: conv?.id ?? null, kind, text });
  }

  // --- contacts and pins ------------------------------------------------------------------

  /** The directory entry of `email`, pinned on first use; ApiFailure 404 for no account. */
  async lookup(email) {
    return this.#pin(await this.api.get(`/api/v1/directory?email=${encodeURIComponent(email)}`));
  }

  /**
   * Pins the directory entries of everyone `conv`'s record names (GET …/keys) when one of
   * `ids` has no pin yet; the chain's fingerprints and the epochs' member lists are then
   * checked against these pins (a mismatch refuses the epoch).
   */
  async #ensureKeys(conv, ids) {
    const unknown = ids.filter((id) => !this.contacts.has(String(id)));
    if (unknown.every((id) => conv.keysAsked.has(String(id)))) return; // asked: no answer
    unknown.forEach((id) => conv.keysAsked.add(String(id)));
    const answer = await this.api.get(`${BASE}/${conv.id}/keys`);
    for (const entry of answer.users) this.#pin(entry);
  }

  /** Pins `{id, email, display_name, key_generations}` on first sight; a differing pinned key is a finding. */
  #pin(answer) {
    const id = String(answer.id);
    const contact = this.contacts.get(id) ?? { id: BigInt(answer.id), email: answer.email,
      keys: new Map(), current: 0n };
    contact.displayName = answer.display_name ?? ""; // the newest answer's: names change
    for (const row of answer.key_generations) {
      const keys = { userId: BigInt(answer.id), generation: BigInt(row.number),
        recipient: row.recipient, ed25519: base64urlnopad.decode(row.signing_key) };
      const verdict = this.pins && keys.userId !== this.me.id ? this.pins.check(keys) : "new";
      if (verdict === "changed") {
        this.#finding(null, "key-change", FINDINGS.otherKey(answer.email, row.number));
        continue;
      }
      if (verdict === "newer") {
        this.#finding(null, "key-change", `${answer.email} has a new key (generation `
          + `${row.number}).`);
      }
      const pinned = contact.keys.get(String(row.number));
      if (!pinned) {
        contact.keys.set(String(row.number), keys);
      } else if (pinned.recipient !== keys.recipient || !bytesEqual(pinned.ed25519, keys.ed25519)) {
        this.#finding(null, "key-change", FINDINGS.keyChanged(answer.email, row.number));
      }
      if (keys.generation > contact.current) contact.current = keys.generation;
    }
    this.contacts.set(id, contact);
    this.#emit("change", { conversation: null });
    return contact;
  }

  /**
   * What to call a user (BigInt or number): "You", else their display name, else their
   * address. A display name proves nothing, so the address follows it whenever another
   * known contact has the same name or the name could pass for an address.
   */
  nameOf(userId) {
    if (BigInt(userId) === this.me.id) return CHAT.you;
    const contact = this.contacts.get(String(userId));
    if (!contact) return `user ${userId}`;
    const name = contact.displayName;
    if (!name) return contact.email;
    const shared = [...this.contacts.values()].some((other) => other !== contact
      && other.displayName.toLocaleLowerCase() === name.toLocaleLowerCase());
    return shared || name.includes("@") ? `${name} (${contact.email})` : name;
  }

  /** The address of a user id, for hover text and member lists ("" when unknown). */
  emailOf(userId) {
    return this.contacts.get(String(userId))?.email ?? "";
  }

  #currentKeys(userId) {
    const contact = this.contacts.get(String(userId));
    return contact ? contact.keys.get(String(contact.current)) : null;
  }

  // --- conversations ----------------------------------------------------------------------

  /**
   * The state of conversation `id`, made on first sight. From the first list, its unread
   * count is the server's and the replay counts only what arrives after; one found later
   * (added meanwhile) counts every message of others above this user's read position.
   */
  #conversation(id, summary = {}, initial = false) {
    let conv = this.conversations.get(id);
    const fresh = !conv;
    if (!conv) {
      conv = { id, idBytes: fromHex(id), kind: summary.kind ?? "group", name: "",
        chain: new MembershipChain(this.keyLookup, summary.member_limit ?? 100),
        epochs: new Map(), latestEpoch: null, opened: null, items: [], lastSeq: 0,
        unread: 0, countedUpTo: 0, readPositions: {}, departed: new Set(), findings: [],
        byClientId: new Map(), hashes: new Map(), devices: new Map(), lastMessage: null,
        notForMe: new Set(), disputed: new Set(), keysAsked: new Set(),
        byHash: new Map(), broken: null, left: false, renaming: null, reported: new Set() };
      this.conversations.set(id, conv);
    }
    if (summary.last_seq !== undefined) {
      conv.kind = summary.kind;
      conv.readPositions = summary.read_positions;
      if (fresh && initial) {
        conv.unread = summary.unread;
        conv.countedUpTo = summary.last_seq;
      } else if (fresh) {
        conv.countedUpTo = summary.read_positions[String(this.me.id)] ?? 0;
      }
    }
    return conv;
  }

  async loadList(initial = false) {
    const answer = await this.api.get(BASE);
    for (const summary of answer.conversations) {
      this.#conversation(summary.id, summary, initial);
    }
    this.#emit("change", { conversation: null });
  }

  /** Conversations for a list view, most recent activity first. */
  list() {
    return [...this.conversations.values()].sort((a, b) => b.lastSeq - a.lastSeq);
  }

  /** Marks `id` as the one shown: its unread count drops and the read position moves. */
  async open(id) {
    this.#openId = id;
    const conv = this.conversations.get(id);
    if (!conv) return;
    conv.unread = 0;
    this.#emit("change", { conversation: id });
    await this.#markRead(conv);
  }

  /**
   * Tells the other members that this user is typing in `id`: a hint the server relays and
   * never stores (metadata it sees), sent at most once per TYPING_EVERY_MS.
   */
  typing(id) {
    if (!this.#privacy.typing) return; // the person chose to send none
    const conv = this.conversations.get(id);
    const now = this.now();
    if (!conv || conv.left || now - (conv.typingSentAt ?? -Infinity) < TYPING_EVERY_MS) return;
    conv.typingSentAt = now;
    this.socket.send({ type: "typing2", conversation: id });
  }

  /** Stores the read position of the open conversation, at most one request at a time. */
  async #markRead(conv) {
    if (!this.#privacy.readReceipts) return; // no read position leaves this client
    if (conv.reading) conv.readAgain = true; // stored once the request under way is done
    if (conv.left || conv.lastSeq === 0 || conv.reading) return;
    conv.reading = true;
    try {
      do {
        conv.readAgain = false;
        await this.api.post(`${BASE}/${conv.id}/read`, { seq: conv.lastSeq });
      } while (conv.readAgain && !conv.left);
    } catch (error) {
      logFailure("v2 chat", "the read position was not stored", error);
    } finally {
      conv.reading = false;
    }
  }

  /** {members: [{id, name, admin, vouchedBy}], admin: am I an admin} of the verified chain
   *  (vouchedBy: the id of the member whose signed add carried its keys). */
  members(id) {
    const conv = this.conversations.get(id);
    if (!conv || conv.chain.operations.length === 0) return { members: [], admin: false };
    const { state } = conv.chain;
    const members = [...state.members.keys()].filter((m) => !conv.departed.has(m))
      .map((m) => ({ id: m, name: this.nameOf(m), email: this.emailOf(m),
        admin: state.admins.has(m), vouchedBy: state.members.get(m).vouchedBy }));
    return { members, admin: state.admins.has(this.me.id) };
  }

  // --- incoming ---------------------------------------------------------------------------

  #setOnline(online) {
    this.#online = online;
    this.#emit("change", { conversation: null });
  }

  #onOpen() {
    this.#setOnline(true);
    this.#sync();
    this.#enqueue(() => this.#resendUnsent());
  }

  #sync() {
    const positions = {};
    for (const conv of this.conversations.values()) positions[conv.id] = conv.lastSeq;
    this.socket.send({ type: "sync2", positions });
  }

  async #onFrame(frame) {
    if (frame.type === "message2") {
      await this.#ingest(frame.conversation, frame.item);
    } else if (frame.type === "heartbeat") {
      // A push lost on the way shows as a last seq above ours: sync again (dedup by seq).
      const behind = Object.entries(frame.last_seqs ?? {}).some(([id, seq]) =>
        seq > (this.conversations.get(id)?.lastSeq ?? 0));
      if (behind) this.#sync();
      // What waits after a failed HTTP read (the catch-up before sealing) is tried again.
      if (this.#unsent.length) this.#enqueue(() => this.#resendUnsent());
    } else if (frame.type === "synced2") {
      this.#judgeTombstones();
      this.#emit("synced", { lastSeqs: frame.last_seqs });
    } else if (frame.type === "key_change2") {
      await this.#onKeyChange(BigInt(frame.user));
    } else if (frame.type === "read2") {
      const conv = this.conversations.get(frame.conversation);
      if (conv) conv.readPositions = { ...conv.readPositions, [String(frame.user)]: frame.seq };
      this.#emit("change", { conversation: frame.conversation });
    } else if (frame.type === "typing2") {
      this.#emit("typing", { conversation: frame.conversation, user: BigInt(frame.user) });
    } else if (frame.type === "error") {
      logFailure("v2 chat", "the server refused a frame", frame);
    }
  }

  async #ingestItems(conv, items) {
    for (const item of items) await this.#ingest(conv.id, item);
  }

  /** Applies one timeline item exactly once, in seq order (a gap is read first). */
  async #ingest(id, item) {
    if (!this.conversations.has(id)) await this.loadList();
    const conv = this.#conversation(id);
    if (item.seq <= conv.lastSeq) return;
    if (item.seq > conv.lastSeq + 1) await this.#catchUp(conv, item.seq - 1);
    if (item.seq <= conv.lastSeq) return;
    try {
      if (item.type === "operation") await this.#onOperation(conv, item);
      else if (item.type === "epoch") await this.#onEpoch(conv, item);
      else if (item.type === "message") await this.#onMessage(conv, item);
      else if (item.type === "notice") this.#onNotice(conv, item);
      else if (item.type === "tombstone") this.#onTombstone(conv, item);
    } catch (error) {
      if (error instanceof ApiFailure && (error.status === 0 || error.status >= 500)) {
        throw error; // not applied: the next sync2 or heartbeat brings it again
      }
      logFailure("v2 chat", "a timeline item failed", error);
      this.#finding(conv, "verify", FINDINGS.entry(item.seq, reasonOf(error)));
    }
    conv.lastSeq = item.seq;
    if (this.#openId === id) this.#markRead(conv);
    this.#emit("change", { conversation: id });
  }

  /** Reads the timeline over HTTP up to `upto` (a gap, or before acting on fresh state). */
  async #catchUp(conv, upto = Infinity) {
    while (conv.lastSeq < upto) {
      const answer = await this.api.get(`${BASE}/${conv.id}/timeline?after=${conv.lastSeq}`);
      const items = answer.items.filter((item) => item.seq <= upto);
      if (!items.length) return;
      for (const item of items) await this.#ingest(conv.id, item);
    }
  }

  async #onOperation(conv, item) {
    let { statement, signature } = item;
    if (!statement) { // live pushes leave them out: read them from the chain
      const chain = await this.api.get(`${BASE}/${conv.id}/members`);
      ({ statement, signature } = chain.operations.find((op) => op.seq === item.seq) ?? {});
      if (!statement) throw new Error("the server does not show the announced operation");
    }
    const bytes = unb64(statement);
    try {
      const parsed = parseOperation(bytes);
      await this.#ensureKeys(conv, [parsed.actorId, parsed.targetId].filter((id) => id));
    } catch (error) {
      logFailure("v2 chat", "an operation that does not parse", error); // refused below
    }
    try {
      conv.chain.append(bytes, unb64(signature));
      this.#checkVouched(conv);
    } catch (error) {
      conv.broken ??= reasonOf(error);
      this.#finding(conv, "membership", FINDINGS.membershipRefused(item.index, reasonOf(error)));
      return;
    }
    const op = conv.chain.operations.at(-1);
    const entry = { kind: "operation", seq: item.seq, time: item.server_time,
      text: operationText(op, (userId) => this.nameOf(userId)) };
    conv.items.push(entry);
    // The new name travels only in the epoch that signs this rename as its chain head.
    if (op.kind === "rename") conv.renaming = { entry, actor: op.actorId, head: conv.chain.state.head };
    if ((op.kind === "remove" && op.targetId === this.me.id)
      || (op.kind === "leave" && op.actorId === this.me.id)) {
      conv.left = true;
    }
  }

  /**
   * A contact's new key generation, pushed live: its directory entry is read again (through
   * a conversation it shares) and judged against the pins, so the notice shows at once.
   */
  async #onKeyChange(userId) {
    const conv = [...this.conversations.values()].find((c) => c.chain.operations.length
      && c.chain.state.members.has(userId) && !c.left);
    if (!conv) return;
    const answer = await this.api.get(`${BASE}/${conv.id}/keys`);
    for (const entry of answer.users) {
      if (BigInt(entry.id) === userId) this.#pin(entry);
    }
  }

  /** A member the chain vouches for with other keys than this client pinned: an alert. */
  #checkVouched(conv) {
    for (const id of disputedMembers(conv.chain.state, this.keyLookup)) {
      if (conv.disputed.has(id)) continue;
      conv.disputed.add(id);
      this.#finding(conv, "key-change", FINDINGS.addedWithOtherKey(this.nameOf(id)));
    }
  }

  async #onEpoch(conv, item) {
    const number = BigInt(item.number);
    const hash = fromHex(item.envelope_hash);
    try {
      this.registry.record(conv.idBytes, number, hash);
    } catch (error) {
      this.#finding(conv, "equivocation", FINDINGS.equivocation);
      return;
    }
    const answer = await this.api.get(`${BASE}/${conv.id}/epochs?after=${number - 1n}`);
    const stored = answer.epochs.find((e) => e.number === item.number);
    if (!stored || stored.envelope_hash !== item.envelope_hash) {
      throw new Error(`the server does not show epoch ${item.number} as announced`);
    }
    const [envelope, statement, signature] = [stored.envelope, stored.statement,
      stored.signature].map(unb64);
    const parsed = parseEpochStatement(statement);
    if (!bytesEqual(parsed.envelopeHash, hash) || parsed.epoch !== number) {
      throw new Error(`epoch ${item.number} is not the announced one`);
    }
    await this.#ensureKeys(conv, parsed.members.map((entry) => entry.userId));
    if (!parsed.members.some((entry) => entry.userId === this.me.id)) {
      conv.latestEpoch = parsed; // not for this member (before it joined, or after it left)
      conv.notForMe.add(String(number));
      return;
    }
    await this.#openEpoch(conv, envelope, statement, signature, parsed);
  }

  async #openEpoch(conv, envelope, statement, signature, parsed) {
    try {
      const opened = await openEpoch(envelope, statement, signature, { me: this.myKeys,
        identity: this.identity, chain: conv.chain, keyLookup: this.keyLookup,
        previous: conv.latestEpoch, departed: conv.departed });
      conv.epochs.set(String(parsed.epoch), opened);
      conv.latestEpoch = opened.statement;
      conv.opened = opened;
      conv.name = opened.name;
      if (conv.renaming && bytesEqual(opened.statement.chainHead, conv.renaming.head)) {
        conv.renaming.entry.text = renameLine(this.nameOf(conv.renaming.actor), opened.name);
        conv.renaming = null;
      }
    } catch (error) {
      conv.latestEpoch = parsed;
      this.#finding(conv, "epoch", FINDINGS.epoch(parsed.epoch, reasonOf(error)));
      // Listed with this member's keys, but its stanza does not open: report it (signed)
      // and replace it, once everything up to now has been read.
      if (error.code === "cannot_open") this.#enqueue(() => this.#reportCannotOpen(conv, parsed));
    }
  }

  /**
   * A removed message (§19): believed as "unsend" only once the sender's signed unsend
   * naming it arrives (later in the timeline), as "expiry" only when the chain set one;
   * checked after each sync (`#judgeTombstones`), else "removed by the server".
   */
  #onTombstone(conv, item) {
    const entry = { kind: "message", mine: BigInt(item.sender) === this.me.id,
      sender: BigInt(item.sender), seq: item.seq, time: item.server_time, text: null,
      status: "removed", removedBy: null, reason: item.reason };
    if (item.reason === "expiry" && conv.chain.operations.length
      && conv.chain.state.expirySeconds > 0n) {
      entry.removedBy = "expiry";
    }
    entry.hash = item.message_hash;
    conv.byHash.set(item.message_hash, entry);
    conv.items.push(entry);
  }

  #judgeTombstones() {
    for (const conv of this.conversations.values()) {
      for (const entry of conv.items) {
        if (entry.status !== "removed" || entry.removedBy !== null) continue;
        entry.removedBy = "server";
        this.#finding(conv, "removed", FINDINGS.removedByServer(this.nameOf(entry.sender)));
      }
    }
    this.#emit("change", { conversation: null });
  }

  #onNotice(conv, item) {
    conv.departed.add(BigInt(item.user));
    conv.items.push({ kind: "operation", seq: item.seq, time: item.server_time,
      text: FINDINGS.serverRemoved(this.nameOf(item.user), item.reason) });
    if (BigInt(item.user) === this.me.id) conv.left = true;
  }

  async #onMessage(conv, item) {
    const sender = BigInt(item.sender);
    await this.#ensureKeys(conv, [sender]);
    const mine = sender === this.me.id;
    const dedupKey = `${item.sender}:${item.client_message_id}`;
    const pending = conv.byClientId.get(dedupKey);
    if (pending && pending.seq !== null) return; // the same message again (a replay)
    const entry = pending ?? { kind: "message", mine, sender, seq: null, text: null };
    entry.seq = item.seq;
    entry.time = item.server_time;
    const epoch = conv.epochs.get(String(item.epoch));
    if (conv.notForMe.has(String(item.epoch))) return; // sent before this member joined
    try {
      const doc = this.#openItem(conv, item, epoch);
      if (ACTION_TYPES.has(doc.type)) { // edits, reactions, unsends change their target
        conv.byClientId.set(dedupKey, entry);
        if (pending) conv.items.splice(conv.items.indexOf(pending), 1);
        this.#applyAction(conv, sender, doc, item.seq);
        return;
      }
      if (doc.type === CANNOT_OPEN_TYPE) {
        conv.byClientId.set(dedupKey, entry);
        this.#applyCannotOpen(conv, sender, doc, item);
        return;
      }
      if (doc.type === "file") entry.file = ChatEngine.fileOf(doc);
      entry.text = ChatEngine.textOf(doc);
      if (doc.type === "reply") entry.replyTo = doc.target;
      entry.status = mine ? "sent" : "received";
      entry.hash = item.message_hash;
      conv.byHash.set(item.message_hash, entry);
    } catch (error) {
      entry.text = null;
      entry.status = "failed";
      entry.error = reasonOf(error);
      this.#finding(conv, "verify", FINDINGS.messageFailed(this.nameOf(sender), entry.error));
    }
    conv.byClientId.set(dedupKey, entry);
    if (pending) conv.items.splice(conv.items.indexOf(pending), 1); // now in its seq place
    conv.items.push(entry);
    if (!mine && item.seq > conv.countedUpTo && this.#openId !== conv.id) conv.unread += 1;
    if (entry.status !== "failed") this.#emit("message", { conversation: conv.id, entry });
  }

  /** The text of a message item, verified against this client's own state; throws. */
  #openItem(conv, item, epoch) {
    if (!epoch) throw new Error(`no opened key for epoch ${item.epoch}`);
    const sender = BigInt(item.sender);
    if (!epoch.statement.members.some((entry) => entry.userId === sender)) {
      throw new Error("the sender is not a member of the message's epoch");
    }
    const statementBytes = unb64(item.statement);
    const parsed = parseMessageStatement(statementBytes);
    const keys = this.keyLookup(sender, parsed.senderGeneration);
    if (!keys) throw new Error("no pinned key for the sender");
    const box = unb64(item.box);
    const context = { conversationId: conv.idBytes, epoch: BigInt(item.epoch),
      envelopeHash: this.registry.hashOf(conv.idBytes, BigInt(item.epoch)), senderId: sender,
      senderGeneration: parsed.senderGeneration, deviceId: fromHex(item.device_id),
      deviceCounter: BigInt(item.counter) };
    verifyMessageStatement(keys.ed25519, statementBytes, unb64(item.signature), { context, box });
    const doc = JSON.parse(openMessage({ box, epochSecret: epoch.secret, context }));
    if (doc?.v !== 2 || typeof doc.type !== "string") throw new Error("not a version 2 message");
    if ((doc.type === "file") !== (parsed.kind === "file")) {
      throw new Error("the signed kind does not match the message");
    }
    checkActionDocument(doc, parsed.kind);
    this.#checkHistory(conv, item, parsed, messageHash(statementBytes));
    return doc;
  }

  /** The text a view shows for an opened document (kinds it does not show yet: a note). */
  static textOf(doc) {
    if (doc.type === "file") return CHAT.file(safeFileName(doc.name));
    return (doc.type === "text" || doc.type === "reply") && typeof doc.text === "string"
      ? doc.text
      : `(a ${doc.type} message, which this view does not show yet)`;
  }

  /**
   * The `file` of an entry from a verified file document (protocol.md §24 "File
   * messages"); throws on a malformed one. The name is the sender's: shown and saved only
   * as safeFileName() makes it.
   */
  static fileOf(doc) {
    const count = (n) => Number.isSafeInteger(n) && n >= 0;
    if (typeof doc.name !== "string" || typeof doc.mime !== "string" || !count(doc.size)
      || !count(doc.length) || doc.length < 1 || !/^[0-9a-f]{32}$/.test(doc.upload_id)
      || !/^AGE-SECRET-KEY-[0-9A-Z-]+$/.test(doc.identity)
      || !/^[0-9a-f]{64}$/.test(doc.file_hash)) {
      throw new Error("a malformed file message");
    }
    return { name: safeFileName(doc.name), mime: doc.mime, size: doc.size,
      length: doc.length, uploadId: doc.upload_id, identity: doc.identity,
      fileHash: doc.file_hash, thumbnail: ChatEngine.thumbnailOf(doc.thumbnail) };
  }

  /** The optional `thumbnail` (base64, at most 8 KiB decoded) as bytes, or null: a
   *  missing or malformed one is ignored (it is decoration; the file is what is signed). */
  static thumbnailOf(value) {
    if (typeof value !== "string" || value.length > 4 * Math.ceil(THUMBNAIL_MAX / 3)) return null;
    try {
      return unb64(value);
    } catch {
      return null; // a malformed thumbnail is ignored, as documented above
    }
  }

  /** A verified unsend: its target (a shown message or a tombstone) by the same sender. */
  #applyUnsend(conv, sender, doc) {
    const target = typeof doc.target === "string" ? conv.byHash.get(doc.target) : undefined;
    if (!target || target.sender !== sender) {
      this.#finding(conv, "verify", FINDINGS.tookBack(this.nameOf(sender)));
      return;
    }
    tombstone(target); // first: what listeners of "unsent" read holds no text any more
    if (this.#preview?.entry === target) this.closePreview();
    this.#emit("unsent", { conversation: conv.id, hash: doc.target, entry: target });
  }

  /** A verified edit, reaction or unsend from `sender` at `seq`, applied to its target. */
  #applyAction(conv, sender, doc, seq) {
    if (doc.type === "unsend") {
      this.#applyUnsend(conv, sender, doc);
    } else if (doc.type === "edit") {
      const problem = applyEdit(conv, sender, doc, seq);
      if (problem) this.#finding(conv, "verify", `${this.nameOf(sender)} ${problem}.`);
    } else if (!applyReaction(conv, sender, doc, seq)) {
      logWarning("v2 chat", `a reaction of ${this.nameOf(sender)} to a message not held here`);
    }
  }

  /** A verified cannot-open notice, shown against the epoch's creator; else a finding. */
  #applyCannotOpen(conv, sender, doc, item) {
    try {
      const notice = readCannotOpen(doc, { sender, conversationId: conv.idBytes,
        keyLookup: this.keyLookup, hashOf: (n) => this.registry.hashOf(conv.idBytes, n) });
      if (sender === this.me.id) conv.reported.add(toHex(notice.envelopeHash));
      conv.items.push({ kind: "operation", seq: item.seq, time: item.server_time,
        text: cannotOpenLine(notice, (id) => this.nameOf(id)) });
    } catch (error) {
      this.#finding(conv, "verify", FINDINGS.noticeFailed(this.nameOf(sender), reasonOf(error)));
    }
  }

  /**
   * After an epoch listing this member did not open (`parsed`): reads the timeline up to
   * now, and when that epoch is still the newest and not yet reported by this user,
   * creates a replacement epoch and sends the signed notice in it (DESIGN.md §3).
   */
  async #reportCannotOpen(conv, parsed) {
    try {
      await this.#catchUp(conv);
      if (conv.latestEpoch !== parsed || conv.reported.has(toHex(parsed.envelopeHash))
        || this.blockedReason(conv)) return;
      await this.#publish(conv, cannotOpenDocument(this.seed, this.me, conv.idBytes, parsed),
        CANNOT_OPEN_KIND);
      this.#emit("change", { conversation: conv.id });
    } catch (error) {
      logFailure("v2 chat", "the cannot-open notice was not sent", error);
    }
  }

  /**
   * Seals `doc` (statement kind `kind`) in a current epoch and POSTs it to `path` (an
   * unsend has its own URL) under `clientMessageId`, then reads the stored item back; a
   * stale epoch is caught up and sealed again (twice at most).
   */
  async #publish(conv, doc, kind, { clientMessageId = randomBytes(16), path = "messages" } = {},
    attempt = 0) {
    await this.#ensureEpoch(conv); // the replacement, when the newest does not open here
    let answer;
    try {
      answer = await this.api.post(`${BASE}/${conv.id}/${path}`,
        this.#seal(conv, doc, clientMessageId, kind));
    } catch (error) {
      if (error.code !== "stale_epoch" || attempt >= 2) throw error;
      await this.#catchUp(conv);
      return this.#publish(conv, doc, kind, { clientMessageId, path }, attempt + 1);
    }
    await this.#ingestItems(conv, answer.items);
  }

  /** Counter gaps, unknown previous hashes, a forked `seen` and clock skew (findings). */
  #checkHistory(conv, item, parsed, hash) {
    const name = this.nameOf(item.sender);
    const deviceKey = `${item.sender}:${item.device_id}`;
    const last = conv.devices.get(deviceKey);
    if (last && (parsed.deviceCounter !== last.counter + 1n
      || !bytesEqual(parsed.prevHash, last.hash))) {
      this.#finding(conv, "missing", FINDINGS.missing(name));
    }
    conv.devices.set(deviceKey, { counter: parsed.deviceCounter, hash });
    const seen = conv.hashes.get(Number(parsed.seenSeq));
    if (parsed.seenSeq > 0n && seen && !bytesEqual(seen, parsed.seenHash)) {
      this.#finding(conv, "history", FINDINGS.history(name));
    }
    if (Math.abs(Number(parsed.clientClockMs) - item.server_time) > CLOCK_SKEW_MS) {
      this.#finding(conv, "clock", FINDINGS.clock(name));
    }
    conv.hashes.set(item.seq, hash);
    conv.lastMessage = { seq: BigInt(item.seq), hash };
  }

  // --- outgoing ---------------------------------------------------------------------------

  /** Why sending in `conv` is blocked, or null. */
  blockedReason(conv) {
    if (conv.left) return FINDINGS.left;
    if (conv.broken) return FINDINGS.broken;
    if (this.registry.sendingBlocked(conv.idBytes)) return FINDINGS.twoKeys;
    return null;
  }

  /** Adds a "sending" entry at once and delivers it in order; resolves with the entry. */
  sendText(id, text) {
    const conv = this.conversations.get(id);
    const entry = { kind: "message", mine: true, sender: this.me.id, seq: null, text,
      status: "sending", time: this.now(), clientId: toHex(randomBytes(16)), frame: null };
    conv.byClientId.set(`${this.me.id}:${entry.clientId}`, entry);
    conv.items.push(entry);
    conv.typingSentAt = null; // the message ends the typing: the next keystroke hints again
    this.#emit("change", { conversation: id });
    const recorded = this.#record(conv, entry); // in the outbox before it can leave
    return this.#enqueue(async () => {
      await recorded; // (failures logged) before the entry can leave or fail
      const blocked = this.blockedReason(conv);
      if (blocked) return this.#failed(conv, entry, blocked);
      try {
        if (this.#unsent.length) this.#unsent.push([conv, entry]); // after the older ones
        else await this.#deliver(conv, entry);
      } catch (error) {
        this.#failed(conv, entry, reasonOf(error));
      }
      return entry;
    });
  }

  /**
   * Sends `file` (a File) as a file message: an "uploading" entry at once (its
   * `progress` {sent, total, bytesPerSecond, secondsLeft} in ciphertext bytes, and
   * `cancel()`), the upload (static/js/v2/files/), then
   * the sealed file document with its signed file claim over HTTP, in order with every
   * other change. Resolves with the entry ("sent", or "failed" with `error`, logged).
   */
  async sendFile(id, file, { onProgress, signal } = {}) {
    const conv = this.conversations.get(id);
    const clientMessageId = randomBytes(16);
    const controller = new AbortController();
    signal?.addEventListener("abort", () => controller.abort(), { once: true });
    const entry = { kind: "message", mine: true, sender: this.me.id, seq: null, status: "uploading",
      text: CHAT.file(safeFileName(file.name)), time: this.now(), progress: { sent: 0, total: 0 },
      file: { name: safeFileName(file.name), mime: file.type, size: file.size },
      cancel: () => controller.abort() };
    conv.byClientId.set(`${this.me.id}:${toHex(clientMessageId)}`, entry);
    conv.items.push(entry);
    this.#emit("change", { conversation: id });
    const blocked = this.blockedReason(conv);
    if (blocked) return this.#failed(conv, entry, blocked);
    const thumbnail = this.#files.makeThumbnail?.(file) ?? null; // beside the upload
    let uploaded;
    try {
      uploaded = await this.#files.uploadFile(file, { signal: controller.signal,
        onProgress: (sent, total, rate) => {
          entry.progress = { ...rate, sent, total }; // rate: {bytesPerSecond, secondsLeft}
          onProgress?.(sent, total);
          this.#emit("change", { conversation: id });
        } });
    } catch (error) {
      return this.#failed(conv, entry, `the upload failed: ${reasonOf(error)}`);
    }
    const doc = { v: 2, type: "file", name: file.name, mime: file.type, size: file.size,
      length: uploaded.length, upload_id: uploaded.uploadId, identity: uploaded.identity,
      file_hash: uploaded.fileHash };
    const thumbnailBytes = await thumbnail;
    if (thumbnailBytes) doc.thumbnail = b64(thumbnailBytes);
    entry.file = ChatEngine.fileOf(doc);
    entry.status = "sending";
    this.#emit("change", { conversation: id });
    return this.#enqueue(async () => {
      const stillBlocked = this.blockedReason(conv);
      if (stillBlocked) return this.#failed(conv, entry, stillBlocked);
      try {
        await this.#deliverFile(conv, entry, doc, clientMessageId);
      } catch (error) {
        this.#failed(conv, entry, reasonOf(error));
      }
      return entry;
    });
  }

  /** Seals `doc`, signs its file claim and POSTs both; a stale epoch is caught up and
   *  sealed again (twice at most), as text messages are. */
  async #deliverFile(conv, entry, doc, clientMessageId, attempt = 0) {
    await this.#ensureEpoch(conv);
    const sealed = this.#seal(conv, doc, clientMessageId, "file");
    const claim = signFileClaim(this.seed, { conversationId: conv.idBytes, clientMessageId,
      uploadId: fromHex(doc.upload_id), senderId: this.me.id,
      senderGeneration: this.me.generation });
    let answer;
    try {
      answer = await this.api.post(`${BASE}/${conv.id}/messages`,
        { ...sealed, file_claim: signedJson(claim) });
    } catch (error) {
      if (error.code === "stale_epoch" && attempt < 2) {
        await this.#catchUp(conv);
        return this.#deliverFile(conv, entry, doc, clientMessageId, attempt + 1);
      }
      throw error;
    }
    entry.status = "sent";
    await this.#ingestItems(conv, answer.items); // the stored item: its seq place
    this.#emit("change", { conversation: conv.id });
  }

  /**
   * The plaintext Blob of a file entry, decrypted and checked against its file hash
   * while downloading; null when it fails. `entry.download` says how it went ({state:
   * "downloading" | "done" | "failed", received, total, forgery, error, fallback}); a file
   * that does not match its hash (FileHashError) is a forgery and gives nothing.
   * `fallback`: a save that had to decrypt in the page (no Service Worker).
   */
  downloadEntry(id, entry, { fallback = false } = {}) {
    return this.#transfer(id, entry, { fallback },
      (onProgress) => this.#files.downloadFile(entry.file, { onProgress }));
  }

  /**
   * Saves a file entry to disk: through the download Service Worker when the browser has
   * one (streamed, constant memory; resolves to true), else as downloadEntry() (resolves
   * to the Blob, which the view saves). Null when it fails (a forgery saves nothing).
   */
  async saveEntry(id, entry) {
    if (!this.#files.streamingDownloads?.()) return this.downloadEntry(id, entry, { fallback: true });
    try {
      await this.#files.downloadWorker();
    } catch (error) {
      logFailure("v2 chat", "no download service worker; decrypting in the page", error);
      return this.downloadEntry(id, entry, { fallback: true });
    }
    return this.#transfer(id, entry, { fallback: false },
      (onProgress) => this.#files.saveThroughWorker(entry.file, { onProgress }));
  }

  async #transfer(id, entry, { fallback }, run) {
    const emit = () => this.#emit("change", { conversation: id });
    entry.download = { state: "downloading", received: 0, total: entry.file.length, fallback };
    emit();
    try {
      const result = await run((received) => {
        entry.download.received = received;
        emit();
      });
      entry.download.state = "done";
      return result instanceof Blob ? result : true;
    } catch (error) {
      const forgery = error?.name === "FileHashError" || error?.code === "file_hash_mismatch";
      entry.download = { state: "failed", forgery, error: reasonOf(error), fallback };
      logFailure("v2 chat", "a file download failed", error);
      return null;
    } finally {
      emit();
    }
  }

  /**
   * Opens the preview of a file entry (this.#preview = {entry, state, kind, blob}): states
   * "opening", "open" (kind image, video, audio or pdf; blob typed from the file's own
   * first bytes), "download-only" (not on the allowlist), "too-large", "failed".
   */
  async openPreview(id, entry) {
    const preview = { conversation: id, entry, state: "opening" };
    this.#preview = preview;
    this.#emit("change", { conversation: id });
    Object.assign(preview, await this.#previewState(id, entry));
    if (this.#preview === preview) this.#emit("change", { conversation: id });
    return preview;
  }

  async #previewState(id, entry) {
    if (!this.#files.previewAllowed?.(entry.file)) return { state: "too-large" };
    const blob = await this.downloadEntry(id, entry);
    if (blob === null) return { state: "failed" };
    const found = await this.#files.previewOf(blob);
    return found ? { state: "open", ...found } : { state: "download-only" };
  }

  closePreview() {
    const conversation = this.#preview?.conversation;
    this.#preview = null;
    if (conversation) this.#emit("change", { conversation });
  }

  #failed(conv, entry, reason) {
    entry.status = "failed";
    entry.error = reason;
    if (entry.clientId) this.#unrecord(entry); // shown as failed: not sent again later
    logFailure("v2 chat", `a message was not sent: ${reason}`);
    this.#emit("change", { conversation: conv.id });
    return entry;
  }

  /**
   * Seals `entry` (unless it was: a sealed frame is only ever sent again as is) and sends
   * it. While the socket is down the entry waits unsealed in #unsent, so a message typed
   * offline is sealed under the epoch current when it leaves. A stale_epoch refusal means
   * the server holds no row under this client message id (it looks for one first,
   * protocol.md "Outbox"): the entry is sealed again under the new epoch, same id, and
   * (when nothing was sealed after it here) same device counter and previous hash.
   */
  async #deliver(conv, entry, attempt = 0) {
    if (!entry.frame && !this.socket.connected) {
      this.#unsent.push([conv, entry]);
      return;
    }
    if (!entry.frame) {
      await this.#ensureEpoch(conv);
      entry.frame = { type: "send2", conversation: conv.id, ...this.#seal(conv,
        { v: 2, type: "text", text: entry.text }, fromHex(entry.clientId), "text", entry.again) };
      await this.#record(conv, entry); // the sealed frame, before it goes to the socket
    }
    try {
      await this.#send(conv, entry);
    } catch (error) {
      if (error.code === "stale_epoch" && attempt < 2) {
        const refused = parseMessageStatement(unb64(entry.frame.statement));
        entry.again = { counter: refused.deviceCounter, prevHash: refused.prevHash };
        entry.frame = null;
        await this.#catchUp(conv);
        return this.#deliver(conv, entry, attempt + 1);
      }
      if (error.code !== "offline") throw error;
      this.#unsent.push([conv, entry]); // sent again, as is, on the next connection
    }
  }

  async #send(conv, entry) {
    const ack = await this.socket.request(entry.frame); // the echo (message2) sets seq
    entry.status = "sent";
    entry.ackSeq = ack.seq;
    this.#unrecord(entry);
    this.#emit("change", { conversation: conv.id });
  }

  /** Sends what waited, oldest first; what cannot leave yet waits again, in order. */
  async #resendUnsent() {
    const waiting = this.#unsent.splice(0);
    for (const [at, [conv, entry]] of waiting.entries()) {
      try {
        // Unsealed: read what happened meanwhile (a new epoch) before sealing.
        if (!entry.frame) await this.#catchUp(conv);
        await this.#deliver(conv, entry); // a sealed frame again: stored at most once
      } catch (error) {
        if (error instanceof ApiFailure && (error.status === 0 || error.status >= 500)) {
          this.#unsent.push(...waiting.slice(at)); // the network or server went again
          return;
        }
        this.#failed(conv, entry, reasonOf(error));
      }
    }
  }

  // --- the outbox (outbox.js): what waits to send, kept across reloads -------------------

  /** Stores `entry` (and its sealed frame, once it has one) in the outbox; failures logged. */
  async #record(conv, entry) {
    if (!this.outbox) return;
    try {
      await this.outbox.put({ conversation: conv.id, clientId: entry.clientId,
        text: entry.text, time: entry.time, frame: entry.frame });
    } catch (error) {
      logFailure("v2 chat", "a waiting message is not kept across a reload", error);
    }
  }

  #unrecord(entry) {
    this.outbox?.remove(entry.clientId).catch((error) =>
      logFailure("v2 chat", "an outbox record was not deleted", error));
  }

  /**
   * At start: the messages that waited when the page closed, shown again as waiting after
   * their conversation's history (read first), and sent once the socket is up. One the
   * history already holds (its ack was lost) is only deleted from the outbox.
   */
  async #restoreWaiting() {
    let records = [];
    try {
      records = (await this.outbox?.takeOver()) ?? []; // not those another open tab sends
    } catch (error) {
      logFailure("v2 chat", "the outbox did not open", error);
    }
    const read = new Set();
    for (const record of records) {
      const conv = this.conversations.get(record.conversation);
      const key = `${this.me.id}:${record.clientId}`;
      if (conv && !read.has(conv)) {
        read.add(conv);
        await this.#enqueueSettled(() => this.#catchUp(conv));
      }
      if (!conv || (conv.byClientId.get(key)?.seq ?? null) !== null || conv.left) {
        this.#unrecord(record);
        continue;
      }
      const entry = { kind: "message", mine: true, sender: this.me.id, seq: null,
        text: record.text, status: "sending", time: record.time, clientId: record.clientId,
        frame: record.frame };
      conv.byClientId.set(key, entry);
      conv.items.push(entry);
      this.#unsent.push([conv, entry]);
      this.#emit("change", { conversation: conv.id });
    }
  }

  /** How many of this user's messages wait to send (a logout asks about them). */
  waitingCount() {
    let count = 0;
    for (const conv of this.conversations.values()) {
      count += conv.items.filter((i) => i.mine && i.seq === null && i.status === "sending").length;
    }
    return count;
  }

  /** Drops every waiting message, here and in the outbox (a confirmed logout). */
  async discardWaiting() {
    this.#unsent.length = 0;
    await this.outbox?.clear();
  }

  /** {box, statement, signature} of document `doc` (statement kind `kind`) in the current
   *  epoch, base64; `again`: the refused frame's {counter, prevHash} (DeviceState.again). */
  #seal(conv, doc, clientMessageId, kind, again = null) {
    const epoch = conv.opened;
    const { counter, prevHash } = again
      ? this.device.again(conv.id, again.counter, again.prevHash) : this.device.take(conv.id);
    const context = { conversationId: conv.idBytes, epoch: epoch.statement.epoch,
      envelopeHash: epoch.statement.envelopeHash, senderId: this.me.id,
      senderGeneration: this.me.generation, deviceId: this.device.deviceId,
      deviceCounter: counter };
    const json = JSON.stringify(doc);
    const box = sealMessage({ epochSecret: epoch.secret, context, json });
    const statement = messageStatement({ ...context, clientMessageId, kind, box,
      prevHash, seenSeq: conv.lastMessage?.seq ?? 0n, seenHash: conv.lastMessage?.hash,
      clientClockMs: this.now() });
    this.device.sealed(conv.id, messageHash(statement));
    return { box: b64(box), statement: b64(statement),
      signature: b64(signStatement(this.seed, statement)) };
  }

  /** Creates the covering epoch first when this client's verified state says one is due. */
  async #ensureEpoch(conv) {
    const generations = new Map();
    for (const id of conv.chain.state.members.keys()) {
      const contact = this.contacts.get(String(id));
      if (contact) generations.set(id, contact.current);
    }
    const current = conv.opened?.statement ?? null;
    const stale = current && conv.latestEpoch && current.epoch !== conv.latestEpoch.epoch;
    if (stale || epochDue(current, conv.chain.state, generations, conv.departed)) {
      await this.#createEpoch(conv);
    }
    if (!conv.opened || conv.opened.statement.epoch !== conv.latestEpoch.epoch) {
      throw new Error("no current epoch this client can use");
    }
  }

  /** Keys of every member after `state` (less departed, less `without`); throws if unknown. */
  #memberKeys(conv, ids) {
    return ids.filter((id) => !conv.departed.has(id)).map((id) => {
      const keys = id === this.me.id ? this.myKeys : this.#currentKeys(id);
      if (!keys) throw new Error(`no pinned key for ${this.nameOf(id)}`);
      return keys;
    });
  }

  async #buildEpoch(conv, memberIds, chainHead, name = conv.name) {
    const latest = conv.latestEpoch;
    return buildEpoch(this.seed, this.myKeys, { conversationId: conv.idBytes,
      epoch: (latest?.epoch ?? 0n) + 1n, prevEnvelopeHash: latest?.envelopeHash ?? ZERO_HASH,
      chainHead, members: this.#memberKeys(conv, memberIds), name });
  }

  async #createEpoch(conv, attempt = 0) {
    const { state } = conv.chain;
    const epoch = await this.#buildEpoch(conv, [...state.members.keys()], state.head);
    try {
      const answer = await this.api.post(`${BASE}/${conv.id}/epochs`, epochJson(epoch));
      await this.#ingestItems(conv, answer.items);
    } catch (error) {
      if (!(error instanceof ApiFailure) || error.status !== 409 || attempt > 1) throw error;
      await this.#catchUp(conv); // another member's epoch or operation won: use or follow it
      const current = conv.opened?.statement ?? null;
      if (epochDue(current, conv.chain.state, new Map(), conv.departed)) {
        await this.#createEpoch(conv, attempt + 1);
      }
    }
  }

  // --- replies, edits, reactions, unsends (edits.js, reactions.js, replies.js) -----------

  /** Sends `text` as a reply to the message whose hash is `target`: a "sending" entry at
   *  once, delivered in order with every other change; resolves with the entry. */
  sendReply(id, target, text) {
    const conv = this.conversations.get(id);
    const clientMessageId = randomBytes(16);
    const entry = { kind: "message", mine: true, sender: this.me.id, seq: null, text,
      replyTo: target, status: "sending", time: this.now() };
    conv.byClientId.set(`${this.me.id}:${toHex(clientMessageId)}`, entry);
    conv.items.push(entry);
    this.#emit("change", { conversation: id });
    return this.#enqueue(async () => {
      try {
        const blocked = this.blockedReason(conv);
        if (blocked) throw new Error(blocked);
        await this.#publish(conv, replyDocument(target, text), "reply", { clientMessageId });
        entry.status = "sent";
      } catch (error) {
        this.#failed(conv, entry, reasonOf(error));
      }
      return entry;
    });
  }

  /** Replaces the text of this user's own message `entry` (shown "edited" once stored). */
  edit(id, entry, text) {
    return this.#act(id, entry, editDocument(entry.hash, text));
  }

  /** Reacts to `entry` with `emoji`; "" takes this user's reaction back. */
  react(id, entry, emoji) {
    return this.#act(id, entry, reactionDocument(entry.hash, emoji));
  }

  /**
   * "Delete for everyone" of this user's own message `entry`: nothing leaves for
   * UNSEND_UNDO_MS (`entry.unsending` {until} meanwhile; cancelUnsend() keeps the
   * message), then the signed unsend is sent and the message becomes a tombstone.
   */
  requestUnsend(id, entry) {
    if (!entry.mine || !entry.hash || entry.unsending) return;
    const timer = setTimeout(() => {
      if (entry.unsending?.timer !== timer) return;
      this.#pendingUnsends.delete(entry);
      entry.unsending.sending = true;
      this.#act(id, entry, unsendDocument(entry.hash), `messages/${entry.hash}/unsend`)
        .finally(() => {
          entry.unsending = null; // a tombstone now, or kept with its actionError
          this.#emit("change", { conversation: id });
        });
    }, this.unsendUndoMs);
    entry.unsending = { until: this.now() + this.unsendUndoMs, timer, sending: false };
    this.#pendingUnsends.add(entry);
    this.#emit("change", { conversation: id });
  }

  /** Undo of requestUnsend() while it waits: the message stays, nothing was sent. */
  cancelUnsend(id, entry) {
    if (!entry.unsending || entry.unsending.sending) return; // too late: it is on its way
    clearTimeout(entry.unsending.timer);
    this.#pendingUnsends.delete(entry);
    entry.unsending = null;
    this.#emit("change", { conversation: id });
  }

  /** Sends action `doc` about `entry`, in order; a failure shows on the entry
   *  (`actionError`) and is logged. Resolves once it is stored (or failed). */
  #act(id, entry, doc, path = "messages") {
    const conv = this.conversations.get(id);
    entry.actionError = null;
    return this.#enqueue(async () => {
      try {
        const blocked = this.blockedReason(conv);
        if (blocked) throw new Error(blocked);
        await this.#publish(conv, doc, doc.type, { path });
      } catch (error) {
        entry.actionError = FINDINGS.actionFailed(doc.type === "unsend", reasonOf(error));
        logFailure("v2 chat", `a ${doc.type} was not sent`, error);
      }
      this.#emit("change", { conversation: id });
    });
  }

  // --- membership changes -----------------------------------------------------------------

  /**
   * Signs `kind` (on `target`, a user id) on the verified head and appends it: an add, a
   * remove or a rename with the epoch that covers it (a rename's `name` travels only in
   * that epoch's envelope). A change this member may not make is refused here, before
   * signing (`refusalOf`). A `stale_head` answer reads the timeline and signs again on the
   * new state, unless the intent holds by then.
   */
  async #appendOperation(conv, kind, target = null, { attempt = 0, name = conv.name } = {}) {
    const { state } = conv.chain;
    const targetId = target === null ? null : BigInt(target);
    const refusal = refusalOf(state, this.me.id, kind, targetId, (id) => this.nameOf(id));
    if (refusal) throw new Error(refusal.text);
    const op = { conversationId: conv.idBytes, index: state.index + 1n, prevHash: state.head,
      actorId: this.me.id, actorGeneration: this.me.generation, kind };
    let after = [...state.members.keys()];
    if (kind === "add") {
      const keys = this.#currentKeys(targetId);
      const prints = fingerprintsOf(keys);
      Object.assign(op, { targetId: keys.userId, targetGeneration: keys.generation,
        targetRecipientHash: prints.recipientHash, targetEd25519Hash: prints.ed25519Hash });
      after.push(keys.userId);
    } else if (targetId !== null) {
      op.targetId = targetId;
      if (kind === "remove") after = after.filter((id) => id !== targetId);
    }
    const signed = signOperation(this.seed, op);
    const body = { operation: signedJson(signed) };
    if (kind === "remove" || kind === "add" || kind === "rename") {
      body.epoch = epochJson(await this.#buildEpoch(conv, after, operationHash(signed.statement),
        name));
    }
    try {
      const answer = await this.api.post(`${BASE}/${conv.id}/members`, body);
      await this.#ingestItems(conv, answer.items);
    } catch (error) {
      if (!(error instanceof ApiFailure) || error.code !== "stale_head" || attempt > 1) throw error;
      await this.#catchUp(conv); // the head moved: re-check the intent on the new state
      const now = refusalOf(conv.chain.state, this.me.id, kind, targetId, (id) => this.nameOf(id));
      if (now?.done) return;
      await this.#appendOperation(conv, kind, target, { attempt: attempt + 1, name });
    }
  }

  #change(id, task) {
    const conv = this.conversations.get(id);
    return this.#enqueue(async () => {
      const blocked = this.blockedReason(conv);
      if (blocked) throw new Error(blocked);
      await task(conv);
      this.#emit("change", { conversation: id });
    });
  }

  /** Adds the verified account at `email` (admins); its first epoch goes with the add. */
  async addMember(id, email) {
    const contact = await this.lookup(email);
    return this.#change(id, (conv) => this.#appendOperation(conv, "add", contact.id));
  }

  /** Removes `userId` (admins), with the new epoch it cannot open, in one request. */
  removeMember(id, userId) {
    return this.#change(id, (conv) => this.#appendOperation(conv, "remove", BigInt(userId)));
  }

  /** Makes member `userId` an admin (admins). */
  grantAdmin(id, userId) {
    return this.#change(id, (conv) => this.#appendOperation(conv, "grant-admin", userId));
  }

  /** Takes admin rights from member `userId` (admins). */
  revokeAdmin(id, userId) {
    return this.#change(id, (conv) => this.#appendOperation(conv, "revoke-admin", userId));
  }

  /** Renames the group (admins): the name goes only into the new epoch's envelope. */
  rename(id, name) {
    const checked = checkGroupName(name);
    return this.#change(id, (conv) => this.#appendOperation(conv, "rename", null,
      { name: checked }));
  }

  /** Invites `email` to the server by email (its answer does not say who holds it). */
  invite(email) {
    return this.api.post("/api/v1/invitations", { email });
  }

  /** Leaves; the others create the covering epoch before they send. */
  leave(id) {
    return this.#change(id, (conv) => this.#appendOperation(conv, "leave"));
  }

  /**
   * Creates a conversation with the accounts at `emails` (every address checked first;
   * an Error listing all unknown ones). Direct for one address and no name, else a group.
   * Resolves with its id once its chain and first epoch are verified here.
   */
  async createConversation({ emails, name = "" }) {
    const results = await Promise.allSettled(emails.map((email) => this.lookup(email)));
    const unknown = emails.filter((_, i) => results[i].status === "rejected");
    if (unknown.length) {
      throw Object.assign(new Error(FINDINGS.noAccount(unknown)),
        { unknown });
    }
    const others = results.map((r) => r.value).filter((c) => c.id !== this.me.id);
    const kind = others.length === 1 && !name ? "direct" : "group";
    const idBytes = randomBytes(16);
    const prints = fingerprintsOf(this.myKeys);
    const create = signOperation(this.seed, { conversationId: idBytes, index: 0n,
      prevHash: ZERO_HASH, actorId: this.me.id, actorGeneration: this.me.generation,
      kind: "create", targetId: this.me.id, targetGeneration: this.me.generation,
      targetRecipientHash: prints.recipientHash, targetEd25519Hash: prints.ed25519Hash });
    const epoch = await buildEpoch(this.seed, this.myKeys, { conversationId: idBytes,
      epoch: 1n, prevEnvelopeHash: ZERO_HASH, chainHead: operationHash(create.statement),
      members: [this.myKeys], name });
    const body = { conversation_id: toHex(idBytes), kind, operation: signedJson(create),
      epoch: epochJson(epoch) };
    if (kind === "direct") body.peer = Number(others[0].id);
    const answer = await this.api.post(BASE, body);
    const id = answer.conversation;
    await this.#enqueue(async () => {
      const conv = this.#conversation(id, { kind });
      if (!answer.created) return this.#catchUp(conv);
      await this.#ingestItems(conv, answer.items);
      for (const other of others) await this.#appendOperation(conv, "add", other.id);
      this.#emit("change", { conversation: id });
    });
    return id;
  }
}
