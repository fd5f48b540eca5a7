"""The ``securechat`` command line (console script ``client.cli:main``).

    securechat [--server URL] [--config-dir DIR] COMMAND ...

    signup --email ADDRESS [--key-type hybrid|x25519] [--store-identity]
    login  --email ADDRESS [--store-identity]
    logout | whoami | fingerprint
    export-identity --output FILE
    change-password [--rotate-keys] | rotate-keys
    reset --email ADDRESS | cancel-reset [--link]
    verify-web URL --hashes FILE
    upload FILE [--to EMAIL | --conversation ID]                 (client.cli_files)
    upload FILE [--resume] [--show-key] [--ref-out REF.json]
    download CONVERSATION:SEQ [-o OUT|DIR] [--force]
    download [FILE_ID] (--ref REF.json | --key-file F --hash H) -o OUT [--force]
    file-key REF.json | --message CONVERSATION:SEQ
    archive DIR                                                  (client.archive)
    conversations | new | send | read | history | listen | members | group
    safety-number | verify | contacts | accept-key | accept-restore
        (client.cli_messages; docs/cli.md "Conversations and messages")

Secrets — the password, second-factor codes, the local passphrase — come from
the terminal (getpass), or from ``--password-stdin`` (one per line, in the
order asked: password, then a code when the server asks for one) and
``--passphrase-file FILE`` (refused unless only its owner can read it). Never
from arguments or the environment: both are visible to other processes
(``/proc/*/cmdline``, ``/proc/*/environ``) and end up in shell history.

The identity stays in this process's memory; ``--store-identity`` (opt-in)
also keeps it on disk as an age file under a passphrase the user chooses
(scrypt work factor 18, mode 0600), so later commands need that passphrase
instead of the password and a download.

Every failure is one line on stderr, ``securechat: error: …``, and exit
status 1 (2 for a usage error, 3 when ``verify-web`` finds a difference);
never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import sys
import warnings
from pathlib import Path

import agecrypt

from . import _local, account, changes, cli_files, cli_messages, verifyweb
from .derivation import MIN_WORK_FACTOR
from .errors import ApiFailure, ClientCryptoError, LocalFileError, UsageError
from .http import Session, origin_of
from .identity import IdentityFile

__all__ = ["main"]

CONFIG_FILE = "config.json"
_NO_SERVER = frozenset({"verify-web", "file-key"})  # commands that talk to no server
LOCAL_WORK_FACTOR = 18  # the stored identity: a passphrase a person chose, so scrypt is high
EXPORT_WORK_FACTOR = 18  # DESIGN.md §3: 18-20, so typage (max 20) and `age -d` open it
MIN_PASSWORD_LENGTH = 12  # mirrors the server's rule (DESIGN.md §4)
MAX_PASSWORD_LENGTH = 1024  # the server's limit; refused here before any scrypt runs
EXIT_ERROR, EXIT_USAGE, EXIT_MISMATCH = 1, 2, 3


class _OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (no usage dump on stderr)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"securechat: error: {message} (see securechat --help)\n")


def installed_version() -> str:
    """The version of the installed ``securechat`` package (its metadata, not the server's)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("securechat")
    except PackageNotFoundError:
        return "unknown (not installed as a package)"


def _parser() -> argparse.ArgumentParser:
    p = _OneLineErrorParser(prog="securechat",
                            description="SecureChat end-to-end encrypted client.")
    p.add_argument("--version", action="version",
                   version=f"securechat {installed_version()}")
    p.add_argument("--server", help="server URL, e.g. https://chat.example.org "
                   "(default: the one you last logged in to)")
    p.add_argument("--config-dir", help="where the session and settings are kept "
                   "(default: $XDG_CONFIG_HOME/securechat)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password (and codes) from standard input, one per line")
    p.add_argument("--passphrase-file", type=Path,
                   help="read the local identity passphrase from this file (mode 0600)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           parser_class=_OneLineErrorParser)
    for name in ("signup", "login"):
        c = sub.add_parser(name, help=f"{name} (the password never leaves this machine)")
        c.add_argument("--email", required=True)
        c.add_argument("--store-identity", action="store_true",
                       help="keep the identity on disk under a passphrase you choose")
        if name == "signup":
            c.add_argument("--key-type", choices=("hybrid", "x25519"), default="hybrid",
                           help="the server's key type (default hybrid)")
            c.add_argument("--invitation", metavar="TOKEN",
                           help="the invitation token of an emailed or `createadmin` link "
                                "(its ?invitation= value)")
    sub.add_parser("logout", help="end the session and forget the stored identity")
    sub.add_parser("whoami", help="show the account this session is logged in as")
    sub.add_parser("fingerprint", help="show your keys' fingerprints, checked against the server")
    c = sub.add_parser("export-identity", help="write your identity as an age file under "
                       "your password (age -d opens it)")
    c.add_argument("--output", required=True, type=Path, help="new file to write (mode 0600)")
    c = sub.add_parser("change-password", help="change your password (re-wrapped here; "
                       "other sessions end)")
    c.add_argument("--rotate-keys", action="store_true",
                   help="also make new keys (do this if the password may be known)")
    sub.add_parser("rotate-keys", help="make a new key generation, endorsed by the current one")
    c = sub.add_parser("reset", help="reset a forgotten password with the emailed link and "
                       "your recovery code (or 'hold': new keys after a waiting time)")
    c.add_argument("--email", required=True)
    c = sub.add_parser("cancel-reset", help="cancel a reset without the recovery code that "
                       "is waiting (signed with your current keys)")
    c.add_argument("--link", action="store_true",
                   help="use the cancel link from the email instead (no login needed)")
    c = sub.add_parser("verify-web", help="check that a server serves the released web code")
    c.add_argument("url")
    c.add_argument("--hashes", required=True, type=Path,
                   help="the release's hash list (make release-hashes)")
    cli_files.add_parsers(sub)
    cli_messages.add_commands(sub)  # conversations, new, send, read, listen, members, …
    return p


# --- secrets ----------------------------------------------------------------------


class Secrets:
    """Where passwords, codes and passphrases come from (never argv or the environment)."""

    def __init__(self, password_stdin: bool, passphrase_file: Path | None) -> None:
        self._stdin = password_stdin
        self._passphrase_file = passphrase_file

    def _line(self, what: str) -> str:
        line = sys.stdin.readline()
        if not line:
            raise UsageError(f"standard input ended before the {what}")
        return line.removesuffix("\n").removesuffix("\r")

    def _prompt(self, prompt: str) -> str:
        with warnings.catch_warnings():
            # getpass falls back to echoing stdin when there is no terminal: refuse instead.
            warnings.simplefilter("error", getpass.GetPassWarning)
            try:
                return getpass.getpass(prompt)
            except getpass.GetPassWarning:
                raise UsageError("no terminal to read a secret from; use --password-stdin "
                                 "or --passphrase-file") from None
            except EOFError:
                raise UsageError("no input") from None

    def password(self, confirm: bool = False) -> str:
        if self._stdin:
            return self._line("password")
        first = self._prompt("Password: ")
        if confirm and self._prompt("Password again: ") != first:
            raise UsageError("the two passwords differ")
        return first

    def code(self) -> str:
        if self._stdin:
            return self._line("second-factor code").strip()
        return self._prompt("Authenticator or backup code: ").strip()

    def new_password(self) -> str:
        if self._stdin:
            return self._line("new password")
        first = self._prompt("New password: ")
        if self._prompt("New password again: ") != first:
            raise UsageError("the two passwords differ")
        return first

    def recovery_code(self) -> str:
        if self._stdin:
            return self._line("recovery code").strip()
        return self._prompt("Recovery code: ").strip()

    def line(self, prompt: str, what: str) -> str:
        """A value that is not secret (a link the user pastes)."""
        if self._stdin:
            return self._line(what).strip()
        try:
            return input(prompt).strip()
        except EOFError:
            raise UsageError("no input") from None

    def passphrase(self, confirm: bool = False) -> str:
        if self._passphrase_file is not None:
            _local.check_private_file(self._passphrase_file)
            text = _local.read_private(self._passphrase_file).decode("utf-8", errors="strict")
            value = text.splitlines()[0] if text else ""
        else:
            value = self._prompt("Local passphrase for the stored identity: ")
            if confirm and self._prompt("Passphrase again: ") != value:
                raise UsageError("the two passphrases differ")
        if not value:
            raise UsageError("the passphrase is empty")
        return value


# --- context: server, config directory, remembered account -------------------------


class Context:
    """Resolved options of one run: the config directory, server and account."""

    def __init__(self, args: argparse.Namespace, min_work_factor: int) -> None:
        self.args = args
        self.min_work_factor = min_work_factor
        self.dir = _local.config_dir(args.config_dir)
        self.secrets = Secrets(args.password_stdin, args.passphrase_file)
        self._config = _local.read_json(self.dir / CONFIG_FILE)
        self.origin = self._server()
        self.known = account.KnownAccounts(self.dir)

    def _server(self) -> str:
        if self.args.command in _NO_SERVER and not getattr(self.args, "message", None):
            return ""  # (file-key --message reads the message from the server)
        if self.args.server:
            return origin_of(self.args.server)
        if isinstance(self._config.get("current"), str):
            return self._config["current"]
        raise UsageError("no server: pass --server URL")

    def session(self) -> Session:
        return Session(self.origin, self.dir)

    def email(self) -> str:
        email = (self._config.get("accounts") or {}).get(self.origin)
        if not isinstance(email, str):
            raise UsageError(f"not logged in to {self.origin}: run securechat login")
        return email

    def remember_login(self, email: str | None) -> None:
        accounts = dict(self._config.get("accounts") or {})
        if email is None:
            accounts.pop(self.origin, None)
        else:
            accounts[self.origin] = email
        self._config = {"current": self.origin, "accounts": accounts}
        _local.write_private(self.dir / CONFIG_FILE, _json(self._config))

    def forget_stored_identity(self) -> None:
        """Delete the identity stored for this server's remembered account, if any."""
        if isinstance((self._config.get("accounts") or {}).get(self.origin), str):
            _local.remove(self.identity_path())

    def identity(self) -> IdentityFile:
        """The account's identity, checked against the directory (see :func:`_identity`)."""
        return _identity(self)

    def identity_path(self) -> Path:
        key = hashlib.sha256(f"{self.origin} {self.email()}".encode()).hexdigest()[:16]
        return self.dir / f"identity-{key}.age"


def _json(value: object) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True).encode()


# --- commands ----------------------------------------------------------------------


def _check_password_rules(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise UsageError(f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} "
                         "characters")


def cmd_signup(ctx: Context) -> int:
    password = ctx.secrets.password(confirm=True)
    _check_password_rules(password)
    with ctx.session() as session:
        _end_previous_session(ctx, session)
        result = account.signup(session, ctx.args.email, password, ctx.args.key_type, ctx.known,
                                min_work_factor=ctx.min_work_factor,
                                invitation=ctx.args.invitation)
    ctx.remember_login(ctx.args.email)
    print("Your recovery code (the only way back in if you forget your password; "
          "the server never sees it):")
    print(f"  {result.recovery_code}")
    if sys.stdin.isatty() and not ctx.args.password_stdin:
        _confirm_saved()
    if ctx.args.store_identity:
        _store_identity(ctx, result.identity)
    if result.answer.get("claim_pending"):
        print(f"Your keys are made. Open the link emailed to {ctx.args.email} to confirm the "
              "address, then log in.")
        return 0
    if result.answer.get("email_verification_sent"):
        print("A verification link was sent to your address.")
    if result.answer.get("enrolment_required"):
        print(f"This server requires two-factor: set it up in the browser at {ctx.origin}.")
    print(f"Signed up and logged in as {ctx.args.email} on {ctx.origin}.")
    return 0


def _end_previous_session(ctx: Context, session: Session) -> None:
    """A new login or signup replaces this machine's session with the server: end the old
    one there (so it does not linger in the user's session list), drop its cookies and
    the identity stored for it."""
    ctx.forget_stored_identity()
    if session.has_session():
        try:
            session.post("/api/v1/auth/logout")
        except ApiFailure as exc:
            if exc.code == "unreachable":
                raise
        session.forget()


def _confirm_saved() -> None:
    """Keep the code on screen until the user says it is saved (DESIGN.md §4)."""
    try:
        while input("Type 'saved' once you have written it down: ").strip().lower() != "saved":
            pass
    except EOFError:
        print("\nKeep the recovery code above safe: nobody can show it to you again.")


def cmd_login(ctx: Context) -> int:
    password = ctx.secrets.password()
    with ctx.session() as session:
        _end_previous_session(ctx, session)
        unlocked = account.login(session, ctx.args.email, password, ctx.known, ctx.secrets.code,
                                 min_work_factor=ctx.min_work_factor)
    ctx.remember_login(ctx.args.email)
    if ctx.args.store_identity:
        _store_identity(ctx, unlocked.identity)
    print(f"Logged in as {ctx.args.email} on {ctx.origin} "
          f"(key generation {unlocked.identity.current_generation}, checked).")
    return 0


def cmd_logout(ctx: Context) -> int:
    with ctx.session() as session:
        try:
            session.post("/api/v1/auth/logout")
        except ApiFailure as exc:
            if exc.status not in (401, 403):  # an ended session still gets forgotten here
                raise
        finally:
            session.forget()
    ctx.forget_stored_identity()
    ctx.remember_login(None)
    print(f"Logged out of {ctx.origin}.")
    return 0


def cmd_whoami(ctx: Context) -> int:
    with ctx.session() as session:
        me = session.get("/api/v1/me")
    if not isinstance(me, dict) or not isinstance(me.get("email"), str):
        raise ApiFailure("api_failure", 200, "the server's answer has no email")
    print(f"{me['email']} on {ctx.origin}")
    for name in ("key_type", "key_generation", "otp_enabled", "email_verified", "fingerprint"):
        if name in me:
            print(f"  {name}: {me[name]}")
    return 0


def cmd_fingerprint(ctx: Context) -> int:
    identity = _identity(ctx)
    print(f"key generation {identity.current_generation}")
    print(f"  age recipient      {identity.recipient()}")
    print(f"  recipient sha256   {hashlib.sha256(identity.recipient().encode()).hexdigest()}")
    print(f"  signing key sha256 {hashlib.sha256(identity.signing_public_key()).hexdigest()}")
    print("  (checked against the server's key directory)")
    return 0


def cmd_export_identity(ctx: Context) -> int:
    password = ctx.secrets.password()
    identity = _unlock_with_password(ctx, password)
    recipient = agecrypt.ScryptRecipient(password, work_factor=EXPORT_WORK_FACTOR)
    _local.write_private(ctx.args.output, agecrypt.encrypt(identity.serialize(), [recipient]),
                         exclusive=True)
    print(f"Wrote {ctx.args.output}: `age -d {ctx.args.output}` with your password "
          "gives an identity file for `age -d -i`.")
    return 0


def cmd_change_password(ctx: Context) -> int:
    password = ctx.secrets.password()
    new_password = ctx.secrets.new_password()
    _check_password_rules(new_password)
    if new_password == password:
        raise UsageError("the new password is the current one")
    with ctx.session() as session:
        changed = changes.change_password(
            session, ctx.email(), password, new_password, ctx.known, ctx.secrets.code,
            rotate=ctx.args.rotate_keys, min_work_factor=ctx.min_work_factor)
    _after_key_change(ctx, ctx.args.rotate_keys)
    print(f"Password changed for {ctx.email()} on {ctx.origin}; your other sessions ended.")
    if ctx.args.rotate_keys:
        print(f"New keys: key generation {changed.identity.current_generation}, endorsed by "
              "the previous one.")
    return 0


def cmd_rotate_keys(ctx: Context) -> int:
    password = ctx.secrets.password()
    with ctx.session() as session:
        changed = changes.rotate_keys(session, ctx.email(), password, ctx.known,
                                      ctx.secrets.code, min_work_factor=ctx.min_work_factor)
    _after_key_change(ctx, True)
    print(f"New keys: key generation {changed.identity.current_generation}, endorsed both "
          "ways with the previous one; your other sessions ended.")
    return 0


def _after_key_change(ctx: Context, rotated: bool) -> None:
    """A stored identity made before a rotation lacks the new generation: drop it."""
    if rotated and _local.read_private(ctx.identity_path()) is not None:
        _local.remove(ctx.identity_path())
        print("The identity stored on this machine was removed (it predates the new keys); "
              "log in with --store-identity to keep the new one.")


def cmd_reset(ctx: Context) -> int:
    email = ctx.args.email
    with ctx.session() as session:
        session.post("/api/v1/auth/password-reset", {"email": email})
        print(f"If {email} has an account on {ctx.origin}, a reset link is on its way.")
        link = changes.parse_reset_link(ctx.secrets.line("Reset link from the email: ",
                                                         "reset link"))
        code = ctx.secrets.recovery_code()

        def read_new_password() -> str:
            new_password = ctx.secrets.new_password()
            _check_password_rules(new_password)
            return new_password

        if code.lower() == "hold":
            held = changes.hold_reset(session, email, link, read_new_password, ctx.known,
                                      ctx.secrets.code, min_work_factor=ctx.min_work_factor)
            return _report_held(ctx, held)
        recovered = changes.reset_with_recovery_code(
            session, email, link, code, read_new_password, ctx.known, ctx.secrets.code,
            min_work_factor=ctx.min_work_factor)
    print("Password reset; your keys and history are kept and every session ended.")
    print("Your NEW recovery code (the old one no longer works; the server never sees it):")
    print(f"  {recovered.recovery_code}")
    if sys.stdin.isatty() and not ctx.args.password_stdin:
        _confirm_saved()
    print(f"Log in again with: securechat --server {ctx.origin} login --email {email}")
    return 0


def _report_held(ctx: Context, held: changes.Held) -> int:
    print(f"Reset WITHOUT the recovery code requested: it takes effect at {held.publish_at}, "
          "unless it is cancelled before (securechat cancel-reset, the emailed link, or any "
          "logged-in session). Then your account has NEW keys: older messages and files "
          "cannot be read, and contacts see \"reset without recovery: unverified\".")
    print("Your NEW recovery code (valid once the reset takes effect):")
    print(f"  {held.recovery_code}")
    if sys.stdin.isatty() and not ctx.args.password_stdin:
        _confirm_saved()
    return 0


def cmd_cancel_reset(ctx: Context) -> int:
    with ctx.session() as session:
        if ctx.args.link:
            token = changes.parse_cancel_link(ctx.secrets.line("Cancel link from the email: ",
                                                                "cancel link"))
            session.post("/api/v1/auth/v2/reset/cancel", {"cancel_token": token})
            print("The held reset is cancelled; your password and keys did not change.")
            return 0
    identity = _identity(ctx)  # checked against the directory: the current generation's key
    with ctx.session() as session:
        hold = changes.cancel_held_reset(session, identity)
    if hold is None:
        print(f"No reset of {ctx.email()} is waiting.")
    else:
        print(f"Cancelled the held reset of {ctx.email()} (signed by key generation "
              f"{identity.current_generation}); your password and keys did not change.")
    return 0


def cmd_verify_web(ctx: Context) -> int:
    release = verifyweb.parse_release_hashes(ctx.args.hashes)
    report = verifyweb.verify(ctx.args.url, release)
    print(f"HTML shell sha256 {report.shell_sha256}")
    for problem in report.problems:
        print(f"MISMATCH: {problem}")
    if report.ok:
        print(f"OK: {ctx.args.url} serves the released code ({len(report.checked)} files match).")
        return 0
    print(f"NOT VERIFIED: {ctx.args.url} does not serve the released code.")
    return EXIT_MISMATCH


# --- identity: in memory, or stored under a local passphrase ------------------------


def _store_identity(ctx: Context, identity: IdentityFile) -> None:
    passphrase = ctx.secrets.passphrase(confirm=True)
    recipient = agecrypt.ScryptRecipient(passphrase, work_factor=LOCAL_WORK_FACTOR)
    _local.write_private(ctx.identity_path(), agecrypt.encrypt(identity.serialize(), [recipient]))


def _unlock_with_password(ctx: Context, password: str) -> IdentityFile:
    with ctx.session() as session:
        _, keys = account.derive(session, ctx.email(), password, ctx.known,
                                 min_work_factor=ctx.min_work_factor)
        return account.unlock(session, keys).identity


def _identity(ctx: Context) -> IdentityFile:
    """The stored identity (local passphrase) checked against the directory, or the
    password-unwrapped one."""
    stored = _local.read_private(ctx.identity_path())
    if stored is None:
        return _unlock_with_password(ctx, ctx.secrets.password())
    try:
        plain = agecrypt.decrypt(stored, [agecrypt.ScryptIdentity(
            ctx.secrets.passphrase(), max_work_factor=LOCAL_WORK_FACTOR)])
    except agecrypt.AgeError:
        raise LocalFileError("the stored identity did not open (wrong passphrase?)") from None
    identity = IdentityFile.parse(plain)
    with ctx.session() as session:
        answer = session.get("/api/v1/me/wrapped-identity")
    generations = answer.get("key_generations") if isinstance(answer, dict) else None
    account.self_check(identity, generations if isinstance(generations, list) else [])
    return identity


COMMANDS = {
    "signup": cmd_signup, "login": cmd_login, "logout": cmd_logout, "whoami": cmd_whoami,
    "fingerprint": cmd_fingerprint, "export-identity": cmd_export_identity,
    "verify-web": cmd_verify_web, "change-password": cmd_change_password,
    "rotate-keys": cmd_rotate_keys, "reset": cmd_reset, "cancel-reset": cmd_cancel_reset,
    **cli_files.COMMANDS, **cli_messages.COMMANDS,
}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiFailure):
        where = f" ({exc.field})" if exc.field else ""
        return f"{exc.detail}{where} [{exc.code}]"
    if isinstance(exc, ClientCryptoError):
        return f"{exc} [{exc.code}]"
    return str(exc) or type(exc).__name__


def main(argv: list[str] | None = None, *, _min_work_factor: int = MIN_WORK_FACTOR) -> int:
    """Run one command; return the exit status (the console script exits with it).

    ``_min_work_factor`` is the test-only floor (client.derivation allows 10..16).
    It is a keyword of this function, not an option, file or variable, so only
    code that imports the client — a test harness — can lower it; the installed
    ``securechat`` script always runs with 16.
    """
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](Context(args, _min_work_factor))
    except (ClientCryptoError, agecrypt.AgeError) as exc:
        print(f"securechat: error: {_describe(exc)}", file=sys.stderr)
    except KeyboardInterrupt:
        print("securechat: interrupted", file=sys.stderr)
    except OSError as exc:
        print(f"securechat: error: {exc.strerror or exc}", file=sys.stderr)
    except Exception as exc:  # the last guard: one line, never a traceback
        print(f"securechat: internal error ({type(exc).__name__}); please report it",
              file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
