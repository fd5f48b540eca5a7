// Every user-visible string of the browser code, in one place so a translation can come
// later (issue 15): grouped by feature, each a constant or a function of what it
// interpolates. Plurals and lists of names go through Intl in the browser's locale
// (`plural`, `listOf`); dates and times through Intl too (`dateTime` here, the chat's
// day labels in chat/timeformat.js). Not here: log messages, internal errors that are
// only logged, CSS classes, protocol strings. tests/securechat/test_strings_catalogue.py
// fails when a user-visible literal appears in another module.

/** `forms[category]` for `count` by the browser's plural rules ("one", "other", …). */
export function plural(count, forms) {
  return forms[new Intl.PluralRules().select(count)] ?? forms.other;
}

/** "Alice and Bob", "Alice, Bob and Carol" in the browser's locale. */
export function listOf(names) {
  return new Intl.ListFormat(undefined, { style: "long", type: "conjunction" }).format(names);
}

/** A date and time (an ISO string or ms) in the user's local time and locale. */
export function dateTime(value) {
  return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" })
    .format(new Date(value));
}

const number = (n) => new Intl.NumberFormat().format(n);

// ---- chat: the conversation list, the timeline, the status line -------------------------
export const CHAT = {
  removed: { sender: "This message was deleted for everyone.",
    expiry: "Message expired.", server: "Message removed by the server.",
    pending: "Message removed." },
  failedVerification: "This message failed verification and is not shown.",
  lastDeleted: "Deleted for everyone", lastRemoved: "Message removed",
  lastFailed: "A message that failed verification",
  file: (name) => `File: ${name}`,
  line: (sender, what) => `${sender}: ${what}`,
  conversation: "Conversation", conversations: "Conversations", you: "You",
  fileNotSent: (name, reason) => `${name} was not sent: ${reason}`,
  connected: "Connected", reconnecting: "Reconnecting…",
  couldNotStart: (reason) => `The chat could not start: ${reason}`,
  nobodyYet: "nobody else yet",
  empty: (who) => `This is the start of your conversation with ${who}. Messages and files here `
    + "are end-to-end encrypted: only its members can read them, not the server. To be "
    + "sure who you are writing to, compare safety numbers with them.",
  newConversation: "New conversation",
  newEmails: "Email address(es), separated by commas",
  newGroupName: "Group name (for a group)",
  start: "Start conversation",
  enterAddress: "Enter at least one email address.",
  typing: (names) => (names.length === 1 ? `${names[0]} is typing…`
    : `${listOf(names)} are typing…`),
};

// ---- composer ------------------------------------------------------------------------
export const COMPOSER = {
  label: "Write a message", message: "Message", send: "Send",
  attach: "Attach a file (or drop files on the conversation)",
  tooLong: "This message is too long to send: shorten it, or send it as a file.",
  notSent: (reason) => `Not sent: ${reason}`,
  blocked: (reason) => `Sending is blocked: ${reason}`,
  over: (bytes) => `Too long by ${number(bytes)} ${plural(bytes, { one: "byte", other: "bytes" })}`
    + ": shorten it to send.",
  left: (bytes) => `${number(bytes)} ${plural(bytes, { one: "byte", other: "bytes" })} left`,
};

// ---- receipts of one's own messages -----------------------------------------------------
export const RECEIPTS = {
  state: { uploading: "Uploading…", sending: "Sending…", sent: "Sent", failed: "Failed",
    received: "" },
  waiting: "Waiting to send", sent: "Sent", read: "Read",
  readBy: (read, of) => `Read by ${read} of ${of}`,
};

