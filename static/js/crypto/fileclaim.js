// The file claim (docs/protocol.md §20, client/fileclaim.py): which upload a version 2
// file message names. It travels beside the message, signed by the sender:
//   statement("securechat/v2/file-claim", conversation_id(16), client_message_id(16),
//             upload_id(16), u64 sender_id, u64 sender_generation)
// Parsed before the signature is checked, as client/ does, so a malformed claim is a
// StatementError and a well-formed one under a wrong signature a SignatureError.
import { requireBytes, u64be } from "./bytes.js";
import { signStatement, verifyStatement } from "./message.js";
import { parseStatement, readFields, statement } from "./statement.js";

export const FILE_CLAIM_TAG = "securechat/v2/file-claim";
const FILE_CLAIM_FIELDS = [
  ["conversationId", 16], ["clientMessageId", 16], ["uploadId", 16],
  ["senderId", "u64"], ["senderGeneration", "u64"],
];

/** The statement bytes of a claim {conversationId, clientMessageId, uploadId (16 bytes
 *  each), senderId, senderGeneration}. */
export function fileClaimStatement(claim) {
  return statement(FILE_CLAIM_TAG,
    requireBytes(claim.conversationId, "conversation id", 16),
    requireBytes(claim.clientMessageId, "client message id", 16),
    requireBytes(claim.uploadId, "upload id", 16),
    u64be(claim.senderId), u64be(claim.senderGeneration));
}

/** The claim in the bytes (StatementError unless exactly canonical). */
export function parseFileClaim(statementBytes) {
  return readFields(FILE_CLAIM_FIELDS, parseStatement(statementBytes, FILE_CLAIM_TAG));
}

/** {statement, signature} of `claim` under the sender's 32-byte Ed25519 seed. */
export function signFileClaim(senderSeed, claim) {
  const bytes = fileClaimStatement(claim);
  return { statement: bytes, signature: signStatement(senderSeed, bytes) };
}

/** The claim, if it parses and `signature` by `senderPublic` verifies. */
export function verifyFileClaim(senderPublic, statementBytes, signature) {
  const claim = parseFileClaim(statementBytes);
  verifyStatement(senderPublic, statementBytes, signature);
  return claim;
}
