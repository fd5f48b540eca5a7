"""eslint runs over the browser code in `make lint` and `make test`, and it can fail.

The configuration (eslint.config.js) is the recommended rules plus the ones review kept
asking for: no unused values, no empty `catch` (a swallowed background failure), `===`,
no `var`. The tree itself is checked by `make test` (target `lint-js`) before pytest
runs; these tests prove the wiring and that the rules bite.
"""

from __future__ import annotations

import json
import subprocess

from tests.support.live import REPO_ROOT

ESLINT = REPO_ROOT / "node_modules" / ".bin" / "eslint"


def lint_source(source: str, name: str = "static/js/chat/probe.js") -> tuple[int, list[dict]]:
    """eslint's exit status and its messages for `source` linted as if it were `name`."""
    done = subprocess.run([str(ESLINT), "--format", "json", "--stdin", "--stdin-filename", name],
                          input=source, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, [m for result in json.loads(done.stdout) for m in result["messages"]]


def test_clean_module_passes():
    status, messages = lint_source('export function total(values) {\n'
                                   '  return values.reduce((sum, v) => sum + v, 0);\n}\n')
    assert (status, messages) == (0, [])


def test_swallowed_error_unused_value_loose_equality_and_var_are_errors():
    status, messages = lint_source('var count = 1;\nconst unused = 2;\n'
                       'export async function load(fetchIt) {\n'
                       '  try { await fetchIt(); } catch { }\n'
                       '  return count == 1;\n}\n')
    assert status == 1
    assert {m["ruleId"] for m in messages if m["severity"] == 2} == {
        "no-var", "no-unused-vars", "no-empty", "eqeqeq"}


def test_generated_bundles_are_not_linted_and_make_test_runs_eslint():
    status, messages = lint_source("var x == ;", name="static/dist/crypto/index-0000.js")
    assert status == 0 and [m["severity"] for m in messages] == [1]  # "file ignored" warning
    recipe = subprocess.run(["make", "-n", "-B", "test"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert recipe.returncode == 0, recipe.stderr
    assert "node_modules/.bin/eslint --max-warnings 0 ." in recipe.stdout
