"""ASCII armor: strict PEM "AGE ENCRYPTED FILE" with 64-column canonical base64.

Accepted: LF or CRLF line endings, a last line of 1..64 columns, whitespace
only before BEGIN and after END, no newline after END. Everything else is an
ArmorError.
"""

from __future__ import annotations

import base64
import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agecrypt

BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
END = "-----END AGE ENCRYPTED FILE-----"


def _lines(data: bytes) -> list[str]:
    b64 = base64.b64encode(data).decode()
    return [b64[i : i + 64] for i in range(0, len(b64), 64)]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 47, 48, 49, 95, 96, 97, 1000, 4800])
def test_armor_format_and_round_trip(n):
    """armor() writes BEGIN, 64-column lines, a last line of 1..64 columns, END, LF."""
    data = os.urandom(n)
    text = agecrypt.armor(data)
    lines = text.split("\n")
    assert lines[0] == BEGIN and lines[-2] == END and lines[-1] == ""
    body = lines[1:-2]
    assert body == _lines(data)
    assert all(len(line) == 64 for line in body[:-1])
    assert agecrypt.dearmor(text) == data
    assert agecrypt.dearmor(text.encode()) == data


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=600), st.booleans(), st.sampled_from(["", " ", "\n", "\r\n\t "]))
def test_armor_round_trip_with_allowed_variations(data, crlf, outside):
    """CRLF line endings and whitespace around the armor are accepted."""
    text = agecrypt.armor(data)
    if crlf:
        text = text.replace("\n", "\r\n")
    assert agecrypt.dearmor(outside + text + outside) == data
    assert agecrypt.dearmor(text.rstrip("\r\n")) == data  # no EOL after END


def _armor(lines: list[str], eol: str = "\n") -> str:
    return eol.join([BEGIN, *lines, END]) + eol


DATA = os.urandom(100)  # 3 lines: 64, 64, 8 columns ("==" padded)
GOOD = _lines(DATA)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_armor(GOOD).replace("BEGIN AGE", "BEGIN age"), id="lowercase"),
        pytest.param(_armor(GOOD).replace("FILE-----\n", "MESSAGE-----\n"), id="wrong-type"),
        pytest.param(_armor(GOOD).replace("-----BEGIN ", "----- BEGIN "), id="space-in-begin"),
        pytest.param(_armor(GOOD)[: -len(END) - 1], id="no-end-line"),
        pytest.param("garbage\n" + _armor(GOOD), id="leading-garbage"),
        pytest.param(_armor(GOOD) + "garbage\n", id="trailing-garbage"),
        pytest.param(_armor(["Version: 1", "", *GOOD]), id="headers"),
        pytest.param(_armor(["", *GOOD]), id="empty-first-line"),
        pytest.param(_armor([*GOOD, ""]), id="empty-last-line"),
        pytest.param(_armor([GOOD[0] + GOOD[1], GOOD[2]]), id="long-line"),
        pytest.param(_armor([GOOD[0][:32], GOOD[0][32:] + GOOD[1], GOOD[2]]), id="short-line"),
        pytest.param(_armor([GOOD[0], GOOD[1], GOOD[2].rstrip("=")]), id="no-padding"),
        pytest.param(_armor([GOOD[0], GOOD[1], GOOD[2][:-3] + "B=="]), id="not-canonical"),
        pytest.param(_armor([GOOD[0], GOOD[1], GOOD[2][:-1], "="]), id="eol-in-padding"),
        pytest.param(_armor([GOOD[0] + " ", GOOD[1], GOOD[2]]), id="space-at-eol"),
        pytest.param(_armor([" " + GOOD[0][1:], GOOD[1], GOOD[2]]), id="space-at-start"),
        pytest.param(_armor([GOOD[0], GOOD[1], GOOD[2] + " "]), id="space-last-line"),
        pytest.param(_armor(["*" + GOOD[0][1:], GOOD[1], GOOD[2]]), id="invalid-char"),
        pytest.param(_armor([*GOOD, "=AbCd"]), id="pgp-checksum"),
        pytest.param(_armor(GOOD).replace("\n", "\r"), id="cr-only"),
        pytest.param(_armor(GOOD).replace(GOOD[1] + "\n", GOOD[1] + "\r\r\n"), id="double-cr"),
        pytest.param("", id="empty-input"),
        pytest.param(_armor(GOOD) + END + "\n", id="two-end-lines"),
        pytest.param(_armor(GOOD) + _armor(GOOD), id="two-armors"),
        pytest.param(_armor(["é" + GOOD[0][1:], GOOD[1], GOOD[2]]), id="non-ascii"),
    ],
)
def test_dearmor_rejects(text):
    """Each malformed armor is an ArmorError (also through the streaming decryptor)."""
    with pytest.raises(agecrypt.ArmorError):
        agecrypt.dearmor(text)
    with pytest.raises(agecrypt.ArmorError):
        stream = io.BytesIO(text.encode("utf-8"))
        agecrypt.decrypt_stream(stream, [agecrypt.X25519Identity.generate()], armored=True)


def test_reference_accepts():
    """The well-formed variants accepted by age are accepted."""
    assert agecrypt.dearmor(_armor(GOOD)) == DATA
    assert agecrypt.dearmor(_armor(GOOD, "\r\n")) == DATA
    assert agecrypt.dearmor("\n\r   \t\n" + _armor(GOOD) + "\n\r   \t\n") == DATA
    full = os.urandom(96)  # the last line is exactly 64 columns
    assert agecrypt.dearmor(_armor(_lines(full))) == full
    assert agecrypt.dearmor(_armor([])) == b""


def test_armored_file_round_trip():
    """armor(encrypt(...)) decrypts via decrypt() (auto-detected) and via dearmor()."""
    ident = agecrypt.X25519Identity.generate()
    blob = agecrypt.encrypt(b"armored" * 20000, [ident.recipient()])
    text = agecrypt.armor(blob)
    assert agecrypt.decrypt(text, [ident]) == b"armored" * 20000
    assert agecrypt.decrypt(agecrypt.dearmor(text), [ident]) == b"armored" * 20000
