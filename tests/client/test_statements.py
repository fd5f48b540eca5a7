"""client.statements: the field encoding and its strict parser."""

from __future__ import annotations

import pytest

from client import statements as st
from client.errors import ClientCryptoError, StatementError, UsageError
from client.messagebox import MESSAGE, parse_statement
from tests.client._vectors import field, load, positives

SCHEMA = st.Schema(
    "securechat/v2/test",
    (
        st.Field("n", st.Kind.U64),
        st.Field("id", st.Kind.BYTES, 16),
        st.Field("kind", st.Kind.ASCII),
        st.Field("recipient", st.Kind.RECIPIENT),
    ),
)
RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
VALUES = {"n": 2**64 - 1, "id": bytes(range(16)), "kind": "text", "recipient": RECIPIENT}


def test_encoding_is_length_prefixed_fields_in_order():
    expected = (field(b"securechat/v2/test") + field(b"\xff" * 8) + field(bytes(range(16)))
                + field(b"text") + field(RECIPIENT.encode()))
    assert st.encode(SCHEMA, VALUES) == expected


def test_parse_gives_back_the_values():
    assert st.parse(SCHEMA, st.encode(SCHEMA, VALUES)) == VALUES


@pytest.mark.parametrize("bad", [
    {**VALUES, "n": -1}, {**VALUES, "n": 2**64}, {**VALUES, "n": True}, {**VALUES, "n": 1.0},
    {**VALUES, "id": bytes(15)}, {**VALUES, "id": "x" * 16}, {**VALUES, "kind": ""},
    {**VALUES, "kind": "te xt"}, {**VALUES, "kind": "t\u00e9xt"},
    {**VALUES, "recipient": RECIPIENT.upper()}, {**VALUES, "recipient": "age1nope"},
    {k: v for k, v in VALUES.items() if k != "n"}, {**VALUES, "extra": 1},
])
def test_encode_refuses_bad_values(bad):
    with pytest.raises(UsageError):
        st.encode(SCHEMA, bad)


def _parts(**over) -> list[bytes]:
    raw = {"tag": b"securechat/v2/test", "n": bytes(8), "id": bytes(16), "kind": b"text",
           "recipient": RECIPIENT.encode()}
    raw.update(over)
    return list(raw.values())


@pytest.mark.parametrize("data", [
    b"".join(field(p) for p in _parts()) + b"\x00",  # trailing byte
    b"".join(field(p) for p in _parts())[:-1],  # truncated field
    b"".join(field(p) for p in _parts())[:2],  # truncated length
    b"".join(field(p) for p in _parts(tag=b"securechat/v2/other")),
    b"".join(field(p) for p in _parts()[:-1]),  # a field missing
    b"".join(field(p) for p in [*_parts(), b""]),  # an extra field
    b"".join(field(p) for p in _parts(n=bytes(7))),
    b"".join(field(p) for p in _parts(n=bytes(9))),
    b"".join(field(p) for p in _parts(id=bytes(17))),
    b"".join(field(p) for p in _parts(kind=b"\xc3\xa9")),
    b"".join(field(p) for p in _parts(kind=b"")),
    b"".join(field(p) for p in _parts(recipient=RECIPIENT.upper().encode())),
    b"", b"\xff\xff\xff\xff",
])
def test_parse_refuses_non_canonical_bytes(data):
    with pytest.raises(StatementError):
        st.parse(SCHEMA, data)


def test_parse_refuses_non_bytes():
    with pytest.raises(StatementError):
        st.parse(SCHEMA, "text")  # type: ignore[arg-type]


@pytest.mark.parametrize("entry", load("statement_invalid.json"), ids=lambda e: e["why"])
def test_invalid_message_statement_vectors_are_refused(entry):
    with pytest.raises(StatementError) as info:
        parse_statement(bytes.fromhex(entry["statement"]))
    assert isinstance(info.value, ClientCryptoError) and info.value.code == "bad_statement"


@pytest.mark.parametrize("entry", positives("messagebox.json")[:3])
def test_valid_message_statements_round_trip(entry):
    data = bytes.fromhex(entry["statement"])
    assert parse_statement(data).to_bytes() == data
    assert st.encode(MESSAGE, st.parse(MESSAGE, data)) == data


RAW_SCHEMA = st.Schema("securechat/v2/test-raw", (st.Field("arg", st.Kind.RAW),
                                                  st.Field("n", st.Kind.U64)))


@pytest.mark.parametrize("arg", [b"", b"\x00", bytes(range(256)) * 3])
def test_raw_fields_take_any_length_including_empty(arg):
    data = st.encode(RAW_SCHEMA, {"arg": arg, "n": 1})
    assert data == field(b"securechat/v2/test-raw") + field(arg) + field(bytes(7) + b"\x01")
    assert st.parse(RAW_SCHEMA, data) == {"arg": arg, "n": 1}


def test_raw_fields_refuse_non_bytes():
    with pytest.raises(UsageError):
        st.encode(RAW_SCHEMA, {"arg": "text", "n": 1})
