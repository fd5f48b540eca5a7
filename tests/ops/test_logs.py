"""Logs never contain secrets, codes, keys, plaintext, file names or tokens (DESIGN.md §7).

A uvicorn process runs with ``--log-level debug`` (its access log and error log,
the websockets library's frame log under it) and ``LOG_LEVEL=DEBUG`` for every
other logger, writing everything to one file. The test process captures every
logger at DEBUG too. Version 2 users then do what users do, with the
``securechat`` CLI (keys, texts and files handled on their side): two sign up,
one enrols TOTP, logs in with a TOTP code and with a backup code, resets her
password through the emailed link with her recovery code, makes a named group,
exchanges texts, sends a file under a distinctive name that the other
downloads; an operator logs in the version 2 way and crawls every admin page;
in-process the maintenance commands run. Neither the server log nor the
captured records nor the commands' output contain any password, code, recovery
code, TOTP secret, secret key, message text, group name, file name, emailed
token or session cookie — in any form of tests/support/probes.py. Positive
controls: a harmless marker path is in the server log, and a DEBUG record of an
app logger in the test process is captured.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import time
from contextlib import contextmanager

import httpx
import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.client.test_cli_account_changes import reset_link
from tests.client.test_cli_messages import PASSWORD, CliUser
from tests.ops.admin_crawl import client_login, crawl
from tests.support.live import LiveServer
from tests.support.probes import leaks

pytestmark = [pytest.mark.usefixtures("fresh_rate_limits")]

MARKER = "harmless-log-marker-5c7e1"
LINK = re.compile(r"https?://\S+")
SECRET_KEY_PREFIX = "AGE-SECRET-KEY-"


# --- capturing every logger in the test process ---------------------------------------

# The test's own HTTP and websocket clients log what they send (cookies included), as a
# browser's developer tools would show it: that is the user's side, not the server's.
CLIENT_SIDE = ("httpx", "httpcore", "hpack", "urllib3", "requests", "tusclient",
               "websockets.client")


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        if record.name.split(".")[0] in CLIENT_SIDE or record.name in CLIENT_SIDE:
            return
        self.lines.append(f"{record.name} {record.levelname} {self.format(record)}")


@contextmanager
def capture_every_logger():
    """Every logger at DEBUG into one handler, non-propagating ones included."""
    handler = Collect()
    handler.setFormatter(logging.Formatter("%(message)s"))
    loggers = [logging.getLogger()] + [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
        if lg is logging.getLogger() or not lg.propagate:
            lg.addHandler(handler)
    try:
        yield handler
    finally:
        for lg, level, disabled in saved:
            lg.setLevel(level)
            lg.disabled = disabled
            if handler in lg.handlers:
                lg.removeHandler(handler)


# --- the flow over HTTP -------------------------------------------------------------------

class PlantedSecrets(dict):
    """label -> secret; ``cookies(client)`` adds a client's current cookie values."""

    def cookies(self, who: str, client: httpx.Client) -> None:
        for cookie in client.cookies.jar:
            self[f"{who} cookie {cookie.name} {len(self)}"] = cookie.value


def cli(home, server, *args: str, stdin: str = PASSWORD + "\n") -> str:
    result = cli_support.run_cli(home, "--server", server.url, "--password-stdin", *args,
                                 stdin=stdin)
    assert result.returncode == 0, result
    return result.stdout


def printed_code(output: str, heading: str) -> str:
    lines = output.splitlines()
    return lines[next(i for i, line in enumerate(lines) if heading in line) + 1].strip()


# --- the test --------------------------------------------------------------------------------

CODE_RE = "(?<![0-9]){}(?![0-9])"


