// Links in message text, made clickable safely (issue 15): only http(s) URLs become <a>,
// built with createElement and textContent (no HTML from the message), opening in a new
// tab with rel="noopener noreferrer" so the opened page gets neither this window nor the
// referrer. The server fetches nothing: there are no link previews.

// A URL runs to the next whitespace; trailing punctuation that usually ends a sentence
// (and a closing bracket without its opener) stays outside the link.
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+/giu;
const TRAILING = /[.,:;!?'"\u2019\u201d]+$/u;

function trimmed(url) {
  let end = url.replace(TRAILING, "");
  while (end.endsWith(")") && (end.match(/\(/gu)?.length ?? 0) < (end.match(/\)/gu)?.length ?? 0)) {
    end = end.slice(0, -1).replace(TRAILING, "");
  }
  return end;
}

/** `text` as text nodes and safe links, to append to an element. */
export function linkified(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const url = trimmed(match[0]);
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      continue; // not a URL after all: stays text
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") continue;
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    const link = document.createElement("a");
    link.href = parsed.href;
    link.textContent = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    nodes.push(link);
    last = match.index + url.length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}
