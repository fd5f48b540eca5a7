"""Email addresses in one normalised form (docs/security.md, "Addresses").

An account is known by one spelling of its address, used for lookup,
uniqueness, rate-limit keys, invitations, the address mail is sent to, and
(version 2) the prelogin salt. The form is the protocol's
(``client.normalise``, pinned by tests/vectors/normalise.json, so the server
and every client agree byte for byte): NFKC, then a full case fold through
upper case (``ſ``→s, dotless ``ı``→i, ``ß``→ss, the Kelvin sign), then NFKC
again. What comes out must then pass Django's address validator, which
refuses non-ASCII local parts: mail systems disagree on them, and allowing
them would let look-alike spellings stand for different accounts.
International domain names are accepted.

Before this form existed, the login limit counted ``email.lower()`` while the
account lookup matched SQL ``UPPER()``: ``ı``/``ſ`` spellings reached one
account through separate rate-limit buckets.
"""

from __future__ import annotations

from client.errors import ClientCryptoError
from client.normalise import normalise_email

# The longest stored form: 254 characters typed can fold into a few more (ß → ss).
MAX_STORED_LENGTH = 320
MAX_TYPED_LENGTH = 254


def address_key(text) -> str | None:
    """The normalised form of ``text``, or None when it cannot be an address.

    Does not judge address syntax beyond one ``@`` between non-empty parts:
    lookups with a key that was never stored simply find nothing.
    """
    if not isinstance(text, str) or not text or len(text) > MAX_TYPED_LENGTH:
        return None
    try:
        return normalise_email(text)
    except ClientCryptoError:
        return None
