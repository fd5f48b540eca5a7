// Unread messages in the tab's title ("(3) SecureChat") and a badge on its icon (issue 15
// "Attention"), so a person sees them from another tab. The icon is drawn on a canvas
// and set as a data: URL (img-src allows data:); nothing is fetched.
import { OFFLINE } from "../strings.js";

const PREFIX = /^\(\d+\+?\) /u;
const SIZE = 32;

function iconLink() {
  let link = document.getElementById("v2-favicon");
  if (!link) {
    link = document.createElement("link");
    link.id = "v2-favicon";
    link.rel = "icon";
    document.head.append(link);
  }
  return link;
}

/** The app icon, with a red badge holding `count` (capped at "99+") when above 0. */
function drawIcon(count) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = SIZE;
  const g = canvas.getContext("2d");
  const gradient = g.createLinearGradient(0, 0, SIZE, SIZE);
  gradient.addColorStop(0, "#2f5fd0");
  gradient.addColorStop(1, "#7a4fd0");
  g.fillStyle = gradient;
  g.beginPath();
  g.roundRect(2, 2, SIZE - 4, SIZE - 4, 7);
  g.fill();
  if (count > 0) {
    g.fillStyle = "#d93025";
    g.beginPath();
    g.arc(SIZE - 10, 10, 10, 0, 2 * Math.PI);
    g.fill();
    g.fillStyle = "#fff";
    g.font = "bold 13px sans-serif";
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.fillText(count > 99 ? "99+" : String(count), SIZE - 10, 11);
  }
  return canvas.toDataURL("image/png");
}

export class AttentionIndicator {
  constructor() {
    this.shown = null; // the count the title and icon show now
  }

  /** Shows `count` unread messages in the title and the icon (0 clears both). */
  show(count) {
    const title = document.title.replace(PREFIX, "");
    const wanted = count > 0 ? `(${count > 99 ? "99+" : count}) ${title}` : title;
    if (document.title !== wanted) document.title = wanted;
    if (count === this.shown) return;
    this.shown = count;
    const link = iconLink();
    link.href = drawIcon(count);
    link.dataset.unread = String(count);
  }

  /** Clears the title's count and the badge (the chat stopped). */
  clear() {
    this.show(0);
  }
}

/**
 * Whether the connection is down, as a person would want to know (issue 15): the
 * browser says it is offline, or the socket that was up is down (the server or the
 * network between). Null when all is well; else the banner's text.
 */
export function offlineText(engine, wasOnline) {
  if (typeof navigator !== "undefined" && navigator.onLine === false) {
    return OFFLINE.offline;
  }
  if (wasOnline && !engine.online) {
    return OFFLINE.lost;
  }
  return null;
}
