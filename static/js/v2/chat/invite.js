// Addresses typed into the chat: refused in the page when malformed (no request leaves),
// and, for an address with no verified account, the offer to invite it by email
// (POST /api/v1/invitations; the server's answer is the same whoever holds the address).
import { logFailure } from "../../common/log.js";
import { el } from "./dom.js";
import { INVITE } from "../strings.js";

const MAX_ADDRESS = 254;

/** Why `text` is not an email address, or null when it looks like one. */
export function addressProblem(text) {
  if (!text) return INVITE.enterAddress;
  if (text.length > MAX_ADDRESS) return INVITE.tooLong(MAX_ADDRESS);
  if (/\s/u.test(text)) return INVITE.space(text);
  const at = text.lastIndexOf("@");
  if (at < 1 || text.indexOf("@") !== at) {
    return INVITE.oneAt(text);
  }
  const domain = text.slice(at + 1);
  if (!/^[^.]+(\.[^.]+)+$/u.test(domain)) {
    return INVITE.domain(text);
  }
  return null;
}

/**
 * "Invite …" buttons for `emails` (addresses with no verified account); each posts its
 * invitation through `engine.invite(email)` and is replaced by the server's answer.
 */
export function inviteOffer(engine, emails) {
  const offer = el("span", { class: "v2-invite" }, INVITE.offer);
  for (const email of emails) {
    const button = el("button", { type: "button", class: "secondary v2-invite-button",
      text: INVITE.invite(email) });
    button.addEventListener("click", () => {
      button.disabled = true;
      engine.invite(email).then((answer) => {
        button.replaceWith(el("span", { class: "v2-invite-sent", role: "status",
          text: answer.detail }));
      }, (error) => {
        button.disabled = false;
        button.replaceWith(el("span", { class: "error", role: "alert",
          text: INVITE.notSent(email, error.message) }), button);
        logFailure("v2 chat", "the invitation failed", error);
      });
    });
    offer.append(button, " ");
  }
  return offer;
}
