// What the shell shows once the identity is unlocked (issue 12's mount contract):
//   mountSignedIn(rootElement, keys) with keys = { user: {id, email}, generation,
//   ageIdentities (AGE-SECRET-KEY-… strings, newest first), signingSeed (Uint8Array(32),
//   current generation), recipient, shared, onLogout }, resolving with {stop()} (called
//   when the session ends); options.encryptWorker = {url, integrity} of the file encrypt
//   worker's bundle and options.files (the config's "files") go to the chat (file
//   messages). The account card (address, keys) stays above the chat; logging out is in the shell's nav, so it works even when the chat cannot start.
import { showSignedIn } from "./accounts/home.js";
import { startChat } from "./chat/index.js";
import { mountKeySection } from "./keys/index.js";

// options.keySection: the "Password and keys" section's context (keys/section.js), shown
// under the account card until the profile page takes it.
export async function mountSignedIn(root, keys, { encryptWorker, files, keySection } = {}) {
  const account = document.createElement("div");
  const keysBox = document.createElement("div");
  const chat = document.createElement("div");
  chat.id = "v2-chat-root";
  root.replaceChildren(account, keysBox, chat);
  const card = await showSignedIn(account, keys);
  const section = keySection ? mountKeySection(keysBox, keySection) : null;
  let started = null;
  try {
    started = await startChat(chat, keys, { encryptWorker, files });
  } catch (error) {
    // startChat has shown the failure in its view; the account card stays usable.
    console.error("v2 chat failed to start:", error);
  }
  return {
    stop: () => {
      started?.stop();
      section?.stop();
      card.stop();
      root.replaceChildren();
    },
  };
}
