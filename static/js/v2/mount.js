// What the shell shows once the identity is unlocked (issue 12's mount contract):
//   mountSignedIn(rootElement, keys) with keys = { user: {id, email}, generation,
//   ageIdentities (AGE-SECRET-KEY-… strings, newest first), signingSeed (Uint8Array(32),
//   current generation), recipient, shared, onLogout }, resolving with {stop()} (called
//   when the session ends) and {leave()} (before a logout: false keeps the session, e.g.
//   for an upload the user does not want to lose); options.encryptWorker = {url, integrity}
//   of the file encrypt worker's bundle, options.files (the config's "files") and
//   options.qrReader (the QR code reader's bundle) go to the chat (file messages, scanning
//   contacts' codes). The account card (address, keys) follows the chat; logging out
//   is in the shell's nav, so it works even when the chat cannot start.
import { logFailure, logWarning } from "../common/log.js";
import { showSignedIn } from "./accounts/home.js";
import { startChat } from "./chat/index.js";
import { mountKeySection } from "./keys/index.js";
import { showTwoFactorNudge } from "./profile/nudge.js";

// options.keySection: the "Password and keys" section's context (keys/section.js), shown
// under the account card until the profile page takes it.
// options.api: the shell's Api (for the two-factor nudge; none in harnesses).
// options.registration: the server's registration mode (the chat offers invitations unless
// "closed"). options.heartbeatSeconds: the server's websocket heartbeat (the config's).
export async function mountSignedIn(root, keys,
  { encryptWorker, files, qrReader, keySection, api, registration, heartbeatSeconds } = {}) {
  const nudgeBox = document.createElement("div");
  nudgeBox.id = "v2-nudge";
  const account = document.createElement("div");
  const keysBox = document.createElement("div");
  const chat = document.createElement("div");
  chat.id = "v2-chat-root";
  // The chat first: it is what the page is for; the account card and the key section
  // (password, rotation, export) follow it.
  root.replaceChildren(nudgeBox, chat, account, keysBox);
  const card = await showSignedIn(account, keys);
  let nudge = null;
  if (api) {
    api.get("/api/v1/me").then((me) => {
      nudge = showTwoFactorNudge(nudgeBox, me, { storage: keys.shared ? null : localStorage });
    }).catch((error) => logFailure("two-factor nudge", "/api/v1/me failed", error));
  }
  const section = keySection ? mountKeySection(keysBox, keySection) : null;
  let started = null;
  try {
    started = await startChat(chat, keys, { encryptWorker, registration, files, qrReader,
      heartbeatSeconds });
  } catch (error) {
    // startChat has shown the failure in its view; the account card stays usable. A 401
    // means the session ended while the chat was starting (a logout right after the
    // login): expected, so a warning rather than an error.
    if (error?.status === 401) logWarning("v2 chat", "did not start: the session ended", error);
    else logFailure("v2 chat", "failed to start", error);
  }
  return {
    leave: async () => started?.leave() ?? true,
    stop: () => {
      started?.stop();
      section?.stop();
      nudge?.stop();
      card.stop();
      root.replaceChildren();
    },
  };
}
