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
