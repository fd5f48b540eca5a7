// The one websocket of this tab (DESIGN.md §5): JSON frames, automatic
// reconnection with exponential back-off and jitter, a `sync` with the last
// seq of every conversation on each (re)connect, requests matched to replies
// by req_id, retained requests (sends) re-sent after a reconnect with the same
// client_id (the server returns the stored message for a repeat), and
// message frames deduplicated by (conversation, seq).
//
// Events (CustomEvent, detail = frame or state):
//   "state"   {state: "connecting"|"open"|"waiting"|"offline", delay, attempt, code}
//   "frame"   every frame that is not a duplicate message
//   "logged-out" the server closed with 4401

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 15000;
const WATCHDOG_MS = 75000; // the server's heartbeat comes every ~25 s
const PERMANENT = new Set([4401, 4403]);

export class ChatSocket extends EventTarget {
  constructor(url, { since }) {
    super();
    this.url = url;
    this.since = since; // () => ({conversation id: last seq known})
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.watchdog = null;
    this.counter = 0;
    this.retained = new Map(); // req_id -> {frame, resolve, reject}
    this.waiting = new Map(); // req_id -> {resolve, reject} for non-retained requests
    this.seen = new Set(); // "conversation:seq"
    this.state = "idle";
  }

  start() {
    window.addEventListener("online", () => this.reconnectNow());
    this.connect();
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.state === "open";
  }

  nextId() {
    this.counter += 1;
    return `r${Date.now().toString(36)}-${this.counter}`;
  }

  setState(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, ...extra } }));
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    this.setState("connecting", { attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect(1006);
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => ws === this.ws && this.opened());
    ws.addEventListener("message", (event) => ws === this.ws && this.receive(event.data));
    ws.addEventListener("close", (event) => ws === this.ws && this.closed(event));
  }

  opened() {
    this.attempt = 0;
    this.setState("open");
    this.kickWatchdog();
    this.raw({ type: "sync", since: this.since(), req_id: this.nextId() });
    // Sends that were not acknowledged go again, in their original order.
    for (const [, entry] of this.retained) this.raw(entry.frame);
  }

  closed(event) {
    clearTimeout(this.watchdog);
    this.ws = null;
    for (const [, entry] of this.waiting) entry.reject(new Error("connection closed"));
    this.waiting.clear();
    if (event.code === 4401) {
      this.setState("offline", { code: event.code });
      this.dispatchEvent(new CustomEvent("logged-out"));
      return;
    }
    if (PERMANENT.has(event.code)) {
      this.setState("offline", { code: event.code });
      return;
    }
    this.scheduleReconnect(event.code);
  }

  scheduleReconnect(code) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** this.attempt);
    const factor = code === 4429 ? 4 : 1;
    const delay = Math.round(Math.min(BACKOFF_MAX_MS * 2, base * factor) * (0.75 + Math.random() / 2));
    this.attempt += 1;
    this.setState("waiting", { delay, attempt: this.attempt, code, until: Date.now() + delay });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.state === "open" || this.state === "connecting") return;
    this.attempt = 0;
    this.connect();
  }

  kickWatchdog() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      // Nothing heard for too long: assume a dead connection.
      if (this.ws) this.ws.close(4000, "watchdog");
    }, WATCHDOG_MS);
  }

  raw(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  // Fire and forget (typing, read): dropped while disconnected.
  notify(frame) {
    return this.raw(frame);
  }

  // A request whose reply carries the same req_id. Retained requests survive
  // reconnects and are re-sent until answered.
  request(frame, { retain = false } = {}) {
    const req_id = frame.req_id || this.nextId();
    const full = { ...frame, req_id };
    return new Promise((resolve, reject) => {
      if (retain) {
        this.retained.set(req_id, { frame: full, resolve, reject });
        this.raw(full);
      } else if (this.raw(full)) {
        this.waiting.set(req_id, { resolve, reject });
      } else {
        reject(new Error("not connected"));
      }
    });
  }

  // Remember messages loaded over HTTP so that a replay does not repeat them.
  markSeen(conversation, seq) {
    this.seen.add(`${conversation}:${seq}`);
  }

  receive(data) {
    this.kickWatchdog();
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    if (frame.req_id && (frame.type === "ack" || frame.type === "error" || frame.type === "synced"
        || frame.type === "accepted" || frame.type === "key_accepted" || frame.ok !== undefined)) {
      this.settle(frame);
    }
    if (frame.type === "message" && frame.conversation !== undefined && frame.seq !== undefined) {
      const key = `${frame.conversation}:${frame.seq}`;
      if (this.seen.has(key) && !frame.deleted) return; // duplicate (replay, echo)
      this.seen.add(key);
    }
    this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
  }

  settle(frame) {
    const entry = this.retained.get(frame.req_id) || this.waiting.get(frame.req_id);
    if (!entry) return;
    this.retained.delete(frame.req_id);
    this.waiting.delete(frame.req_id);
    if (frame.type === "error") {
      const error = new Error(frame.detail || frame.error || frame.code || "error");
      error.code = frame.error || frame.code;
      error.frame = frame;
      entry.reject(error);
    } else {
      entry.resolve(frame);
    }
  }

  // Drop a retained request (the user gave up on it).
  forget(req_id) {
    this.retained.delete(req_id);
  }
}
