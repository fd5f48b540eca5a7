"""No function over 60 lines outside tests and migrations: tools/function_lengths.py lists
them (Python by ast, JavaScript by eslint's max-lines-per-function) and `make lint` fails
on one. These tests prove that it finds one, leaves the excluded folders alone, and that
the tree holds the limit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.securechat.test_eslint import lint_source
from tests.support.live import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
import function_lengths  # noqa: E402


def python_function(name: str, lines: int) -> str:
    """A function of exactly ``lines`` lines (its ``def`` line included)."""
    body = "".join(f"    x{i} = {i}\n" for i in range(lines - 2))
    return f"def {name}():\n{body}    return 0\n"


def test_a_python_function_of_61_lines_is_listed_and_one_of_60_is_not(tmp_path: Path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "views.py").write_text(
        python_function("short_enough", 60) + "\n\n" + python_function("too_long", 61))
    found = function_lengths.python_functions_over(60, tmp_path)
    assert found == [("app/views.py", 63, "too_long", 61)]


def test_tests_migrations_and_installed_code_are_not_measured(tmp_path: Path):
    for folder in ("tests", "app/migrations", ".venv/lib", "node_modules/x", "static/dist"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "long.py").write_text(python_function("long", 100))
    assert function_lengths.python_functions_over(60, tmp_path) == []
    (tmp_path / "app" / "long.py").write_text(python_function("long", 100))  # the control
    assert [f[0] for f in function_lengths.python_functions_over(60, tmp_path)] == [
        "app/long.py"]


def test_eslint_refuses_a_browser_function_over_60_lines():
    def js_function(lines: int) -> str:  # exactly `lines` lines
        body = "".join(f"  total += {i};\n" for i in range(lines - 4))
        return f"export function sum() {{\n  let total = 0;\n{body}  return total;\n}}\n"

    status, messages = lint_source(js_function(61))
    assert status == 1
    assert [m["ruleId"] for m in messages] == ["max-lines-per-function"]
    assert lint_source(js_function(60)) == (0, [])


def test_the_tree_has_no_function_over_60_lines():
    done = subprocess.run([sys.executable, "tools/function_lengths.py"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr
