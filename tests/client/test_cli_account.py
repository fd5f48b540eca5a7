"""client.account offline: what a lying prelogin or directory answer gets, and the memory
of each account's parameters. A mock transport plays the server; scrypt calls are counted.

The live flows (signup, login, tampered rows) are in test_cli_live.py.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from client import account, derivation
from client.account import KnownAccounts, Params
from client.errors import (
    AccountParamsError,
    DirectoryMismatch,
    ProtocolError,
    WorkFactorError,
)
from client.http import Session
from client.identity import IdentityFile
from client.recovery import generate_code, recovery_identity

SALT = bytes(range(16))
ORIGIN = "http://127.0.0.1:8000"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.fixture
def scrypt_calls(monkeypatch):
    calls = []
    real = derivation._scrypt
    monkeypatch.setattr(derivation, "_scrypt", lambda *a: calls.append(a[2]) or real(*a))
    return calls


def server(tmp_path, prelogin: dict, sent: list | None = None) -> Session:
    def answer(request: httpx.Request) -> httpx.Response:
        if sent is not None and request.content:
            sent.append(request.content)
        if request.url.path == "/api/v1/csrf":
            return httpx.Response(200, json={"csrf_token": "t"})
        if request.url.path == "/api/v1/auth/prelogin":
            return httpx.Response(200, json=prelogin)
        return httpx.Response(201, json={"email_verification_sent": True})
    return Session(ORIGIN, tmp_path, transport=httpx.MockTransport(answer))


@pytest.mark.parametrize("prelogin, error", [
    ({"account_salt": b64url(SALT), "work_factor": 8}, WorkFactorError),
    ({"account_salt": b64url(SALT), "work_factor": 21}, WorkFactorError),
    ({"account_salt": b64url(SALT), "work_factor": "16"}, ProtocolError),
    ({"account_salt": b64url(SALT), "work_factor": True}, ProtocolError),
    ({"account_salt": b64url(SALT[:15]), "work_factor": 16}, ProtocolError),
    ({"account_salt": base64.b64encode(SALT).decode(), "work_factor": 16}, ProtocolError),
    ({"work_factor": 16}, ProtocolError),
])
def test_a_malformed_or_out_of_range_prelogin_is_refused_before_scrypt(
        tmp_path, scrypt_calls, prelogin, error):
    with server(tmp_path, prelogin) as s, pytest.raises(error):
        account.login(s, "a@x.org", "a long password!", KnownAccounts(tmp_path),
                      lambda: "000000", min_work_factor=10)
    assert scrypt_calls == []


def test_the_production_floor_is_16(tmp_path, scrypt_calls):
    with server(tmp_path, {"account_salt": b64url(SALT), "work_factor": 15}) as s:
        with pytest.raises(WorkFactorError, match=r"\[16, 20\]"):
            account.prelogin(s, "a@x.org")
        assert account.prelogin(s, "a@x.org", min_work_factor=10) == Params(SALT, 15)


def test_known_accounts_refuse_another_salt_or_a_lower_work_factor(tmp_path):
    known = KnownAccounts(tmp_path)
    known.check(ORIGIN, "A@x.org", Params(SALT, 16))  # unknown: nothing to compare
    known.remember(ORIGIN, "A@x.org", Params(SALT, 17))
    assert (tmp_path / "accounts.json").stat().st_mode & 0o777 == 0o600
    known.check(ORIGIN, " a@X.ORG", Params(SALT, 17))  # one account, however spelled
    known.check(ORIGIN, "a@x.org", Params(SALT, 18))  # a raise is an upgrade
    with pytest.raises(AccountParamsError, match="salt"):
        known.check(ORIGIN, "a@x.org", Params(bytes(16), 17))
    with pytest.raises(AccountParamsError, match="from 17 to 16"):
        known.check(ORIGIN, "a@x.org", Params(SALT, 16))
    known.check("https://other.example", "a@x.org", Params(bytes(16), 16))  # another server


def test_signup_sends_public_and_wrapped_data_only(tmp_path, scrypt_calls):
    sent: list[bytes] = []
    password = "a long password!"
    with server(tmp_path, {"account_salt": b64url(SALT), "work_factor": 10}, sent) as s:
        result = account.signup(s, "a@x.org", password, "x25519", KnownAccounts(tmp_path),
                                 min_work_factor=10)
    body = json.loads(sent[-1])
    assert set(body) == {"email", "auth_key", "account_salt", "work_factor", "key_type",
                         "recipient", "signing_key", "wrapped_identity", "recovery_wrapped"}
    everything = b"".join(sent)
    assert password.encode() not in everything and result.recovery_code.encode() not in everything
    assert b"AGE-SECRET-KEY" not in everything and scrypt_calls == [10]
    assert KnownAccounts(tmp_path).get(ORIGIN, "a@x.org") == Params(SALT, 10)


def identity_and_directory(generations=1):
    identity = IdentityFile.create("x25519", str(recovery_identity(generate_code(), "x25519")
                                                  .recipient()))
    for _ in range(generations - 1):
        identity = identity.with_new_generation("x25519")
    directory = [{"number": n, "recipient": str(i.recipient()),
                  "signing_key": b64url(identity.signing_public_key())}
                 for n, i in identity.generations]
    return identity, directory


def test_self_check_accepts_the_identitys_own_directory():
    identity, directory = identity_and_directory(2)
    account.self_check(identity, directory)


@pytest.mark.parametrize("tamper, message", [
    (lambda d, other: d.append({**d[0], "number": 3}), "generation 3, which this identity"),
    (lambda d, other: d.pop(), "missing key generations"),
    (lambda d, other: d[0].update(recipient=other), "is not this key"),
    (lambda d, other: d[0].update(signing_key=b64url(bytes(32))), "signing key"),
    (lambda d, other: d.append(dict(d[0])), "twice"),
])
def test_self_check_refuses_a_directory_that_differs(tamper, message):
    identity, directory = identity_and_directory(2)
    other, _ = identity_and_directory()
    tamper(directory, other.recipient())
    with pytest.raises(DirectoryMismatch, match=message):
        account.self_check(identity, directory)