// ---- replies, reactions, edits, delete for everyone -------------------------------------
export const ACTIONS = {
  reply: "Reply", react: "React", edit: "Edit", unsend: "Delete for everyone",
  undo: "Undo", cancel: "Cancel", edited: "edited",
  replyLabel: (name) => `Reply to ${name}`,
  reactWith: (emoji) => `React with ${emoji}`,
  reactionTitle: (names) => names.join(", "),
  reactionLabel: (emoji, count, names) => `${emoji} ${count}: ${names.join(", ")}`,
  quoteDeleted: "Deleted message", quoteMissing: "Original message not loaded",
  quoteUnreadable: "Original message could not be read",
  quoteLabel: (name) => `Reply to ${name}: show the original`,
  invalidEdit: (editor, owner) => `${editor} tried to edit ${owner === "You" ? "your"
    : `${owner}'s`} message: not applied.`,
  unsending: "This message will be deleted for everyone.",
  unsendingNow: "Deleting for everyone…",
  replyingTo: (name, text) => `Replying to ${name}: ${text}`,
  editing: (text) => `Editing: ${text}`,
};

// ---- files: downloads in the timeline ---------------------------------------------------
export const FILES = {
  forgery: "This file does not match what its sender sent (forgery?)",
  inPage: "This browser cannot save files while they download: the file is "
    + "decrypted in this page's memory first.",
  download: "Download", preview: "Preview",
  downloadLabel: (name) => `Download ${name}`,
  previewLabel: (name) => `Preview ${name}`,
  downloading: (name) => `Downloading ${name}`,
  downloadFailed: (reason) => `The download failed: ${reason}`,
};

// ---- uploads -------------------------------------------------------------------------
export const UPLOADS = {
  discardQuestion: "An upload is still in progress. Log out anyway? The upload will be "
    + "cancelled and deleted.",
  secondsLeft: (n) => `${n} s left`, minutesLeft: (n) => `${n} min left`,
  hoursLeft: (n) => `${n} h left`,
  perSecond: (size) => `${size}/s`,
  uploading: (name) => `Uploading ${name}`,
  cancel: "Cancel", cancelLabel: (name) => `Cancel the upload of ${name}`,
  aFile: "a file",
  interrupted: (name) => `Upload of ${name} was interrupted — choose the same file to continue`,
  dismiss: "Dismiss", dismissLabel: (text) => `Dismiss: ${text}`,
  discard: "Discard", discardLabel: (name) => `Discard the interrupted upload of ${name}`,
};

// ---- previews and thumbnails ------------------------------------------------------------
export const PREVIEWS = {
  opening: "Opening the preview…",
  "download-only": "This kind of file is not previewed (only pictures, audio, video and "
    + "PDF are, recognised from the file itself): download it instead.",
  failed: "The preview could not be opened.",
  pdfFailed: "This PDF could not be shown: download it instead.",
  close: "Close preview",
  tooLarge: (size) => `Files over ${size} are not previewed: download it instead.`,
  thumbnail: (name) => `Thumbnail of ${name}`,
  previewOf: (name) => `Preview of ${name}`,
  page: (n) => `Page ${n}`,
};

// ---- members and group management -------------------------------------------------------
export const MEMBERS = {
  addLabel: "Add a member", addField: "Add a member by email address", add: "Add",
  renameLabel: "Rename the group", renameField: "New group name", rename: "Rename",
  leave: "Leave conversation", members: "Members",
  enterGroupName: "Enter a name for the group.",
  groupNameTooLong: (max) => `A group name has at most ${max} characters.`,
  notDone: (reason) => `Not done: ${reason}`,
  revokeAdmin: ["Remove", "as an admin"], grantAdmin: ["Make", "an admin"],
  removeLabel: (name) => `Remove ${name}`, remove: "Remove",
  admin: " (admin)",
  vouchedBy: (name) => ` vouched for by ${name}`,
};

export const GROUPS = {
  adminWords: { add: "add members", remove: "remove members",
    "grant-admin": "make someone an admin", "revoke-admin": "remove an admin",
    rename: "rename the group" },
  notMember: "You are not a member of this conversation.",
  onlyAdmin: (what) => `Only an admin may ${what}.`,
  alreadyMember: (name) => `${name} is already a member.`,
  isNotMember: (name) => `${name} is not a member.`,
  leaveInstead: "Leave instead of removing yourself.",
  alreadyAdmin: (name) => `${name} is already an admin.`,
  isNotAdmin: (name) => `${name} is not an admin.`,
};

// ---- addresses and invitations ----------------------------------------------------------
export const INVITE = {
  enterAddress: "Enter an email address.",
  tooLong: (max) => `An email address is at most ${max} characters.`,
  space: (text) => `"${text}" is not an email address: it contains a space.`,
  oneAt: (text) => `"${text}" is not an email address: it needs one @ with a name before it.`,
  domain: (text) => `"${text}" is not an email address: the part after @ needs a domain like `
    + "example.org.",
  offer: "Invite them by email? ",
  invite: (email) => `Invite ${email}`,
  notSent: (email, reason) => `The invitation to ${email} was not sent: ${reason}`,
};

// ---- contact verification ---------------------------------------------------------------
export const VERIFY = {
  intro: (name) => `Compare this safety number with the one ${name} sees, in person or over `
    + "a call you trust, or scan each other's QR code. It matches only if nobody has "
    + "swapped your keys.",
  verified: (name) => `${name} is verified. The mark goes away if their keys change.`,
  unverified: (name) => `${name} is not verified yet.`,
  marked: (name) => `${name} is now verified.`,
  "other-keys": (name) => `This code is for someone else's keys: ${name} is not marked verified.`,
  "not-safety-code": () => "This is not a SecureChat safety code: nothing was marked.",
  noCode: () => "No QR code was found in this image: nothing was marked.",
  notImage: () => "This file is not an image this browser can read: nothing was marked.",
  camera: (reason) => `The camera could not be used (${reason}).`,
  reader: (reason) => `The QR code reader could not start (${reason}): nothing was marked.`,
  frame: (reason) => `The camera's picture could not be read (${reason}): nothing was marked.`,
  pointCamera: (name) => `Point the camera at ${name}'s safety QR code…`,
  failed: (reason) => `Nothing was marked: ${reason}`,
  noKeys: "No keys are pinned for this contact yet: write to them first.",
  safetyNumber: "Safety number", mark: "Mark as verified", stop: "Stop the camera",
  cameraLabel: "Camera", close: "Close", verify: "Verify",
  verifyLabel: (name) => `Verify ${name}`, title: (name) => `Verify ${name}`,
  scan: (name) => `Scan ${name}'s code with the camera`,
  scanFile: (name) => `Scan ${name}'s code from an image file`,
  letScan: (name) => `Let ${name} scan this code`,
  qrLabel: (name) => `QR code of your safety number with ${name}`,
};

// ---- search ---------------------------------------------------------------------------
export const SEARCH = {
  placeholder: "Search messages (Ctrl+K)", results: "Search results", label: "Search messages",
  where: (conversation, sender) => `${conversation} · ${sender}`,
  found: (count, more) => `${count}${more ? "+" : ""} found`,
  nothing: "Nothing found.",
};

// ---- notifications and privacy settings -------------------------------------------------
export const NOTIFICATIONS = {
  title: (sender) => `${sender} — SecureChat`,
  newMessage: "New message",
  blocked: "This browser blocks notifications for this site: allow them in its settings.",
  unsupported: "This browser cannot show notifications.",
  summary: "Notifications",
  on: " Notify me of new messages while this tab is open",
  withText: " Include the message text (others who see your screen can read it)",
  noPush: "With the tab closed, nothing arrives: SecureChat has no push notifications.",
};

export const PRIVACY = {
  summary: "Privacy",
  receipts: "Send read receipts (and see others')",
  typing: "Send typing hints (and see others')",
  help: "The server sees read positions and typing hints (who, where, when), never what "
    + "you read or type.",
};

// ---- offline and the logout questions ---------------------------------------------------
export const OFFLINE = {
  offline: "You are offline. What you write waits here and is sent when you are back.",
  lost: "The connection to the server was lost. Reconnecting… What you write waits "
    + "here and is sent when it is back.",
  discardWaiting: (count) => plural(count, {
    one: `${count} message has not been sent; log out anyway? It will be deleted from this `
      + "browser.",
    other: `${count} messages have not been sent; log out anyway? They will be deleted from `
      + "this browser.",
  }),
};

// ---- the chat's warnings (findings), blocked sending, timeline notices -------------------
export const FINDINGS = {
  pins: (reason) => `Your saved key pins failed verification (${reason}): every contact is `
    + "pinned again from the directory.",
  otherKey: (email, generation) => `The directory shows another key for ${email} than the `
    + `one pinned (generation ${generation}): it is not used.`,
  keyChanged: (email, generation) => `The key of ${email} changed (generation ${generation}); `
    + "the pinned key stays in use.",
  entry: (seq, reason) => `Timeline entry ${seq} could not be processed: ${reason}`,
  equivocation: "The server showed two different keys for one epoch of this conversation. "
    + "Sending here is blocked.",
  epoch: (epoch, reason) => `Epoch ${epoch} was refused: ${reason}`,
  history: (name) => `Your history differs from ${name}'s.`,
  clock: (name) => `The server's time for a message from ${name} is more than 10 minutes from `
    + "the sender's clock.",
  serverRemoved: (name, reason) => `The server removed ${name} (account ${reason})`,
  cannotOpen: (reporter, creator, epoch) => `${reporter} could not open the keys ${creator} `
    + `made (epoch ${epoch})`,
  left: "You are no longer a member of this conversation.",
  broken: "Its membership failed verification.",
  twoKeys: "The server showed two keys for one epoch.",
  notListed: "The directory does not list this identity's keys: stopping.",
  membershipRefused: (index, reason) => `A membership change (operation ${index}) was refused: `
    + `${reason}. Sending here is blocked.`,
  messageFailed: (name, reason) => `A message from ${name} failed verification and is not `
    + `shown (${reason}).`,
  noticeFailed: (name, reason) => `A cannot-open notice from ${name} does not verify (${reason}).`,
  missing: (name) => `A message from ${name} is missing.`,
  actionFailed: (unsend, reason) => `${unsend ? "Not deleted" : "Not sent"}: ${reason}`,
  noAccount: (emails) => `No verified account has the address ${emails.join(", ")}.`,
  addedWithOtherKey: (name) => `${name} was added with a key that differs from the one pinned here.`,
  removedByServer: (name) => `A message from ${name} was removed by the server.`,
  tookBack: (name) => `${name} took back a message this client does not hold.`,
};

// ---- profile (/me/) ----------------------------------------------------------------------
export const PROFILE = {
  pageTitle: "Your account — SecureChat", heading: "Your account",
  keyGeneration: "Key generation", recipient: "Your age recipient",
  signingKey: "Your signing key (SHA-256)", keysKept: "Keys kept",
  keptInTab: "in this tab only (shared computer)",
  keptInBrowser: "in this browser, under this session's device key",
  emailAddress: "Email address", displayName: "Display name",
  noDisplayName: "(none: contacts see your address)",
  waitingConfirmation: "Waiting for confirmation",
  twoFactor: "Two-factor authentication", on: "on", off: "off",
  save: "Save", nameHeading: "How contacts see you",
  nameHelp: "Contacts see this name instead of your address (they can still see the "
    + "address). Leave it empty to show the address.",
  logOutOthers: "Log out all other sessions", logOut: "Log out",
  logOutSession: (device, current) => `Log out session ${device}${current ? " (this one)" : ""}`,
  unknownDevice: "Unknown device", thisSession: " (this session)",
  seenFrom: (address) => ` — ${address ?? "unknown address"}, last seen `,
  sessions: "Sessions",
  setUpApp: "Set up an authenticator app", newBackupCodes: "Make new backup codes",
  turnOff: "Turn two-factor off",
  totpOn: "Two-factor authentication is on: logging in asks for a code from your app (or a "
    + "backup code).",
  sendLinkAgain: "Send the link again",
  verifyFirst: (email) => `Verify your email address first: open the link we sent to ${email}. `
    + "Two-factor authentication can be set up once it is verified.",
  newEmail: "New email address", sendConfirmation: "Send a confirmation link",
  emailHelp: "A link goes to the new address; your address (and the keys your password "
    + "opens under it) change when you open it.",
  deleteSure: " I understand: my account, my keys and my access to my conversations are "
    + "deleted for good.",
  deleteMine: "Delete my account", deleteHeading: "Delete account",
};

