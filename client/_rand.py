"""The single private randomness seam of :mod:`client`.

Every random value the library draws — recovery codes, identity and signing
seeds, message box salts — comes from :func:`_random_bytes`, which reads
:func:`os.urandom`. Tests replay fixed bytes with :func:`replay` (the same
design as ``agecrypt._rand``, its own :class:`~agecrypt._rand.RandomnessSeam`, so only code
inside the ``with`` block is affected, and nothing in settings, the
environment or the public API can reach it).

Note that age encryption itself (file keys, scrypt salts, X25519 ephemerals)
draws from ``agecrypt._rand``; a test that needs byte-identical age files
replays both seams.
"""

from __future__ import annotations

from agecrypt._rand import RandomnessSeam

__all__ = ["_random_bytes", "replay"]

_seam = RandomnessSeam("client_rand_override")
_random_bytes = _seam.random_bytes
replay = _seam.replay
