// Endorsements (docs/protocol.md §11, client/endorsement.py): one key generation of a
// user vouching for another. The statement describes the *endorsed* generation's public
// keys and does not name its signer; the verifier supplies the key it expects.
//   statement("securechat/v2/endorsement", u64 user_id, u64 generation,
//             age_recipient, ed25519_pub(32))
import { requireBytes, u64be } from "./bytes.js";
import { signStatement, verifyStatement } from "./message.js";
import { parseStatement, readFields, recipientField, statement } from "./statement.js";

export const ENDORSEMENT_TAG = "securechat/v2/endorsement";
const ENDORSEMENT_FIELDS = [
  ["userId", "u64"], ["generation", "u64"], ["recipient", "recipient"], ["ed25519", 32],
];

/** The statement bytes of {userId, generation, recipient (canonical), ed25519 (32)}. */
export function endorsementStatement({ userId, generation, recipient, ed25519 }) {
  return statement(ENDORSEMENT_TAG, u64be(userId), u64be(generation),
    recipientField(recipient), requireBytes(ed25519, "Ed25519 public key", 32));
}

/** {userId, generation (BigInt), recipient, ed25519} of the bytes; StatementError otherwise. */
export function parseEndorsement(statementBytes) {
  return readFields(ENDORSEMENT_FIELDS, parseStatement(statementBytes, ENDORSEMENT_TAG));
}

/** (statement bytes, 64-byte signature) of `endorsed` by the 32-byte Ed25519 `signerSeed`. */
export function signEndorsement(signerSeed, endorsed) {
  const bytes = endorsementStatement(endorsed);
  return { statement: bytes, signature: signStatement(signerSeed, bytes) };
}

/**
 * The endorsed keys, if `signature` by `signerPublic` verifies (else SignatureError)
 * and the bytes are a canonical endorsement (else StatementError).
 */
export function verifyEndorsement(signerPublic, statementBytes, signature) {
  verifyStatement(signerPublic, statementBytes, signature);
  return parseEndorsement(statementBytes);
}