// the profile's status and error lines (profile/store.js)
export const PROFILE_STATUS = {
  working: "Working…",
  enterPassword: "Enter your current password.",
  nameSet: (name) => `Contacts now see you as ${name}.`,
  nameCleared: "Your display name is cleared: contacts see your address.",
  thisSessionEnded: "This session was ended. Log in again.",
  sessionEnded: "The session was ended.",
  othersEnded: (count) => `Other sessions ended: ${count}.`,
  newLink: (email) => `We sent a new link to ${email}.`,
  scanTheCode: "Scan the code, then confirm with a code from the app.",
  totpOn: "Two-factor authentication is on. Your other sessions were logged out.",
  totpOff: "Two-factor authentication is off.",
  codesMade: "New backup codes made; the old ones no longer work.",
  enterNewEmail: "Enter the new email address.",
  linkSent: (email) => `We sent a link to ${email}. Your address changes when you open it; `
    + "until then, log in with the current one.",
  tickToDelete: "Tick the box to confirm the deletion.",
  deleted: "Your account was deleted, with its keys. This browser keeps nothing of it.",
};

// ---- two-factor: enrolment, backup codes, the nudge, the login stages ------------------------
export const TWO_FACTOR = {
  currentPassword: "Current password",
  stepUpCode: "Authentication code (app or backup code)",
  appCode: "Code from your authenticator app", confirm: "Confirm",
  qrAlt: "QR code for your authenticator app",
  enterCode: "Enter the 6-digit code your app shows.",
  scanThis: "Scan this QR code with your authenticator app, or type the key below.",
  key: "Key: ",
  codesFile: (email, codes) => `SecureChat backup codes for ${email}\n\n${codes.join("\n")}\n\n`
    + "Each code works once, in place of a code from your authenticator app.\n",
  copy: "Copy", copied: "Backup codes copied.",
  copyFailed: "Copying failed: select the codes and copy them.",
  downloadTxt: "Download as .txt", saved: "I saved my backup codes",
  codesHeading: "Your backup codes",
  codesHelp: "Shown this once. Keep them somewhere safe: each works once if you lose your phone.",
  notNow: "Not now", nudgeHeading: "Protect your account with two-factor",
  nudgeText: "With an authenticator app, your password alone no longer opens your account. "
    + "It takes a minute.",
  nudgeSetUp: "Set up two-factor",
  enrolHeading: "Set up two-factor authentication",
  enrolRequired: "This site requires an authenticator app. Set it up to finish logging in.",
  sendLinkAgain: "Send the link again", openedLink: "I opened the link: continue",
  inboxHeading: "Check your inbox", sentLinkTo: "We sent a link to ",
  sentLinkAfter: ". Open it to confirm your address, then continue here to set up two-factor "
    + "authentication.",
  newLinkOnWay: "A new link is on its way.",
  notConfirmedYet: "Your address is not confirmed yet: open the link in the email first.",
};

