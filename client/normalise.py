"""Email normalisation: one form for lookup, rate limits and salts (docs/protocol.md §2).

    normalise(x) = NFKC( lower( upper( NFKC( strip(x) ) ) ) )

``upper``/``lower`` are the Unicode default full case mappings (Python's
``str.upper``/``str.lower``; JavaScript's ``toUpperCase``/``toLowerCase``
with no locale). Going through upper case first folds ``ſ``→s, dotless
``ı``→i, ``ß``→ss and the Kelvin sign, which a plain ``lower`` would keep
apart.

``strip`` is pinned to JavaScript's ``String.prototype.trim`` set
(:data:`TRIM_CHARS`), because Python's ``str.strip()`` and JS ``trim()``
disagree at the edges (Python also strips U+001C–U+001F and U+0085, JS also
strips U+FEFF). See docs/protocol.md for this decision.
"""

from __future__ import annotations

import unicodedata

from .errors import EmailError

__all__ = ["TRIM_CHARS", "normalise_email"]

# ECMAScript WhiteSpace (TAB, VT, FF, SP, NBSP, ZWNBSP, Zs) + LineTerminator (LF, CR, LS, PS).
TRIM_CHARS = (
    "\t\n\x0b\x0c\r \u00a0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def normalise_email(text: str) -> str:
    """The normalised form of an address, or :class:`EmailError`.

    Guarantees the result has exactly one ``@`` with a non-empty part on each
    side, and that it encodes to UTF-8 (no lone surrogates). Nothing else about
    address syntax is judged here: the server's rules decide what may sign up.
    """
    if not isinstance(text, str):
        raise EmailError("an address is a str")
    out = unicodedata.normalize("NFKC", text.strip(TRIM_CHARS))
    out = unicodedata.normalize("NFKC", out.upper().lower())
    local, at, domain = out.partition("@")
    if not at or not local or not domain or "@" in domain:
        raise EmailError("not an address (needs one @ between non-empty parts)")
    try:
        out.encode("utf-8")
    except UnicodeEncodeError:
        raise EmailError("the address is not valid Unicode") from None
    return out
