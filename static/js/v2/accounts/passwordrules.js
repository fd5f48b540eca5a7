// Client-side password rules for version 2 signups, mirroring the server's validators
// (settings.AUTH_PASSWORD_VALIDATORS): at least 12 characters, at most the server's
// maximum, not on the common-password list (Django's, shipped with the page), not all
// digits, not the address itself. The server never sees a version 2 password, so these
// are the only checks it gets.
import { ACCOUNTS as A } from "../strings.js";

/** Every problem of `password` (an empty list when it is acceptable). */
export function passwordProblems(password, email, { minLength, maxLength, commonPasswords }) {
  const problems = [];
  if (password.length < minLength) {
    problems.push(A.atLeast(minLength));
  } else if (password.length > maxLength) {
    problems.push(A.atMost(maxLength));
  }
  if (commonPasswords.has(password.toLowerCase().trim())) {
    problems.push(A.tooCommon);
  }
  if (/^\d+$/.test(password)) problems.push(A.numeric);
  const local = email.split("@")[0].toLowerCase();
  if (local.length >= 4 && password.toLowerCase().includes(local)) {
    problems.push(A.likeEmail);
  }
  return problems;
}
