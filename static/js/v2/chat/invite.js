// Addresses typed into the chat: refused in the page when malformed (no request leaves),
// and, for an address with no verified account, the offer to invite it by email
// (POST /api/v1/invitations; the server's answer is the same whoever holds the address).
import { el } from "./dom.js";

const MAX_ADDRESS = 254;

/** Why `text` is not an email address, or null when it looks like one. */
export function addressProblem(text) {
  if (!text) return "Enter an email address.";
  if (text.length > MAX_ADDRESS) return `An email address is at most ${MAX_ADDRESS} characters.`;
  if (/\s/u.test(text)) return `"${text}" is not an email address: it contains a space.`;
  const at = text.lastIndexOf("@");
  if (at < 1 || text.indexOf("@") !== at) {
    return `"${text}" is not an email address: it needs one @ with a name before it.`;
  }
  const domain = text.slice(at + 1);
  if (!/^[^.]+(\.[^.]+)+$/u.test(domain)) {
    return `"${text}" is not an email address: the part after @ needs a domain like `
      + "example.org.";
  }
  return null;
}

/**
 * "Invite …" buttons for `emails` (addresses with no verified account); each posts its
 * invitation through `engine.invite(email)` and is replaced by the server's answer.
 */
export function inviteOffer(engine, emails) {
  const offer = el("span", { class: "v2-invite" }, "Invite them by email? ");
  for (const email of emails) {
    const button = el("button", { type: "button", class: "secondary v2-invite-button",
      text: `Invite ${email}` });
    button.addEventListener("click", () => {
      button.disabled = true;
      engine.invite(email).then((answer) => {
        button.replaceWith(el("span", { class: "v2-invite-sent", role: "status",
          text: answer.detail }));
      }, (error) => {
        button.disabled = false;
        button.replaceWith(el("span", { class: "error", role: "alert",
          text: `The invitation to ${email} was not sent: ${error.message}` }), button);
        console.error("v2 chat: the invitation failed", error);
      });
    });
    offer.append(button, " ");
  }
  return offer;
}
