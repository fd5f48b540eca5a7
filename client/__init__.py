"""securechat client library and CLI: the v2 client-side crypto (docs/protocol.md)
and the ``securechat`` command (docs/cli.md).

Imports :mod:`agecrypt`, ``cryptography`` and (for the network) ``httpx``, never
Django or the server's packages (tests/securechat/test_layout.py checks it). One
concept per module:

- :mod:`client.statements` — the field encoding of every signed or hashed object
- :mod:`client.normalise` — email normalisation
- :mod:`client.derivation` — prelogin salt, scrypt salt binding, master, auth_key,
  wrap_key, passphrase; work-factor and wrapped-identity checks
- :mod:`client.recovery` — recovery codes and the recovery identity
- :mod:`client.identity` — the v2 identity file and its wrapped copies
- :mod:`client.safety` — safety numbers and the QR payload
- :mod:`client.messagebox` — the message box and the signed message statement
- :mod:`client.endorsement` — endorsements between key generations
- :mod:`client.fingerprints` — SHA-256 fingerprints of a key generation's public keys
- :mod:`client.membership` — signed membership operations and the chain verifier
- :mod:`client.epochs` — epoch envelopes, the signed epoch statement, equivocation
- :mod:`client.notices` — cannot-open notices and the signed, encrypted pin blob
- :mod:`client.filehash` — the incremental hash of an age file's ciphertext chunks
- :mod:`client.timeline` — receiver-side findings: missing, forked, skewed, removed
- :mod:`client.signing` — Ed25519 over statements
- :mod:`client.errors` — every failure is a :class:`ClientCryptoError`
- :mod:`client.http` — one server: cookies kept in a 0600 file, CSRF, JSON errors
- :mod:`client.account` — prelogin, signup, login, unlock and the directory self-check
- :mod:`client.verifyweb` — does a server serve the released browser code?
- :mod:`client.cli` — the ``securechat`` command line (console script ``client.cli:main``)
- :mod:`client._local` — the config directory and its private files

Randomness and time come from private seams (``client._rand``, ``client._clock``)
that only tests override.
"""

from .errors import ClientCryptoError

__all__ = ["ClientCryptoError"]
