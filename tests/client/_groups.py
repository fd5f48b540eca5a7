"""The group vector users and chain (membership.json), loaded for the group tests."""

from __future__ import annotations

import agecrypt
from client import signing
from client.endorsement import Endorsed
from tests.client._vectors import load

MEMBERSHIP = load("membership.json")
USERS = {u["name"]: u for u in MEMBERSHIP[0]["users"]}
CONV = bytes.fromhex(MEMBERSHIP[0]["conversation_id"])
CHAIN = MEMBERSHIP[1]["chain"]
OPS = [(bytes.fromhex(o["statement"]), bytes.fromhex(o["signature"])) for o in CHAIN]


def keys(name: str) -> Endorsed:
    u = USERS[name]
    return Endorsed(u["user_id"], u["generation"], u["recipient"], bytes.fromhex(u["ed25519"]))


def signer(name: str):
    return signing.signing_key_from_seed(bytes.fromhex(USERS[name]["ed25519_seed"]))


def identity(name: str) -> agecrypt.Identity:
    return agecrypt.parse_identity(USERS[name]["identity"])


def lookup(user_id: int, generation: int) -> Endorsed | None:
    """Every vector user's generation 1 is accepted."""
    for name, u in USERS.items():
        if u["user_id"] == user_id and generation == u["generation"]:
            return keys(name)
    return None


def name_of(user_id: int) -> str:
    return next(n for n, u in USERS.items() if u["user_id"] == user_id)
