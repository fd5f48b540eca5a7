"""client.cli offline: where secrets may come from, file permissions, and one-line errors.

Each test runs the CLI in another process with ``import django`` blocked
(tests/client/cli_support.py), as a user runs it.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from client.cli import Secrets
from client.errors import LocalFileError
from tests.client.cli_support import BLOCK_DJANGO, assert_one_error_line, run_cli
from tests.support.live import REPO_ROOT


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # closed once we leave the block


def test_the_django_blocker_blocks(tmp_path):
    """Positive control: the boot code of every CLI test really makes `import django` fail."""
    proc = subprocess.run([sys.executable, "-c", BLOCK_DJANGO + "import django\n"],
                          capture_output=True, text=True, cwd=REPO_ROOT)
    assert proc.returncode != 0 and "django is blocked" in proc.stderr


def test_help_lists_every_command(tmp_path):
    result = run_cli(tmp_path, "--help")
    assert result.returncode == 0, result
    for command in ("signup", "login", "logout", "whoami", "fingerprint", "export-identity",
                    "verify-web", "--password-stdin", "--passphrase-file"):
        assert command in result.stdout


def test_version_is_the_installed_package_version(tmp_path):
    """`securechat --version` says the package version, the one `manage.py version` says."""
    from securechat import __version__

    result = run_cli(tmp_path, "--version")
    assert result.returncode == 0, result
    assert result.stdout.strip() == f"securechat {__version__}"


def test_no_option_takes_a_password_on_the_command_line(tmp_path):
    result = run_cli(tmp_path, "--server", "http://127.0.0.1:9", "login", "--email", "a@x.org",
                     "--password", "hunter2hunter2")
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr
    assert "Traceback" not in result.stderr and "usage:" not in result.stderr


def test_without_a_terminal_the_password_is_refused_not_read_from_stdin(tmp_path):
    """getpass would fall back to echoing stdin; the CLI refuses instead (use --password-stdin)."""
    result = run_cli(tmp_path, "--server", closed_port_url(), "login", "--email", "a@x.org",
                     stdin="typed password\n")
    assert_one_error_line(result, "no terminal", "--password-stdin")


def test_password_stdin_that_ends_early_is_one_clear_error(tmp_path):
    result = run_cli(tmp_path, "--server", closed_port_url(), "--password-stdin", "login",
                     "--email", "a@x.org", stdin="")
    assert_one_error_line(result, "standard input ended before the password")


def test_an_unreachable_server_is_one_line(tmp_path):
    result = run_cli(tmp_path, "--server", closed_port_url(), "--password-stdin", "login",
                     "--email", "a@x.org", stdin="a long enough password\n")
    assert_one_error_line(result, "cannot reach", "[unreachable]")


def test_plain_http_to_another_host_is_refused(tmp_path):
    result = run_cli(tmp_path, "--server", "http://chat.example.org", "whoami")
    assert_one_error_line(result, "plain http is only allowed to this machine")


def test_a_short_password_is_refused_before_any_request(tmp_path):
    result = run_cli(tmp_path, "--server", closed_port_url(), "--password-stdin", "signup",
                     "--email", "a@x.org", stdin="short\n")
    assert_one_error_line(result, "12 to 1024 characters")


def test_a_passphrase_file_readable_by_others_is_refused(tmp_path):
    phrase = tmp_path / "phrase"
    phrase.write_text("my local passphrase\nignored second line\n")
    for mode in (0o644, 0o640, 0o604, 0o660):
        phrase.chmod(mode)
        with pytest.raises(LocalFileError, match="readable by other users"):
            Secrets(False, phrase).passphrase()
    phrase.chmod(0o600)
    assert Secrets(False, phrase).passphrase() == "my local passphrase"
    link = tmp_path / "link"
    link.symlink_to(phrase)
    with pytest.raises(LocalFileError, match="not a regular file"):
        Secrets(False, link).passphrase()


def test_a_config_directory_open_to_others_is_refused(tmp_path):
    config = tmp_path / "cfg"
    config.mkdir(mode=0o755)
    config.chmod(0o755)
    result = run_cli(tmp_path, "--config-dir", str(config), "--server", "http://127.0.0.1:9",
                     "whoami")
    assert_one_error_line(result, "open to other users", "chmod 700")


def test_a_session_file_readable_by_others_is_refused(tmp_path):
    config = tmp_path / "cfg"
    config.mkdir(mode=0o700)
    (config / "session.json").write_text("{}")
    (config / "session.json").chmod(0o644)
    result = run_cli(tmp_path, "--config-dir", str(config), "--server", "http://127.0.0.1:9",
                     "whoami")
    assert_one_error_line(result, "readable by other users", "chmod 600")


def test_without_a_server_the_cli_says_so(tmp_path):
    result = run_cli(tmp_path, "whoami")
    assert_one_error_line(result, "no server: pass --server URL")


def test_an_unexpected_exception_is_one_line_too(tmp_path, monkeypatch, capsys):
    """The last guard: a bug still ends as one line and exit 1, never a traceback."""
    from client import cli

    def boom(ctx):
        raise ZeroDivisionError("x")

    monkeypatch.setitem(cli.COMMANDS, "whoami", boom)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert cli.main(["--server", "http://127.0.0.1:9", "whoami"]) == 1
    err = capsys.readouterr().err
    assert err == "securechat: internal error (ZeroDivisionError); please report it\n"


def test_the_config_directory_is_created_private(tmp_path):
    result = run_cli(tmp_path, "--server", closed_port_url(), "whoami")
    assert result.returncode == 1
    assert (tmp_path / ".config" / "securechat").stat().st_mode & 0o777 == 0o700
