// The "Verify" panel of the version 2 chat (DESIGN.md §3): for one contact it shows the
// safety number both users compare (twelve groups of five digits in user-id order, one
// line per user, as `securechat verify` prints them), the QR code carrying both full
// fingerprints for the contact to scan, "Mark as verified", and two ways to scan the
// contact's code: the camera, or an image file. A scanned code marks the contact only
// when it is exactly what this client computes (verification.js); anything else is
// refused and marks nothing. The member list shows each contact's mark (controlsFor).
import { logFailure, logWarning } from "../../common/log.js";
import { el } from "./dom.js";
import { CameraScanner, QrReader, QrReaderUnavailable, qrSvg, readImageFile } from "./qr.js";
import { ScanRefused, Verification } from "./verification.js";
import { CHAT, VERIFY as TEXT } from "../strings.js";


export class VerifyPanel {
  /** `qrReader`: the QR code reader's pinned bundle, {url, integrity} (./qr.js QrReader). */
  constructor(engine, { qrReader = null } = {}) {
    this.engine = engine;
    this.verification = new Verification(engine);
    this.userId = null; // the contact shown, or null when closed
    this.qrText = null; // the payload the shown QR code carries
    this.parts = this.#skeleton();
    this.element = this.parts.root;
    this.reader = new QrReader(qrReader);
    this.scanner = new CameraScanner(this.parts.video, this.reader);
    engine.addEventListener("change", () => this.#render());
  }

  #skeleton() {
    const parts = {
      title: el("h3", { id: "v2-verify-title", tabindex: "-1" }),
      intro: el("p", { class: "v2-verify-intro" }),
      number: el("div", { class: "v2-safety-number", role: "group",
        "aria-label": TEXT.safetyNumber }),
      state: el("p", { class: "v2-verify-state", role: "status" }),
      figure: el("figure", { class: "v2-verify-qr" }),
      caption: el("figcaption"),
      mark: el("button", { type: "button", class: "v2-verify-mark", text: TEXT.mark }),
      scan: el("button", { type: "button", class: "v2-verify-scan" }),
      stop: el("button", { type: "button", class: "v2-verify-stop", text: TEXT.stop,
        hidden: true }),
      file: el("input", { type: "file", id: "v2-verify-file", accept: "image/*" }),
      fileLabel: el("label", { for: "v2-verify-file" }),
      video: el("video", { class: "v2-verify-video", muted: true, playsinline: true,
        "aria-label": TEXT.cameraLabel, hidden: true }),
      result: el("p", { class: "v2-verify-result", role: "alert" }),
      close: el("button", { type: "button", class: "v2-verify-close", text: TEXT.close }),
    };
    parts.root = el("section", { class: "v2-verify", hidden: true,
      "aria-labelledby": "v2-verify-title" }, parts.title, parts.intro, parts.number,
    parts.state, parts.figure, parts.mark, el("p", { class: "v2-verify-scanning" },
      parts.scan, " ", parts.stop), el("p", { class: "field" }, parts.fileLabel, parts.file),
    parts.video, parts.result, parts.close);
    parts.video.muted = true; // the attribute alone does not mute a stream set later
    parts.mark.addEventListener("click", () => this.#run(() =>
      this.verification.markVerified(this.userId)));
    parts.scan.addEventListener("click", () => this.#startCamera());
    parts.stop.addEventListener("click", () => this.#stopCamera());
    parts.file.addEventListener("change", () => this.#scanFile());
    parts.close.addEventListener("click", () => this.close());
    return parts;
  }

  /** The verified mark and the "Verify" button a member row shows (none for oneself). */
  controlsFor(member) {
    if (member.id === this.engine.me.id) return [];
    const nodes = [];
    if (this.verification.isVerified(member.id)) {
      nodes.push(" ", el("span", { class: "v2-verified", text: "✓ verified" }));
    }
    const button = el("button", { type: "button", class: "v2-verify-open",
      "aria-label": TEXT.verifyLabel(member.name), text: TEXT.verify });
    button.addEventListener("click", () => this.open(member.id));
    nodes.push(" ", button);
    return nodes;
  }

  /** Shows the panel for contact `userId` (a BigInt). */
  open(userId) {
    this.#stopCamera();
    this.userId = BigInt(userId);
    this.qrText = null;
    this.parts.result.textContent = "";
    this.parts.root.hidden = false;
    this.#render();
    this.parts.title.focus();
  }

  get isOpen() {
    return this.userId !== null && this.userId !== undefined;
  }

  /** Hides the panel and stops the camera. */
  close() {
    this.#stopCamera();
    this.userId = null;
    this.parts.root.hidden = true;
  }

  #render() {
    if (this.userId === null) return;
    const { parts } = this;
    const safety = this.verification.safety(this.userId);
    const name = this.engine.nameOf(this.userId);
    parts.title.textContent = TEXT.title(name);
    parts.scan.textContent = TEXT.scan(name);
    parts.fileLabel.textContent = TEXT.scanFile(name);
    parts.mark.disabled = !safety;
    if (!safety) {
      parts.intro.textContent = TEXT.noKeys;
      parts.state.textContent = "";
      parts.number.replaceChildren();
      parts.figure.replaceChildren();
      this.qrText = null;
      return;
    }
    parts.intro.textContent = TEXT.intro(name);
    const halves = [[this.engine.me.id, CHAT.you, safety.mine], [this.userId, name, safety.theirs]]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1)); // user-id order, as the CLI prints it
    parts.number.replaceChildren(...halves.map(([id, who, groups]) => el("p",
      { class: "v2-safety-half", "data-user": String(id) }, el("span", { class: "who",
        text: `${who}:` }), ...groups.flatMap((g) => [" ", el("span", { class: "v2-group",
      text: g })]))));
    const verified = this.verification.isVerified(this.userId);
    parts.state.textContent = verified ? TEXT.verified(name) : TEXT.unverified(name);
    parts.mark.hidden = verified;
    if (this.qrText !== safety.qr) { // a new key changes the code; otherwise keep the element
      this.qrText = safety.qr;
      parts.caption.textContent = TEXT.letScan(name);
      parts.figure.replaceChildren(qrSvg(safety.qr,
        TEXT.qrLabel(name)), parts.caption);
    }
  }

  /** Runs a marking action for the shown contact and says how it went. */
  async #run(action) {
    const userId = this.userId;
    const name = this.engine.nameOf(userId);
    this.parts.result.textContent = "";
    try {
      await action();
      if (this.userId === userId) this.parts.result.textContent = TEXT.marked(name);
    } catch (error) {
      if (this.userId !== userId) return;
      if (error instanceof ScanRefused) {
        this.parts.result.textContent = TEXT[error.reason](name);
        logWarning("v2 chat", `a scanned code was refused (${error.reason})`);
      } else {
        this.parts.result.textContent = TEXT.failed(error.message);
        logFailure("v2 chat", "the contact was not marked verified", error);
      }
    }
  }

  async #startCamera() {
    const userId = this.userId;
    const { parts } = this;
    parts.result.textContent = "";
    parts.video.hidden = false;
    parts.stop.hidden = false;
    parts.scan.disabled = true;
    parts.state.textContent = TEXT.pointCamera(this.engine.nameOf(userId));
    const onText = (text) => {
      this.#cameraStopped();
      if (this.userId === userId) this.#run(() => this.verification.markScanned(userId, text));
    };
    const onFailure = (error) => {
      this.#cameraStopped();
      if (this.userId === userId) parts.result.textContent = TEXT.frame(error.message);
      logFailure("v2 chat", "a camera frame could not be read", error);
    };
    try {
      await this.scanner.start(onText, onFailure);
    } catch (error) {
      this.#stopCamera();
      if (error instanceof QrReaderUnavailable) {
        this.#readerFailed(error);
      } else {
        parts.result.textContent = TEXT.camera(error.message || error.name);
        logFailure("v2 chat", "the camera could not be started", error);
      }
    }
  }

  /** Says that the QR code reader did not load (QrReaderUnavailable `error`). */
  #readerFailed(error) {
    this.parts.result.textContent = TEXT.reader(error.message);
    logFailure("v2 chat", "the QR code reader did not start", error);
  }

  #cameraStopped() {
    this.parts.video.hidden = true;
    this.parts.stop.hidden = true;
    this.parts.scan.disabled = false;
    this.#render();
  }

  #stopCamera() {
    this.scanner.stop();
    this.#cameraStopped();
  }

  async #scanFile() {
    const { parts } = this;
    const [file] = parts.file.files;
    parts.file.value = "";
    if (!file || this.userId === null) return;
    const userId = this.userId;
    let text;
    try {
      text = await readImageFile(file, this.reader);
    } catch (error) {
      if (error instanceof QrReaderUnavailable) {
        this.#readerFailed(error);
      } else {
        parts.result.textContent = TEXT.notImage();
        logWarning("v2 chat", "the chosen file is not a readable image", error);
      }
      return;
    }
    if (text === null) {
      parts.result.textContent = TEXT.noCode();
      return;
    }
    if (this.userId === userId) await this.#run(() => this.verification.markScanned(userId, text));
  }
}
