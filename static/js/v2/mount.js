// What the shell shows once the identity is unlocked (issue 12's mount contract):
//   mountSignedIn(rootElement, keys) with keys = { user: {id, email}, generation,
//   ageIdentities (AGE-SECRET-KEY-… strings, newest first), signingSeed (Uint8Array(32),
//   current generation), recipient, shared, onLogout }, resolving with {stop()} (called
//   when the session ends); options.encryptWorker = {url, integrity} of the file encrypt
//   worker's bundle goes to the chat (file messages). The account card (address, keys) stays above the
//   chat; logging out is in the shell's nav, so it works even when the chat cannot start.
import { showSignedIn } from "./accounts/home.js";
import { startChat } from "./chat/index.js";

export async function mountSignedIn(root, keys, { encryptWorker } = {}) {
  const account = document.createElement("div");
  const chat = document.createElement("div");
  chat.id = "v2-chat-root";
  root.replaceChildren(account, chat);
  const card = await showSignedIn(account, keys);
  let started = null;
  try {
    started = await startChat(chat, keys, { encryptWorker });
  } catch (error) {
    // startChat has shown the failure in its view; the account card stays usable.
    console.error("v2 chat failed to start:", error);
  }
  return {
    stop: () => {
      started?.stop();
      card.stop();
      root.replaceChildren();
    },
  };
}
