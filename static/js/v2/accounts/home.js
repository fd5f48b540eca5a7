// The plain signed-in view (until the v2 chat mounts through ../mount.js): the address,
// the current key generation and the public keys' fingerprints (logout: the shell's nav).
import { identityToRecipient } from "age-encryption";
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";

import { toHex } from "../../crypto/bytes.js";
import { ACCOUNTS as A, PROFILE as P } from "../strings.js";

function element(tag, attributes = {}, text = undefined) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function grouped(hex) {
  return hex.match(/.{1,4}/g).join(" ");
}

/** Renders the signed-in view of `keys` (the mount contract) into `root`; returns {stop}. */
export async function showSignedIn(root, keys) {
  const recipient = keys.recipient ?? await identityToRecipient(keys.ageIdentities[0]);
  const signing = toHex(sha256(ed25519.getPublicKey(keys.signingSeed)));
  const section = element("section", { class: "card", id: "v2-home",
    "aria-labelledby": "v2-home-title" });
  const heading = element("h2", { id: "v2-home-title", tabindex: "-1" }, A.homeHeading);
  const who = element("p", {}, A.signedInAs);
  who.append(element("strong", { id: "v2-home-email" }, keys.user.email), ".");
  const facts = element("dl");
  const rows = [[P.keyGeneration, String(keys.generation), "v2-home-generation"],
    [P.recipient, recipient, "v2-home-recipient"],
    [P.signingKey, grouped(signing), "v2-home-signing"],
    [P.keysKept, keys.shared ? P.keptInTab : P.keptInBrowser, "v2-home-storage"]];
  for (const [term, value, id] of rows) {
    facts.append(element("dt", {}, term), element("dd", { id, class: "fingerprint" }, value));
  }
  // Log out and the profile are in the shell's navigation (app.js), always reachable.
  // The keys fold away: they matter when checking them, not on every visit to the chat.
  const details = element("details", { id: "v2-home-keys" });
  details.append(element("summary", {}, A.yourKeys), facts);
  section.append(heading, who, details);
  root.replaceChildren(section); // no focus here: the card follows the chat on the page
  return { stop: () => root.replaceChildren() };
}