def code_leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Six-digit codes are looked up as whole numbers (a longer number may contain one)."""
    return [label for label, code in secrets.items()
            if re.search(CODE_RE.format(re.escape(code)), text)]


@pytest.mark.dbsensitive
def test_no_secret_reaches_any_log(transactional_db, redis_url, tmp_path, settings):
    server = LiveServer("uvicorn", tmp_path / "server", extra_env={"LOG_LEVEL": "DEBUG"},
                        extra_args=["--log-level", "debug"])
    server.start()
    settings.MEDIA_ROOT = server.media_root
    secrets, codes = PlantedSecrets(), {}
    texts = ["the walrus 4417 whispers at midnight", "ciphertext-free pelican 9021 reply"]
    group_name, file_name = "ocelot budget committee 7781", "confidential-ocelot-budget-3318.txt"
    secrets.update({f"text {i}": t for i, t in enumerate(texts)})
    secrets.update({"group name": group_name, "file name": file_name})
    try:
        with capture_every_logger() as captured:
            people(server, tmp_path, secrets, codes, texts, group_name, file_name)
            operator = CliUser(server, tmp_path, "operator")
            User.objects.filter(pk=operator.id).update(is_staff=True, is_superuser=True)
            device, operator_backup = enrol_totp(User.objects.get(pk=operator.id))
            secrets["operator password"] = PASSWORD
            secrets.update({f"operator backup {i}": c for i, c in enumerate(operator_backup)})
            from accounts.actions import do_invite

            # An invitation for the crawl to show (its token must reach no log either).
            secrets["invitation token"] = do_invite("invitee.logs@example.com")
            admin = client_login(server, operator.email, PASSWORD, device)
            secrets.cookies("operator", admin)
            crawl(admin, per_model=20, every_model_seeded=False)
            admin.close()

            out = io.StringIO()
            for command in (["purge_expired"], ["purge_expired", "--yes"],
                            ["verify_storage", "--grace", "3600"], ["usage_stats"]):
                call_command(*command, stdout=out, stderr=out)

            httpx.get(f"{server.url}/{MARKER}/")  # the positive control for the server log
            logging.getLogger("accounts.actions").debug("in-process %s", MARKER)
    finally:
        server.stop()

    server_log = server.log()
    in_process = "\n".join(captured.lines)
    # Positive controls: the same probes find what is harmless and present.
    assert MARKER in server_log, server_log[-2000:]
    assert "GET /api/v1/files/" in server_log or "/files/" in server_log  # access log on
    assert f"accounts.actions DEBUG in-process {MARKER}" in captured.lines
    assert leaks(server_log, {"marker": MARKER}) == ["marker"]
    assert code_leaks(f"x {codes['alice login code']} y", codes) != []

    for name, text in (("server log", server_log), ("test process", in_process),
                       ("command output", out.getvalue())):
        assert leaks(text, secrets) == [], name
        assert code_leaks(text, codes) == [], name
        assert SECRET_KEY_PREFIX not in text, name


def people(server, tmp_path, secrets: PlantedSecrets, codes: dict, texts: list[str],
           group_name: str, file_name: str) -> None:
    """Two users with the CLI: signup, TOTP, logins with a code and a backup code, a reset
    with the recovery code, a named group, texts, a file sent and downloaded."""
    alice_pw, new_pw = "alice's long passphrase 4711", "alice's brand new passphrase 2024"
    secrets.update({"alice password": alice_pw, "alice new password": new_pw,
                    "bob password": PASSWORD})
    address = f"alice.logs-{time.time_ns()}@example.com"
    signup = cli(tmp_path / "alice", server, "signup", "--email", address,
                 "--key-type", settings_key_type(), stdin=alice_pw + "\n")
    secrets["alice recovery code"] = recovery = signup.splitlines()[1].strip()
    User.objects.filter(email=address).update(email_verified_at=timezone.now())
    device, backup_codes = enrol_totp(User.objects.get(email=address))
    secrets["alice totp secret"] = base64.b32encode(device.bin_key).decode()
    secrets.update({f"alice backup code {i}": c for i, c in enumerate(backup_codes)})
    codes["alice login code"] = code = fresh_code(device)
    cli(tmp_path / "alice-laptop", server, "login", "--email", address,
        stdin=f"{alice_pw}\n{code}\n")
    cli(tmp_path / "alice-phone", server, "login", "--email", address,
        stdin=f"{alice_pw}\n{backup_codes[0]}\n")

    anonymous = tmp_path / "mailer"
    link = reset_link(server, anonymous, address)
    secrets["reset token"] = link.rstrip("/").rsplit("/", 1)[-1]
    codes["alice reset code"] = code = fresh_code(device)
    reset = cli(tmp_path / "alice-reset", server, "reset", "--email", address,
                stdin=f"{link}\n{recovery}\n{new_pw}\n{code}\n")
    secrets["alice rotated recovery code"] = printed_code(reset, "NEW recovery code")
    codes["alice second login code"] = code = fresh_code(device)
    alice_home = tmp_path / "alice-laptop"
    cli(alice_home, server, "login", "--email", address, stdin=f"{new_pw}\n{code}\n")

    bob = CliUser(server, tmp_path, "bob")
    group = cli(alice_home, server, "new", bob.email, "--name", group_name,
                stdin=new_pw + "\n").split()[2]
    cli(alice_home, server, "send", group, texts[0], stdin=new_pw + "\n")
    bob.ok("send", group, texts[1])
    path = tmp_path / file_name
    path.write_bytes(b"quarterly figures " * 9000)
    cli(alice_home, server, "send", group, "--file", str(path), stdin=new_pw + "\n")
    line = next(x for x in bob.ok("read", group).splitlines() if "[file]" in x)
    out = tmp_path / "inbox"
    out.mkdir()
    assert "file_hash verified" in bob.ok("download", "--message",
                                          f"{group}:{line.split()[0][1:]}", "-o", str(out))
    assert (out / file_name).read_bytes() == path.read_bytes()


def settings_key_type() -> str:
    from django.conf import settings

    return settings.SECURECHAT_KEY_TYPE
