// Group management for the conversation engine (no DOM, no state of its own):
// - who may sign which membership change, judged on the verified chain state before
//   signing, so a change every member would refuse (the server does not judge authority)
//   never reaches the server;
// - the signed cannot-open notice (docs/protocol.md §17), which travels as an encrypted
//   message of statement kind "notice" in the replacement epoch its reporter creates, so
//   every member (the epoch's creator included) reads it and the server learns nothing;
// - the timeline lines of both.
import { bytesEqual, signCannotOpen, verifyCannotOpen } from "../../crypto/index.js";
import { b64, unb64 } from "./api.js";
import { FINDINGS, GROUPS, MEMBERS } from "../strings.js";

export const CANNOT_OPEN_KIND = "notice"; // the message statement kind of a notice
export const CANNOT_OPEN_TYPE = "cannot-open"; // the document type in its box
export const MAX_GROUP_NAME = 200; // characters; the envelope's size limit also applies

const ADMIN_WORDS = GROUPS.adminWords;

/**
 * Why this member may not sign `kind` (on `target`, a BigInt id, or null) in `state` (the
 * verified chain state), or null when it may: {text, done} where `done` says the intent
 * already holds (e.g. the target was added meanwhile: nothing left to do).
 */
export function refusalOf(state, me, kind, target, nameOf) {
  const name = target === null ? "" : nameOf(target);
  if (!state.members.has(me)) return { text: GROUPS.notMember };
  if (Object.hasOwn(ADMIN_WORDS, kind) && !state.admins.has(me)) {
    return { text: GROUPS.onlyAdmin(ADMIN_WORDS[kind]) };
  }
  const member = target !== null && state.members.has(target);
  if (kind === "add" && member) return { text: GROUPS.alreadyMember(name), done: true };
  if (kind !== "add" && target !== null && !member) {
    return { text: GROUPS.isNotMember(name), done: kind === "remove" };
  }
  if (kind === "remove" && target === me) return { text: GROUPS.leaveInstead };
  if (kind === "grant-admin" && state.admins.has(target)) {
    return { text: GROUPS.alreadyAdmin(name), done: true };
  }
  if (kind === "revoke-admin" && !state.admins.has(target)) {
    return { text: GROUPS.isNotAdmin(name), done: true };
  }
  return null;
}

/** The trimmed group name; an Error for an empty or overlong one. */
export function checkGroupName(name) {
  const trimmed = typeof name === "string" ? name.trim() : "";
  if (!trimmed) throw new Error(MEMBERS.enterGroupName);
  if ([...trimmed].length > MAX_GROUP_NAME) {
    throw new Error(MEMBERS.groupNameTooLong(MAX_GROUP_NAME));
  }
  return trimmed;
}

/** The timeline line of a rename once its epoch told this member the new name. */
export function renameLine(actor, name) {
  return `${actor} renamed the group to “${name}”`;
}

/**
 * The document of a cannot-open notice about epoch `parsed` (its parsed statement), signed
 * by this member: {v: 2, type: "cannot-open", notice: {statement, signature}} (base64).
 */
export function cannotOpenDocument(seed, me, conversationId, parsed) {
  const signed = signCannotOpen(seed, { conversationId, epoch: parsed.epoch,
    envelopeHash: parsed.envelopeHash, creatorId: parsed.creatorId, reporterId: me.id,
    reporterGeneration: me.generation });
  return { v: 2, type: CANNOT_OPEN_TYPE,
    notice: { statement: b64(signed.statement), signature: b64(signed.signature) } };
}

/**
 * The verified notice of a cannot-open document from `sender`: signed by the sender's
 * pinned key, about this conversation and an epoch whose envelope hash this client
 * recorded (`hashOf(number)`). Throws otherwise.
 */
export function readCannotOpen(doc, { sender, conversationId, keyLookup, hashOf }) {
  const { statement, signature } = doc.notice ?? {};
  if (typeof statement !== "string" || typeof signature !== "string") {
    throw new Error("a cannot-open message without its notice");
  }
  const notice = verifyCannotOpen(unb64(statement), unb64(signature), keyLookup);
  if (notice.reporterId !== sender) throw new Error("a cannot-open notice of another member");
  if (!bytesEqual(notice.conversationId, conversationId)) {
    throw new Error("a cannot-open notice about another conversation");
  }
  const recorded = hashOf(notice.epoch);
  if (!recorded || !bytesEqual(recorded, notice.envelopeHash)) {
    throw new Error(`a cannot-open notice about keys this client never saw (epoch ${notice.epoch})`);
  }
  return notice;
}

/** "Bob could not open the keys Alice made (epoch 2)". */
export function cannotOpenLine(notice, nameOf) {
  return FINDINGS.cannotOpen(nameOf(notice.reporterId), nameOf(notice.creatorId), notice.epoch);
}
