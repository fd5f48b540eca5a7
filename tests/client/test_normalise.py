"""client.normalise: one form per address, exactly as SPEC-v2 says."""

from __future__ import annotations

import unicodedata

import pytest

from client.errors import EmailError
from client.normalise import TRIM_CHARS, normalise_email
from tests.client._vectors import load


@pytest.mark.parametrize("entry", load("normalise.json"), ids=lambda e: ascii(e["input"]))
def test_vectors(entry):
    assert normalise_email(entry["input"]) == entry["normalised"]


@pytest.mark.parametrize("entry", load("normalise.json"), ids=lambda e: ascii(e["input"]))
def test_vectors_follow_the_formula_written_out(entry):
    x = entry["input"].strip(TRIM_CHARS)
    expected = unicodedata.normalize(
        "NFKC", unicodedata.normalize("NFKC", x).upper().lower()
    )
    assert entry["normalised"] == expected


@pytest.mark.parametrize("entry", load("normalise.json"), ids=lambda e: ascii(e["input"]))
def test_normalising_twice_changes_nothing(entry):
    assert normalise_email(entry["normalised"]) == entry["normalised"]


def test_the_spellings_sql_upper_matched_share_one_form():
    forms = {normalise_email(s) for s in [
        "stefan@example.com", "\u017ftefan@Example.COM", "STEFAN@EXAMPLE.COM",
        "\uff53\uff54\uff45\uff46\uff41\uff4e@example.com",
    ]}
    assert forms == {"stefan@example.com"}
    assert normalise_email("Stra\u00dfe@x.de") == normalise_email("STRASSE@X.DE")
    assert normalise_email("\u0131van@x.com") == normalise_email("IVAN@x.com")


def test_trim_set_is_javascripts():
    # JS trim() strips U+FEFF but not U+0085; Python's str.strip() does the opposite.
    assert "\ufeff" in TRIM_CHARS and "\x85" not in TRIM_CHARS and "\x1c" not in TRIM_CHARS
    assert normalise_email("\ufeffa@b.c\u2028") == "a@b.c"


@pytest.mark.parametrize("entry", load("normalise_invalid.json"), ids=lambda e: ascii(e["input"]))
def test_invalid_vectors(entry):
    with pytest.raises(EmailError):
        normalise_email(entry["input"])


@pytest.mark.parametrize("bad", [None, b"a@b.c", "a@b\ud800.c"])
def test_refuses_non_text(bad):
    with pytest.raises(EmailError):
        normalise_email(bad)
