"""The committed vector files are exactly what tests/vectors/generate.py produces now.

If the library's output changed, this fails until the vectors are regenerated
on purpose (and the browser client re-checked against them).
"""

from __future__ import annotations

import pytest

from tests.client._vectors import VECTOR_DIR
from tests.vectors import generate

SPEC_FILES = ["normalise.json", "prelogin.json", "derivation.json", "recovery.json",
              "safety.json", "messagebox.json"]


@pytest.fixture(scope="module")
def fresh() -> dict:
    return generate.build_all()


def test_every_spec_vector_file_is_generated(fresh):
    assert set(SPEC_FILES) <= set(fresh)


ALL_FILES = [*SPEC_FILES, "normalise_invalid.json", "statement_invalid.json",
             "endorsement.json", "identity.json", "membership.json", "epoch.json",
             "notices.json", "filehash.json", "fileclaim.json", "filewriter.json"]


@pytest.mark.parametrize("name", ALL_FILES)
def test_committed_file_matches_a_fresh_run(fresh, name):
    committed = (VECTOR_DIR / name).read_text(encoding="ascii")
    assert committed == generate.dump(fresh[name]), f"regenerate {name}"


def test_no_stray_vector_files(fresh):
    on_disk = {p.name for p in VECTOR_DIR.glob("*.json")}
    assert on_disk == set(fresh) == set(ALL_FILES)
