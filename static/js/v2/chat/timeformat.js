// Dates and times in the chat, through Intl in the browser's locale (issue 15): the day
// separators ("Today", "Yesterday", a weekday within the last week, else the full date),
// the time beside each message and the full timestamp shown on hover and focus. `now`
// is the page's clock (Date.now), so Playwright's clock moves every label.

const DAY_MS = 24 * 60 * 60 * 1000;

function startOfDay(ms) {
  const date = new Date(ms);
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** Whole local calendar days from the day of `ms` to the day of `now` (0 = today). */
export function daysAgo(ms, now = Date.now()) {
  return Math.round((startOfDay(now) - startOfDay(ms)) / DAY_MS);
}

function capitalised(text) {
  return text.charAt(0).toLocaleUpperCase() + text.slice(1);
}

/** The separator label for the day of `ms`. */
export function dayLabel(ms, now = Date.now()) {
  const days = daysAgo(ms, now);
  if (days === 0 || days === 1) {
    const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
    return capitalised(relative.format(-days, "day"));
  }
  if (days > 1 && days < 7) {
    return new Intl.DateTimeFormat(undefined, { weekday: "long" }).format(ms);
  }
  const sameYear = new Date(ms).getFullYear() === new Date(now).getFullYear();
  return new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric",
    month: "long", year: sameYear ? undefined : "numeric" }).format(ms);
}

/** "14:05" (or the locale's form) beside a message. */
export function clockTime(ms) {
  return new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" }).format(ms);
}

/** The full date and time, for hover and focus. */
export function fullTimestamp(ms) {
  return new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" })
    .format(ms);
}

/** True when `ms` falls on another local day than `previousMs` (or there is none). */
export function startsNewDay(ms, previousMs) {
  return previousMs === undefined || previousMs === null
    || startOfDay(ms) !== startOfDay(previousMs);
}
