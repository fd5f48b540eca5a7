// The account parameters a client remembers (DESIGN.md §3): the prelogin answer
// (account_salt, work factor) comes from the server, so after the first login a client
// refuses a different salt (a server swapping salts to test a guessed password against
// another derivation) and a lower work factor (a server cheapening offline guessing).
// Raising is fine: the deployment's setting went up, and the next login upgrades.
import { bytesEqual } from "./bytes.js";
import { CryptoError, SaltError, WorkFactorError } from "./errors.js";
import { checkWorkFactor } from "./derive.js";

/** The salt of a known account changed: the server is not answering as before. */
export class AccountParametersError extends CryptoError {
  constructor(message) {
    super("salt_changed", message);
    this.name = "AccountParametersError";
  }
}

/**
 * Checks the prelogin answer {accountSalt (16 bytes), workFactor} against what this
 * client remembered for the address ({accountSalt, workFactor}, or null the first time)
 * and returns the parameters to remember from now on. Raises SaltError, WorkFactorError or
 * AccountParametersError without deriving anything.
 */
export function checkAccountParameters(remembered, answer) {
  if (!(answer.accountSalt instanceof Uint8Array) || answer.accountSalt.length !== 16) {
    throw new SaltError("an account salt is exactly 16 bytes");
  }
  checkWorkFactor(answer.workFactor);
  if (remembered === null || remembered === undefined) return { ...answer };
  if (!bytesEqual(remembered.accountSalt, answer.accountSalt)) {
    throw new AccountParametersError("the server answered a different salt for this account");
  }
  if (answer.workFactor < remembered.workFactor) {
    throw new WorkFactorError(
      `the server lowered the work factor from ${remembered.workFactor} to ${answer.workFactor}`);
  }
  return { ...answer };
}
