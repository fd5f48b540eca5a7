"""Keys and recipients: X25519, hybrid post-quantum, scrypt, identity files.

Round trips of generate/parse/format, strict Bech32 rejections (mixed case,
bad checksum, wrong HRP, wrong length), deterministic from_seed, the
recipient-mixing rules on encryption, and the scrypt work-factor limits.
"""

from __future__ import annotations

import hashlib
import io

import pytest
from cryptography.hazmat.primitives.kdf import scrypt as kdf_scrypt

import agecrypt
from agecrypt.primitives import bech32_decode, bech32_encode

SEED = hashlib.sha256(b"recovery code").digest()

# age's own test key pair (from the CCTV vectors)
VECTOR_IDENTITY = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"
VECTOR_PQ_IDENTITY = "AGE-SECRET-KEY-PQ-1HZLGZUPT4ETPKDEV8HSGFDCYZ4E522W0A7PU2LHT8EH9W6YLNC3SW78XKG"


@pytest.mark.parametrize("cls", [agecrypt.X25519Identity, agecrypt.HybridIdentity])
def test_generate_format_parse_round_trip(cls):
    """generate → str → from_string gives the same identity and recipient."""
    ident = cls.generate()
    s = str(ident)
    assert s == s.upper()
    again = cls.from_string(s)
    assert str(again) == s
    rcp = ident.recipient()
    rs = str(rcp)
    assert rs == rs.lower()
    assert type(rcp).from_string(rs) == rcp == again.recipient()
    assert s not in repr(ident)  # never print the secret
    assert agecrypt.decrypt(agecrypt.encrypt(b"msg", [rcp]), [again]) == b"msg"


def test_key_prefixes_and_sizes():
    """Strings carry the age prefixes; a hybrid recipient is 1216 bytes (~1960 chars)."""
    x = agecrypt.X25519Identity.generate()
    h = agecrypt.HybridIdentity.generate()
    assert str(x).startswith("AGE-SECRET-KEY-1") and str(x.recipient()).startswith("age1")
    assert str(h).startswith("AGE-SECRET-KEY-PQ-1")
    assert str(h.recipient()).startswith("age1pq1")
    assert len(h.recipient().to_bytes()) == 1216
    assert len(str(h.recipient())) == len("age1pq1") + (1216 * 8 + 4) // 5 + 6


def test_from_seed_is_deterministic():
    """from_seed(seed) always gives the same identity; different seeds differ."""
    for cls in (agecrypt.HybridIdentity, agecrypt.X25519Identity):
        a, b = cls.from_seed(SEED), cls.from_seed(SEED)
        assert str(a) == str(b) and a.recipient() == b.recipient()
        assert cls.from_seed(hashlib.sha256(b"other").digest()).recipient() != a.recipient()
        with pytest.raises(agecrypt.KeyFormatError):
            cls.from_seed(b"short")
    # The hybrid identity string encodes exactly the seed.
    assert bech32_decode(str(agecrypt.HybridIdentity.from_seed(SEED)))[1] == SEED


def test_known_vector_identities_parse():
    """The testkit identities parse and re-encode to the same string."""
    assert str(agecrypt.X25519Identity.from_string(VECTOR_IDENTITY)) == VECTOR_IDENTITY
    assert str(agecrypt.HybridIdentity.from_string(VECTOR_PQ_IDENTITY)) == VECTOR_PQ_IDENTITY


def _flip_case_of_one_letter(s: str) -> str:
    for i, c in enumerate(s):
        if c.isalpha() and i > 4:
            return s[:i] + c.swapcase() + s[i + 1 :]
    raise AssertionError


def _corrupt_checksum(s: str) -> str:
    last = s[-1]
    repl = "q" if last.lower() != "q" else "p"
    return s[:-1] + (repl.upper() if last.isupper() else repl)


