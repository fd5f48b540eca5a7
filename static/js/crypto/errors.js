// Typed errors of the client crypto (DESIGN.md §3: fail closed with typed errors).
// Every failure is a CryptoError with a stable `code`; callers branch on the class or
// the code, never on the message. The original exception, if any, stays in `cause`.
//
// The codes are client/'s (client/errors.py, docs/protocol.md §13), so the shared test
// vectors name one failure for both clients. Codes only the browser has (a worker that
// fails, a remembered salt that changed) are defined next to their modules.

/** Base class of every error thrown by static/js/crypto/. */
export class CryptoError extends Error {
  /**
   * @param {string} code stable machine-readable code (e.g. "bad_tag")
   * @param {string} message human-readable detail (never the rejected input)
   * @param {{cause?: unknown}} [options]
   */
  constructor(code, message, options = undefined) {
    super(message, options);
    // Spelled out per class: the bundle is minified, so new.target.name would be mangled.
    this.name = "CryptoError";
    this.code = code;
  }
}

/** The caller passed a wrong type or an out-of-range value (a programming error). */
export class UsageError extends CryptoError {
  constructor(message, options) {
    super("usage", message, options);
    this.name = "UsageError";
  }
}

/** A statement is malformed or non-canonical (§1), or signed for another context or box. */
export class StatementError extends CryptoError {
  constructor(message, options) {
    super("bad_statement", message, options);
    this.name = "StatementError";
  }
}

/** The text does not normalise to an address (one "@", non-empty parts; §2). */
export class EmailError extends CryptoError {
  constructor(message) {
    super("bad_email", message);
    this.name = "EmailError";
  }
}

/** An account salt that is not exactly 16 bytes (§3). */
export class SaltError extends CryptoError {
  constructor(message) {
    super("bad_salt", message);
    this.name = "SaltError";
  }
}

/** A work factor outside the range the client accepts (a lying server, DESIGN.md §3). */
export class WorkFactorError extends CryptoError {
  constructor(message) {
    super("bad_work_factor", message);
    this.name = "WorkFactorError";
  }
}

/** A recovery code that does not parse (§6). */
export class RecoveryCodeError extends CryptoError {
  constructor(message) {
    super("bad_recovery_code", message);
    this.name = "RecoveryCodeError";
  }
}

/** Safety-number input naming the same user twice (§8). */
export class SafetyNumberError extends CryptoError {
  constructor(message) {
    super("bad_safety_input", message);
    this.name = "SafetyNumberError";
  }
}

/**
 * A message box that does not open: `code` is bad_format (version, size, or a plaintext
 * that is not UTF-8), bad_tag or bad_padding (§9).
 */
export class MessageBoxError extends CryptoError {
  constructor(code, message, options) {
    super(code, message, options);
    this.name = "MessageBoxError";
  }
}

/** An Ed25519 signature that does not verify, or a key or signature of the wrong size. */
export class SignatureError extends CryptoError {
  constructor(message, options) {
    super("bad_signature", message, options);
    this.name = "SignatureError";
  }
}

/**
 * No pinned or accepted public key for the (user id, generation) a statement names
 * (client.errors.UnknownKeyError).
 */
export class UnknownKeyError extends CryptoError {
  constructor(message) {
    super("unknown_key", message);
    this.name = "UnknownKeyError";
  }
}

/**
 * A membership operation or chain refused (§15): `code` is bad_membership, chain_order,
 * chain_link, unknown_kind, not_authorized or member_limit (fork: ForkDetected).
 */
export class MembershipError extends CryptoError {
  constructor(code, message) {
    super(code, message);
    this.name = "MembershipError";
  }
}

/**
 * Two different signed operations with one index (§15): the server forked the chain.
 * `first` (accepted first) and `second` are {statement, signature} pairs.
 */
export class ForkDetected extends MembershipError {
  constructor(index, first, second) {
    super("fork", `two different membership operations with index ${index}`);
    this.name = "ForkDetected";
    this.index = index;
    this.first = first;
    this.second = second;
  }
}

/**
 * An epoch refused (§16): `code` is bad_epoch, not_my_key, pin_mismatch or cannot_open
 * (equivocation: EquivocationDetected).
 */
export class EpochError extends CryptoError {
  constructor(code, message, options) {
    super(code, message, options);
    this.name = "EpochError";
  }
}

/** Two envelope hashes for one epoch number of one conversation (§16; blocks sending). */
export class EquivocationDetected extends EpochError {
  constructor(conversationId, epoch, first, second) {
    super("equivocation", `two envelopes for epoch ${epoch}`);
    this.name = "EquivocationDetected";
    this.conversationId = conversationId;
    this.epoch = epoch;
    this.first = first;
    this.second = second;
  }
}

/** A pin blob refused (§17): `code` is bad_pin_blob or pin_rollback. */
export class PinBlobError extends CryptoError {
  constructor(code, message, options) {
    super(code, message, options);
    this.name = "PinBlobError";
  }
}

/**
 * Bytes that are not an age file (bad_file), or a well-formed file whose hash is not
 * the signed one (file_hash_mismatch: shown as a forgery) (§18).
 */
export class FileHashError extends CryptoError {
  constructor(code, message) {
    super(code, message);
    this.name = "FileHashError";
  }
}
