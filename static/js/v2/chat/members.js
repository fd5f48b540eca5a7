// The member panel of the v2 chat view: the verified members (admins marked, "vouched
// for by" the member whose signed add carried their keys) and, for admins of a group,
// the controls to add, remove, make or unmake admins and rename; "Leave" for everyone.
// Every action goes through the engine, which refuses what this member may not sign;
// a refusal (the engine's or the server's) shows in the panel's alert, and a failed
// form keeps what was typed.
import { logFailure } from "../../common/log.js";
import { el, field } from "./dom.js";
import { addressProblem } from "./invite.js";
import { MEMBERS } from "../strings.js";

export class MemberPanel {
  /** `controlsFor(member)`: extra nodes for a row (the verified mark and "Verify"). */
  constructor(engine, controlsFor = () => []) {
    this.engine = engine;
    this.controlsFor = controlsFor;
    this.list = el("ul", { class: "v2-members" });
    this.error = el("p", { class: "error", id: "v2-member-error", role: "alert" });
    this.addEmail = el("input", { id: "v2-add-email", name: "email", autocomplete: "off",
      "aria-describedby": "v2-member-error" });
    this.newName = el("input", { id: "v2-rename", name: "name", autocomplete: "off",
      "aria-describedby": "v2-member-error" });
    this.addForm = el("form", { class: "v2-add", "aria-label": MEMBERS.addLabel },
      field("v2-add-email", MEMBERS.addField, this.addEmail),
      el("button", { type: "submit", text: MEMBERS.add }));
    this.renameForm = el("form", { class: "v2-rename", "aria-label": MEMBERS.renameLabel },
      field("v2-rename", MEMBERS.renameField, this.newName),
      el("button", { type: "submit", text: MEMBERS.rename }));
    this.leave = el("button", { type: "button", class: "v2-leave", text: MEMBERS.leave });
    this.element = el("section", { class: "v2-member-list", "aria-label": MEMBERS.members },
      el("h3", { text: MEMBERS.members }), this.list, this.addForm, this.renameForm, this.error,
      this.leave);
    this.#wire();
  }

  #wire() {
    const { engine } = this;
    this.addForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.#submit(this.addEmail, addressProblem,
        (email) => engine.addMember(engine.openId, email));
    });
    this.renameForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.#submit(this.newName, (name) => (name ? null : MEMBERS.enterGroupName),
        (name) => engine.rename(engine.openId, name));
    });
    this.leave.addEventListener("click", () => this.run(() => engine.leave(engine.openId)));
  }

  /**
   * Runs a form's action with its trimmed value, unless `problemOf(value)` names a problem
   * (shown; no request leaves); the field is emptied only on success.
   */
  async #submit(input, problemOf, action) {
    const value = input.value.trim();
    const problem = problemOf(value);
    if (problem) {
      this.error.textContent = problem;
      input.setAttribute("aria-invalid", "true");
      return;
    }
    input.removeAttribute("aria-invalid");
    if (await this.run(() => action(value))) input.value = "";
  }

  /** Runs one membership change; its refusal shows in the panel (and is logged). */
  async run(action) {
    this.error.textContent = "";
    try {
      await action();
      return true;
    } catch (error) {
      this.error.textContent = MEMBERS.notDone(error.message);
      logFailure("v2 chat", "the membership change failed", error);
      return false;
    }
  }

  /** What the row buttons do: "grant-admin", "revoke-admin" or "remove" on `userId`. */
  perform(kind, userId) {
    const { engine } = this;
    const act = { "grant-admin": () => engine.grantAdmin(engine.openId, userId),
      "revoke-admin": () => engine.revokeAdmin(engine.openId, userId),
      remove: () => engine.removeMember(engine.openId, userId) }[kind];
    return this.run(act);
  }

  render(conv) {
    const { members, admin } = this.engine.members(conv.id);
    const blocked = Boolean(this.engine.blockedReason(conv));
    const manage = admin && conv.kind !== "direct" && !blocked;
    this.list.replaceChildren(...members.map((m) => this.#row(m, manage)));
    this.addForm.hidden = !manage;
    this.renameForm.hidden = !manage;
    this.leave.hidden = Boolean(conv.left);
  }

  #row(member, manage) {
    const { engine } = this;
    const others = member.id !== engine.me.id;
    const row = el("li", { "data-id": String(member.id), title: others ? member.email : null },
      el("span", { class: "member-name", text: member.name }),
      // The address beside the name (a display name proves nothing), once.
      others && member.email && !member.name.includes(member.email)
        ? el("span", { class: "member-email", text: ` ${member.email}` }) : "",
      member.admin ? el("span", { class: "member-admin", text: MEMBERS.admin }) : "");
    if (member.vouchedBy !== member.id) {
      row.append(el("span", { class: "member-vouched",
        text: MEMBERS.vouchedBy(engine.nameOf(member.vouchedBy)) }));
    }
    row.append(...this.controlsFor(member));
    if (manage && member.id !== engine.me.id) {
      // The name is in the text, hidden from sight (the row shows it): an aria-label
      // unlike the visible text would fail "label in name" (WCAG 2.5.3).
      const [kind, before, after] = member.admin ? ["revoke-admin", ...MEMBERS.revokeAdmin]
        : ["grant-admin", ...MEMBERS.grantAdmin];
      const text = [before, el("span", { class: "visually-hidden", text: ` ${member.name}` }),
        ` ${after}`];
      row.append(" ", this.#button(kind, member.id, null, text),
        " ", this.#button("remove", member.id, MEMBERS.removeLabel(member.name), MEMBERS.remove));
    }
    return row;
  }

  #button(kind, userId, label, text) {
    const button = el("button", { type: "button", class: `v2-${kind}`, "aria-label": label },
      ...[text].flat());
    button.addEventListener("click", () => this.perform(kind, userId));
    return button;
  }
}
