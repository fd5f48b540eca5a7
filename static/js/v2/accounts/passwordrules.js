// Client-side password rules for version 2 signups, mirroring the server's validators
// (settings.AUTH_PASSWORD_VALIDATORS): at least 12 characters, at most the server's
// maximum, not on the common-password list (Django's, shipped with the page), not all
// digits, not the address itself. The server never sees a version 2 password, so these
// are the only checks it gets.

/** Every problem of `password` (an empty list when it is acceptable). */
export function passwordProblems(password, email, { minLength, maxLength, commonPasswords }) {
  const problems = [];
  if (password.length < minLength) {
    problems.push(`Use at least ${minLength} characters.`);
  } else if (password.length > maxLength) {
    problems.push(`Use at most ${maxLength} characters.`);
  }
  if (commonPasswords.has(password.toLowerCase().trim())) {
    problems.push("This password is too common.");
  }
  if (/^\d+$/.test(password)) problems.push("This password is entirely numeric.");
  const local = email.split("@")[0].toLowerCase();
  if (local.length >= 4 && password.toLowerCase().includes(local)) {
    problems.push("This password is too similar to your email address.");
  }
  return problems;
}
