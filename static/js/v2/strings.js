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
  pointCamera: (name) => `Point the camera at ${name}'s safety QR code…`,
  failed: (reason) => `Nothing was marked: ${reason}`,
  noKeys: "No keys are pinned for this contact yet: write to them first.",
  safetyNumber: "Safety number", mark: "Mark as verified", stop: "Stop the camera",
  cameraLabel: "Camera", close: "Close", verify: "Verify",
  verifyLabel: (name) => `Verify ${name}`, title: (name) => `Verify ${name}`,
  scan: (name) => `Scan ${name}'s code with the camera`,
  scanFile: (name) => `Scan ${name}'s code from an image file`,
  letScan: (name) => `Let ${name} scan this code`,
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
  actionFailed: (unsend, reason) => `${unsend ? "Not deleted" : "Not sent"}: ${reason}`,
  noAccount: (emails) => `No verified account has the address ${emails.join(", ")}.`,
  addedWithOtherKey: (name) => `${name} was added with a key that differs from the one pinned here.`,
  removedByServer: (name) => `A message from ${name} was removed by the server.`,
  tookBack: (name) => `${name} took back a message this client does not hold.`,
};
