"""Running the ``securechat`` CLI the way a user does: another process, without Django.

:func:`run_cli` starts ``python -c BOOT args…`` from the repository root. BOOT first
puts a meta-path finder in front of every other that makes ``import django`` (and
any ``django.*``) raise, so a CLI that needed Django would fail here; then it calls
``client.cli.main`` with the test-only work-factor floor (a keyword of ``main``, not
an option or variable: the installed console script cannot lower it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.live import REPO_ROOT

BLOCK_DJANGO = """
import sys
class _NoDjango:
    def find_spec(self, name, path=None, target=None):
        if name == "django" or name.startswith("django."):
            raise ImportError("django is blocked: the securechat CLI must not need it")
        return None
sys.meta_path.insert(0, _NoDjango())
"""
BOOT = BLOCK_DJANGO + """
from client.cli import main
sys.exit(main(sys.argv[2:], _min_work_factor=int(sys.argv[1])))
"""
TEST_FLOOR = 10  # what tests/settings.py gives the server (SECURECHAT_CLIENT_WORK_FACTOR)


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str


def cli_env(home: Path) -> dict[str, str]:
    """A user's environment: its own HOME and XDG_CONFIG_HOME, no Django settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO", "SECURECHAT", "DATABASE", "SQLITE"))}
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def run_cli(home: Path, *args: str, stdin: str = "", floor: int = TEST_FLOOR,
            timeout: float = 120) -> CliRun:
    """Run ``securechat args…`` with ``stdin``; never through a terminal (start_new_session)."""
    proc = subprocess.run(
        [sys.executable, "-c", BOOT, str(floor), *args], input=stdin, capture_output=True,
        text=True, cwd=REPO_ROOT, env=cli_env(home), timeout=timeout, start_new_session=True)
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def assert_one_error_line(result: CliRun, *fragments: str) -> None:
    """A failure is one ``securechat: error: …`` line on stderr, a non-zero exit, no traceback."""
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("securechat: error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