@pytest.mark.parametrize("kind", ["x25519", "hybrid"])
def test_strict_bech32_rejections(kind):
    """Mixed case, bad checksum, wrong HRP, wrong case, wrong length are KeyFormatError."""
    ident = (
        agecrypt.X25519Identity.generate()
        if kind == "x25519"
        else (agecrypt.HybridIdentity.generate())
    )
    icls, rcls = type(ident), type(ident.recipient())
    s, r = str(ident), str(ident.recipient())
    bad_identities = [
        _flip_case_of_one_letter(s),
        _corrupt_checksum(s),
        s.lower(),  # identities are upper case
        s.replace("1", "2", 1),
        "",
        "AGE-SECRET-KEY-1",
    ]
    bad_recipients = [
        _flip_case_of_one_letter(r),
        _corrupt_checksum(r),
        r.upper(),  # recipients are lower case
        bech32_encode("age2", ident.recipient().to_bytes()),
        bech32_encode(bech32_decode(r)[0], ident.recipient().to_bytes()[:-1]),
        r + "q",
        "age1",
    ]
    for bad in bad_identities:
        with pytest.raises(agecrypt.KeyFormatError):
            icls.from_string(bad)
    for bad in bad_recipients:
        with pytest.raises(agecrypt.KeyFormatError):
            rcls.from_string(bad)
    # A key of one type is not accepted as the other.
    other_icls = agecrypt.HybridIdentity if kind == "x25519" else agecrypt.X25519Identity
    other_rcls = agecrypt.HybridRecipient if kind == "x25519" else agecrypt.X25519Recipient
    with pytest.raises(agecrypt.KeyFormatError):
        other_icls.from_string(s)
    with pytest.raises(agecrypt.KeyFormatError):
        other_rcls.from_string(r)
    assert issubclass(agecrypt.KeyFormatError, agecrypt.AgeError)


def test_mixing_post_quantum_and_classic_is_refused_on_encrypt():
    """Hybrid + X25519 recipients → MixedRecipientsError (in either order); PQ-only is fine."""
    h1, h2 = agecrypt.HybridIdentity.generate(), agecrypt.HybridIdentity.generate()
    x = agecrypt.X25519Identity.generate()
    for recipients in ([h1.recipient(), x.recipient()], [x.recipient(), h1.recipient()]):
        with pytest.raises(agecrypt.MixedRecipientsError):
            agecrypt.encrypt(b"x", recipients)
        with pytest.raises(agecrypt.RecipientError):
            agecrypt.FileCipher.create(recipients)
    blob = agecrypt.encrypt(b"pq", [h1.recipient(), h2.recipient()])
    assert agecrypt.decrypt(blob, [h2]) == b"pq"
    assert agecrypt.decrypt(blob, [x, h1]) == b"pq"


def test_scrypt_must_be_alone_on_encrypt():
    """A passphrase recipient with any other recipient is refused."""
    x = agecrypt.X25519Identity.generate()
    s = agecrypt.ScryptRecipient("pw", work_factor=2)
    for recipients in ([s, x.recipient()], [s, agecrypt.ScryptRecipient("b", work_factor=2)]):
        with pytest.raises(agecrypt.RecipientError):
            agecrypt.encrypt(b"x", recipients)


def test_hybrid_header_size_per_recipient():
    """A post-quantum stanza costs about 1.5 KB of header per recipient."""
    one = agecrypt.FileCipher.create([agecrypt.HybridIdentity.generate().recipient()])
    two = agecrypt.FileCipher.create(
        [agecrypt.HybridIdentity.generate().recipient() for _ in range(2)]
    )
    per = len(two.header_bytes) - len(one.header_bytes)
    assert 1450 < per < 1600


# --- scrypt ---


def test_scrypt_round_trip_str_and_bytes_passphrase():
    """str passphrases are UTF-8; wrong passphrase is NoIdentityMatchError."""
    blob = agecrypt.encrypt(b"data", [agecrypt.ScryptRecipient("pässword", work_factor=3)])
    assert agecrypt.decrypt(blob, [agecrypt.ScryptIdentity("pässword".encode())]) == b"data"
    with pytest.raises(agecrypt.NoIdentityMatchError):
        agecrypt.decrypt(blob, [agecrypt.ScryptIdentity("password")])
    assert b"-> scrypt " in blob and b" 3\n" in blob


class _SpyScrypt:
    calls: list[int] = []

    def __init__(self, salt, length, n, r, p):
        self._real = _REAL_SCRYPT(salt=salt, length=length, n=n, r=r, p=p)
        _SpyScrypt.calls.append(n)

    def derive(self, key):
        return self._real.derive(key)


_REAL_SCRYPT = kdf_scrypt.Scrypt


