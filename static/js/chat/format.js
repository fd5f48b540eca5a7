// Formatting of sizes, speeds, durations, times and fingerprints.

const UNITS = ["B", "KB", "MB", "GB", "TB"];

export function formatSize(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return "";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

export function formatSpeed(bytesPerSecond) {
  return bytesPerSecond > 0 ? `${formatSize(bytesPerSecond)}/s` : "";
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 1) return "less than a second";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

export function formatTime(ms) {
  if (!ms) return "";
  return timeFormat.format(new Date(ms));
}

export function formatFullTime(ms) {
  return ms ? fullFormat.format(new Date(ms)) : "";
}

// "14:05" today, "Mar 3" before.
export function formatActivity(ms) {
  if (!ms) return "";
  const date = new Date(ms);
  const now = new Date();
  return date.toDateString() === now.toDateString() ? timeFormat.format(date) : dayFormat.format(date);
}

export function toMillis(value) {
  if (value === null || value === undefined || value === "") return 0;
  if (typeof value === "number") return value;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? 0 : parsed;
}

// A fingerprint arrives as 60 digits, possibly grouped; show 12 groups of 5.
export function fingerprintGroups(fingerprint) {
  if (!fingerprint) return [];
  if (Array.isArray(fingerprint)) return fingerprint.map(String);
  const digits = String(fingerprint).replace(/\D/g, "");
  if (digits.length < 5) return [String(fingerprint)];
  return digits.match(/.{1,5}/g);
}