// ---- accounts: login, signup, failures, progress ------------------------------------------
export const ACCOUNTS = {
  wrongCredentials: "Wrong email address or password.",
  unsafeWorkFactor: (reason, floor, ceiling) => `The server asked for unsafe key-derivation `
    + `settings (${reason}; this app accepts ${floor} to ${ceiling}). Your password was not used.`,
  saltChanged: "The server's answer for this account changed since your last login here (a "
    + "different salt). Your password was not used. Contact your administrator.",
  malformed: (reason) => `The server answered something malformed (${reason}). Your password `
    + "was not used.",
  keysNotOpened: (reason) => `Your keys could not be opened: ${reason}.`,
  validEmail: "Enter a valid email address.",
  codeNotStarted: (reason) => `This page's code could not start: ${reason}.`,
  somethingWrong: "Something went wrong. Please try again.",
  progressStart: (title) => `${title}: starting.`,
  progressAt: (title, percent) => `${title}: ${percent}%.`,
  enterEmail: "Enter your email address.", enterPassword: "Enter your password.",
  unlocking: "Unlocking your keys",
  enterCode: "Enter the code from your authenticator app or a backup code.",
  strengthening: "Strengthening your password's protection",
  securityAlarm: (reason) => `Security alarm: ${reason}. Someone may have added keys to your `
    + "account on the server. Nothing was unlocked; contact your administrator.",
  passwordsDiffer: "The two passwords differ.",
  protecting: "Protecting your new keys",
  madeLogIn: (reason) => `Your account is made. ${reason} Log in.`,
  sessionEnded: "Your session ended (logged out or revoked elsewhere). Log in again.",
  unlockInTab: "Enter your password to unlock your keys in this tab.",
  unlock: "Enter your password to unlock your keys.",
  loggedOut: "You are logged out.",
  atLeast: (n) => plural(n, { one: `Use at least ${n} character.`,
    other: `Use at least ${n} characters.` }),
  atMost: (n) => plural(n, { one: `Use at most ${n} character.`,
    other: `Use at most ${n} characters.` }),
  tooCommon: "This password is too common.",
  numeric: "This password is entirely numeric.",
  likeEmail: "This password is too similar to your email address.",
  codeGroup: (n, of, characters) => `group ${n} of ${of}: ${characters}`,
  recoveryFile: (email, code) => `SecureChat recovery code for ${email}\n\n${code}\n\n`
    + "Keep it away from this device. With it you can reset your password and keep your "
    + "history.\n",
  recoveryCopied: "Recovery code copied.",
  recoveryCopyFailed: "Copying failed: select the code and copy it.",
  recoverySaved: "Confirm that you saved your recovery code.",
  unreachable: "Could not reach the server.",
  noConnection: "The server cannot be reached. Check your connection.",
  homeHeading: "Your account", signedInAs: "Signed in as ", yourKeys: "Your keys",
};

// ---- the shell: page titles, navigation, alarms ------------------------------------------
export const SHELL = {
  loginTitle: "Log in — SecureChat", signupTitle: "Sign up — SecureChat",
  resetTitle: "Forgot password — SecureChat", cancelResetTitle: "Cancel the reset — SecureChat",
  resetLinkTitle: "Reset your password — SecureChat",
  chat: "Chat", profile: "Profile", logIn: "Log in", signUp: "Sign up", logOut: "Log out",
  pageFailed: "This page failed to open; reload it.",
  signedInFailed: "The signed-in view failed to start; reload the page.",
  keysMade: (email) => `Your keys are made. Open the link we emailed to ${email} to confirm `
    + "the address, then log in.",
  startFailed: "This page failed to start. Reload it.",
};

// ---- the server-rendered account pages' scripts (static/js/accounts/) ---------------------
export const PAGES = {
  correctForm: "Please correct the form.",
  unreachable: "The server cannot be reached. Check your connection and try again.",
  copied: "Copied", copyFailed: "Copy failed: select the text instead",
};

