"""docs/protocol.md stays true to the vectors: its worked examples are copied from them."""

from __future__ import annotations

import re

from tests.client._vectors import VECTOR_DIR
from tests.support.live import REPO_ROOT

DOC = (REPO_ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
ALL_VECTORS = "\n".join(p.read_text(encoding="ascii") for p in VECTOR_DIR.glob("*.json"))


def test_every_long_value_in_the_doc_is_in_a_vector_file():
    """Hex of 16+ bytes, age keys and passphrases printed in the doc all come from vectors."""
    values = set(re.findall(r"\b[0-9a-f]{32,}\b", DOC))
    values |= set(re.findall(r"\b(?:AGE-SECRET-KEY-1|age1)[0-9A-Za-z]{50,}\b", DOC))
    assert len(values) > 20
    missing = sorted(v for v in values if v not in ALL_VECTORS)
    assert missing == []


def test_the_doc_points_at_every_vector_file():
    for path in VECTOR_DIR.glob("*.json"):
        assert f"`{path.name}" in DOC, path.name


def test_the_doc_safety_number_and_passphrase_are_the_vectors():
    for value in ["99154 96699 25609 39828 62939 84634 63759 01101 95730 34174 59415 94295",
                  "Tf-zm6RB7vgeAz1GOrucIZQKPQsOuw5x5FtAbK_Y1aE", "VENPQREN7AVTYQQXDFEYPM06W9"]:
        assert value in DOC and value in ALL_VECTORS
