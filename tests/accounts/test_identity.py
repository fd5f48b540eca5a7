"""accounts.identity: the directory's public-key fingerprint (the server holds no
private key; identity files are the clients', tested in tests/client/test_identity.py)."""

from __future__ import annotations

import re

from accounts.identity import fingerprint
from client.identity import IdentityFile
from client.recovery import generate_code, recovery_identity


def new_identity() -> IdentityFile:
    recovery = recovery_identity(generate_code(), "hybrid")
    return IdentityFile.create("hybrid", str(recovery.recipient()))


def test_fingerprint_is_twelve_groups_of_five_digits_and_tracks_the_keys():
    identity_file = new_identity()
    recipient, signing = str(identity_file.recipient()), identity_file.signing_public_key()
    shown = fingerprint(recipient, signing)
    assert re.fullmatch(r"\d{5}( \d{5}){11}", shown)
    assert fingerprint(recipient, signing) == shown  # deterministic
    assert fingerprint(recipient, bytes(32)) != shown
    other = new_identity()
    assert fingerprint(str(other.recipient()), signing) != shown