// ---- keys pages: "Password and keys" (keys/section.js) and their shared parts (keys/dom.js)
export const KEYS = {
  wrongPassword: "That is not your current password.",
  invalidLink: "This link is not valid any more (used, expired or mistyped). Ask for a new one.",
  badRecoveryCode: "That is not a recovery code (26 letters and digits).",
  recoveryMismatch: "That recovery code does not open this account's keys.",
  alarm: (reason) => `Security alarm: ${reason}. Nothing was changed; contact your administrator.`,
  codeField: "Code from your authenticator app, or a backup code", continue: "Continue",
  enterCode: "Enter the code from your authenticator app or a backup code.",
  titles: { current: "Checking your current password",
    new: "Protecting your keys with the new password" },
  working: "Working",
  currentPassword: "Current password", newPassword: "New password",
  newPasswordHelp: (min) => `At least ${min} characters, not a common password.`,
  newPasswordAgain: "New password again",
  changePassword: "Change password",
  changeIntro: "Your keys are re-wrapped here under the new password; your other sessions end.",
  alsoRotate: " Also rotate my keys",
  enterCurrent: "Enter your current password.",
  newDiffer: "The two new passwords differ.",
  sameAsCurrent: "The new password is the current one.",
  changedRotated: (generation) => `Password changed and keys rotated (key generation `
    + `${generation}); your other sessions ended.`,
  changed: "Password changed; your other sessions ended.",
  rotate: "Rotate keys",
  rotateIntro: "A new key generation, signed by the current one (and the other way round). "
    + "Your history stays readable; your other sessions end.",
  rotated: (generation) => `Keys rotated: key generation ${generation}.`,
  exportKeys: "Export keys",
  exportIntro: "Downloads your keys as an age file encrypted under your password: `age -d` with "
    + "your password gives an identity file for `age -d -i`. You get a security email.",
  exported: "Your keys were exported (encrypted under your password).",
  cancelReset: "Cancel the reset",
  held: (when) => "Someone asked to reset your password WITHOUT your recovery code. "
    + `Unless you cancel it, it takes effect at ${when}: `
    + "then your account gets new keys and your history can no longer be read.",
  cancelled: "The reset is cancelled; your password and keys did not change.",
  heading: "Password and keys",
};

// ---- keys pages: the forgotten-password pages (keys/reset.js) ------------------------------
export const RESET = {
  logIn: "Log in", emailAddress: "Email address", sendLink: "Send the reset link",
  validEmail: "Enter a valid email address.",
  linkOnItsWay: "If an account uses this address, a reset link is on its way.",
  forgotHeading: "Forgot your password?",
  forgotIntro: "We email you a link. Have your recovery code at hand: with it you keep "
    + "your history.",
  recoveryCode: "Recovery code",
  withoutWarning: "Without the recovery code your account gets NEW keys: messages and files "
    + "from before can no longer be read, and your contacts will see an unverified key "
    + "change. The reset waits before it takes effect, and can be cancelled from any "
    + "signed-in device or with the link we email.",
  yourRecoveryCode: "Your recovery code",
  haveCode: " I have my recovery code (history kept)",
  noCode: " I don't have it (new keys, history lost)",
  resetPassword: "Reset password",
  enterRecoveryCode: "Enter your recovery code.",
  passwordsDiffer: "The two passwords differ.",
  heldRequested: (when) => "Reset requested WITHOUT the recovery code. It takes effect at "
    + `${when}; until then your current password and keys keep working. Then your account `
    + "has NEW keys: older messages and files cannot be read. Your new recovery code is "
    + "valid from then on.",
  resetDone: "Your password is reset; your keys and history are kept and every session "
    + "ended. Log in with your new password.",
  opening: "Opening your reset link…", resetHeading: "Reset your password",
  lostLink: "This page lost its reset link: open the link from your email again.",
  chooseFor: (email) => `Choose a new password for ${email}.`,
  askNewLink: "Ask for a new link",
  cancelHeading: "Cancel a password reset",
  cancelIntro: "Someone asked to reset your password without your recovery code. If it "
    + "was not you, cancel it: your password and keys stay as they are.",
};

// ---- the timeline line of a membership operation (the crypto layer's describe(), worded here)
/** `actor`/`target`: display names; `seconds` (a BigInt) for "set-expiry". */
export function operationLine(kind, actor, target, seconds = 0n) {
  if (kind === "set-expiry") {
    return seconds === 0n ? `${actor} turned off disappearing messages`
      : `${actor} set messages to disappear after ${seconds} `
        + plural(Number(seconds), { one: "second", other: "seconds" });
  }
  return {
    create: `${actor} created the conversation`, add: `${actor} added ${target}`,
    remove: `${actor} removed ${target}`, leave: `${actor} left`,
    "grant-admin": `${actor} made ${target} an admin`,
    "revoke-admin": `${actor} removed ${target} as an admin`,
    rename: `${actor} renamed the conversation`,
  }[kind];
}
