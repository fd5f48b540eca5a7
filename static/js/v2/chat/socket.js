// The version 2 websocket (docs/api.md): one per tab, reconnecting with backoff.
// Emits "open" (send sync2 then), "frame" (detail: a decoded server frame) and "down".
// request() sends a frame with a req_id and resolves with the answer carrying it (ack2)
// or rejects with the error frame; frames sent while down wait for the next open.
const BACKOFF_MS = [250, 500, 1000, 2000, 4000];
// The server sends a heartbeat at least every 25 s by default: a connection silent for
// longer than this is dead without having closed (a half-open TCP connection).
const SILENCE_LIMIT_MS = 90_000;

export class ChatSocket extends EventTarget {
  #ws = null;
  #attempt = 0;
  #nextId = 1;
  #waiting = new Map(); // req_id → {resolve, reject}
  #stopped = false;
  #lastFrameAt = 0;
  #watchdog = null;

  constructor(url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/`) {
    super();
    this.url = url;
  }

  get connected() {
    return this.#ws !== null && this.#ws.readyState === WebSocket.OPEN;
  }

  connect() {
    this.#stopped = false;
    const ws = new WebSocket(this.url);
    this.#ws = ws;
    ws.addEventListener("open", () => {
      this.#attempt = 0;
      this.#lastFrameAt = Date.now();
      clearInterval(this.#watchdog);
      this.#watchdog = setInterval(() => {
        if (Date.now() - this.#lastFrameAt <= SILENCE_LIMIT_MS) return;
        ws.close();
        this.#closed(ws); // now: a dead connection's close event may come much later
      }, SILENCE_LIMIT_MS / 3);
      this.dispatchEvent(new Event("open"));
    });
    ws.addEventListener("message", (event) => this.#receive(event.data));
    ws.addEventListener("close", () => this.#closed(ws));
  }

  /** Closes for good (no reconnection). */
  stop() {
    this.#stopped = true;
    this.#ws?.close();
  }

  /** Closes this connection; the socket reconnects as after any drop. */
  drop() {
    this.#ws?.close();
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
    return new Promise((resolve, reject) => {
      this.#waiting.set(reqId, { resolve, reject });
      if (!this.send({ ...frame, req_id: reqId })) {
        this.#waiting.delete(reqId);
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
      console.error("v2 chat: a frame that is not JSON", error);
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
    const delay = BACKOFF_MS[Math.min(this.#attempt++, BACKOFF_MS.length - 1)];
    setTimeout(() => this.connect(), delay);
  }
}
