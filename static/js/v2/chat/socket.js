// The version 2 websocket (docs/api.md): one per tab, reconnecting with backoff.
// Emits "open" (send sync2 then), "frame" (detail: a decoded server frame) and "down".
// request() sends a frame with a req_id and resolves with the answer carrying it (ack2)
// or rejects with the error frame; frames sent while down wait for the next open.
//
// A connection that stops answering without closing (a half-open TCP connection, a
// server that hangs) is found by silence: the server sends a heartbeat every
// `heartbeatSeconds` (SECURECHAT_WS_HEARTBEAT_SECONDS, in the shell's config), so a
// connection silent for SILENCE_HEARTBEATS of them, a handshake unanswered as long, or a
// request unanswered as long is closed here at once ("down", then a new connection).
// The browser's `offline` event closes the connection at once (what is typed then waits
// unsealed, instead of going into a connection that may still look open), and its
// `online` event reconnects at once (no attempt is made while the browser says it is
// offline).
import { logFailure } from "../../common/log.js";

const BACKOFF_MS = [250, 500, 1000, 2000, 4000];
export const DEFAULT_HEARTBEAT_SECONDS = 25;
const SILENCE_HEARTBEATS = 2.5;
const MIN_SILENCE_MS = 2000;

/** How long a connection may stay silent before it is taken as dead, in ms. */
export function silenceLimitMs(heartbeatSeconds = DEFAULT_HEARTBEAT_SECONDS) {
  return Math.max(MIN_SILENCE_MS, heartbeatSeconds * SILENCE_HEARTBEATS * 1000);
}

export class ChatSocket extends EventTarget {
  #ws = null;
  #attempt = 0;
  #nextId = 1;
  #waiting = new Map(); // req_id → {resolve, reject}
  #stopped = false;
  #lastFrameAt = 0;
  #watchdog = null;
  #retry = null;

  constructor(url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/`,
    { heartbeatSeconds = DEFAULT_HEARTBEAT_SECONDS } = {}) {
    super();
    this.url = url;
    this.silenceMs = silenceLimitMs(heartbeatSeconds);
    globalThis.addEventListener?.("offline", () => {
      if (this.#ws !== null) this.#kill(this.#ws);
    });
    globalThis.addEventListener?.("online", () => {
      if (this.#ws !== null || this.#stopped) return;
      clearTimeout(this.#retry); // the network is back: no need to wait for the backoff
      this.connect();
    });
  }

  get connected() {
    return this.#ws !== null && this.#ws.readyState === WebSocket.OPEN;
  }

  connect() {
    this.#stopped = false;
    clearTimeout(this.#retry);
    const ws = new WebSocket(this.url);
    this.#ws = ws;
    this.#lastFrameAt = Date.now(); // an unanswered handshake counts as silence too
    clearInterval(this.#watchdog);
    this.#watchdog = setInterval(() => {
      if (Date.now() - this.#lastFrameAt > this.silenceMs) this.#kill(ws);
    }, this.silenceMs / 5);
    ws.addEventListener("open", () => {
      this.#attempt = 0;
      this.#lastFrameAt = Date.now();
      this.dispatchEvent(new Event("open"));
    });
    ws.addEventListener("message", (event) => this.#receive(event.data));
    ws.addEventListener("close", () => this.#closed(ws));
  }

  /** Closes for good (no reconnection). */
  stop() {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#ws?.close();
  }

  /** Closes this connection; the socket reconnects as after any drop. */
  drop() {
    this.#ws?.close();
  }

  /** Closes `ws` and treats it as down now: a dead connection's close event may come
   *  much later. */
  #kill(ws) {
    ws.close();
    this.#closed(ws);
  }

  /** Sends a frame without waiting for an answer; false while down. */
  send(frame) {
    if (!this.connected) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  /** Sends `frame` with a fresh req_id; the answer frame, or the error frame as rejection. */
  request(frame) {
    const reqId = this.#nextId++;
    const ws = this.#ws;
    return new Promise((resolve, reject) => {
      // No answer while the connection stays up (an ack lost on the way): the connection
      // is closed, which rejects this request as "offline" (sent again on the next one).
      const timer = setTimeout(() => this.#kill(ws), this.silenceMs);
      const settle = (done) => (value) => {
        clearTimeout(timer);
        done(value);
      };
      this.#waiting.set(reqId, { resolve: settle(resolve), reject: settle(reject) });
      if (!this.send({ ...frame, req_id: reqId })) {
        this.#waiting.delete(reqId);
        clearTimeout(timer);
        reject(Object.assign(new Error("not connected"), { code: "offline" }));
      }
    });
  }

  #receive(text) {
    this.#lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch (error) {
      logFailure("v2 chat", "a frame that is not JSON", error);
      return;
    }
    const waiter = frame.req_id !== undefined ? this.#waiting.get(frame.req_id) : undefined;
    if (waiter) {
      this.#waiting.delete(frame.req_id);
      if (frame.type === "error") waiter.reject(Object.assign(new Error(frame.detail), frame,
        { code: frame.error }));
      else waiter.resolve(frame);
      return;
    }
    this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
  }

  #closed(ws) {
    if (ws !== this.#ws) return;
    this.#ws = null;
    clearInterval(this.#watchdog);
    for (const waiter of this.#waiting.values()) {
      waiter.reject(Object.assign(new Error("connection lost"), { code: "offline" }));
    }
    this.#waiting.clear();
    this.dispatchEvent(new Event("down"));
    if (this.#stopped) return;
    if (globalThis.navigator?.onLine === false) return; // the online event reconnects
    const delay = BACKOFF_MS[Math.min(this.#attempt++, BACKOFF_MS.length - 1)];
    this.#retry = setTimeout(() => this.connect(), delay);
  }
}