def _scrypt_file_with_work_factor(wf: int) -> bytes:
    """An scrypt file whose stanza claims work factor ``wf`` (MAC is not reached)."""
    blob = agecrypt.encrypt(b"x", [agecrypt.ScryptRecipient("pw", work_factor=2)])
    return blob.replace(b" 2\n", f" {wf}\n".encode(), 1)


def test_scrypt_work_factor_23_refused_before_deriving(monkeypatch):
    """Work factor 23 (> 2^22) is a HeaderError and scrypt is never run."""
    too_hard, fine = _scrypt_file_with_work_factor(23), _scrypt_file_with_work_factor(2)
    _SpyScrypt.calls = []
    monkeypatch.setattr(kdf_scrypt, "Scrypt", _SpyScrypt)
    with pytest.raises(agecrypt.HeaderError):
        agecrypt.decrypt(too_hard, [agecrypt.ScryptIdentity("pw")])
    assert _SpyScrypt.calls == []
    # the spy does see a normal derivation (the test can fail)
    agecrypt.decrypt(fine, [agecrypt.ScryptIdentity("pw")])
    assert _SpyScrypt.calls == [4]


def test_scrypt_identity_max_work_factor(monkeypatch):
    """A file above the identity's own max_work_factor is refused before deriving."""
    _SpyScrypt.calls = []
    monkeypatch.setattr(kdf_scrypt, "Scrypt", _SpyScrypt)
    blob = agecrypt.encrypt(b"x", [agecrypt.ScryptRecipient("pw", work_factor=5)])
    with pytest.raises(agecrypt.HeaderError):
        agecrypt.decrypt(blob, [agecrypt.ScryptIdentity("pw", max_work_factor=4)])
    assert _SpyScrypt.calls == [32]  # only the encryption
    assert agecrypt.decrypt(blob, [agecrypt.ScryptIdentity("pw", max_work_factor=5)]) == b"x"


def test_scrypt_parameter_validation():
    """Work factors outside 1..22 and empty passphrases are UsageError."""
    for wf in (0, 23, -1, True, 1.5):
        with pytest.raises(agecrypt.UsageError):
            agecrypt.ScryptRecipient("pw", work_factor=wf)
    with pytest.raises(agecrypt.UsageError):
        agecrypt.ScryptIdentity("pw", max_work_factor=23)
    with pytest.raises(agecrypt.UsageError):
        agecrypt.ScryptRecipient("")
    assert agecrypt.ScryptRecipient("pw").work_factor == 18


# --- identity files ---


def test_parse_identities_file():
    """One key per line; '#' comments, blank lines and CRLF are ignored; order is kept."""
    h = agecrypt.HybridIdentity.from_seed(SEED)
    x = agecrypt.X25519Identity.from_string(VECTOR_IDENTITY)
    text = (
        "# created: 2026-01-01\r\n"
        f"# public key: {h.recipient()}\n"
        f"{h}\r\n"
        "\n"
        "   \n"
        "# signing key: ed25519:abcdef\n"
        f"{x}\n"
    )
    ids = agecrypt.parse_identities(text)
    assert [str(i) for i in ids] == [str(h), str(x)]
    assert [str(i) for i in agecrypt.parse_identities(text.encode())] == [str(h), str(x)]


@pytest.mark.parametrize(
    "text",
    ["", "# only a comment\n", "AGE-SECRET-KEY-1QQQQ\n", "age1notasecret\n", "garbage"],
)
def test_parse_identities_rejects(text):
    """Files with no key or an invalid line raise KeyFormatError without echoing the line."""
    with pytest.raises(agecrypt.KeyFormatError) as exc:
        agecrypt.parse_identities(text)
    assert "QQQQ" not in str(exc.value)


def test_file_cipher_open_with_identity_file_keys():
    """An identity file with several generations opens a file for the older one."""
    old, new = agecrypt.X25519Identity.generate(), agecrypt.X25519Identity.generate()
    blob = agecrypt.encrypt(b"history", [old.recipient()])
    ids = agecrypt.parse_identities(f"{new}\n{old}\n")
    fc = agecrypt.FileCipher.open(io.BytesIO(blob), ids)
    assert fc.plaintext_size(len(blob)) == 7
