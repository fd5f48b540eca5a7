// Typed errors of the client crypto (DESIGN.md §3: fail closed with typed errors).
// Every failure is a CryptoError with a stable `code`; callers branch on the class or
// the code, never on the message. The original exception, if any, stays in `cause`.

/** Base class of every error thrown by static/js/crypto/. */
export class CryptoError extends Error {
  /**
   * @param {string} code stable machine-readable code (e.g. "bad_tag")
   * @param {string} message human-readable detail
   * @param {{cause?: unknown}} [options]
   */
  constructor(code, message, options = undefined) {
    super(message, options);
    // Spelled out per class: the bundle is minified, so new.target.name would be mangled.
    this.name = "CryptoError";
    this.code = code;
  }
}

/** Malformed input: wrong length, wrong type, trailing bytes, non-canonical encoding. */
export class InvalidInputError extends CryptoError {
  constructor(message, options) {
    super("invalid_input", message, options);
    this.name = "InvalidInputError";
  }
}

/** A work factor outside the range the client accepts (a lying server, DESIGN.md §3). */
export class WorkFactorError extends CryptoError {
  constructor(message) {
    super("work_factor", message);
    this.name = "WorkFactorError";
  }
}

/** A recovery code that does not parse. */
export class RecoveryCodeError extends CryptoError {
  constructor(message) {
    super("invalid_recovery_code", message);
    this.name = "RecoveryCodeError";
  }
}

/** A message box that does not open: the code says which check failed. */
export class MessageBoxError extends CryptoError {
  constructor(code, message, options) {
    super(code, message, options);
    this.name = "MessageBoxError";
  }
}

/** An Ed25519 signature that does not verify. */
export class SignatureError extends CryptoError {
  constructor(message, options) {
    super("bad_signature", message, options);
    this.name = "SignatureError";
  }
}
