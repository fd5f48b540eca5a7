"""Lists every function longer than 60 lines outside tests and migrations, and exits 1
when there is one (`make lint` runs it).

Python is measured with ``ast`` (from ``def`` to the function's last line, decorators
not counted); JavaScript with eslint's ``max-lines-per-function`` rule, which
eslint.config.js sets to the same limit, so both languages are held to one number.
Generated bundles, vendored code and installed packages are never read.

    python tools/function_lengths.py [--max N] [--no-js]
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 60
# Folders never measured: tests and migrations (issue 18's scope), and what is generated,
# vendored or installed.
SKIPPED_DIRS = {"tests", "migrations", ".venv", "node_modules", "static/dist", "staticfiles",
                "var", "build", ".git", "__pycache__"}
JS_PATHS = ["static/js", "tools", "bench"]


def _skipped(path: Path, root: Path) -> bool:
    rel = path.relative_to(root)
    parts = rel.parts
    return any(part in SKIPPED_DIRS or part.startswith("dist.") for part in parts) or any(
        "/".join(parts[:i]) in SKIPPED_DIRS for i in range(2, len(parts)))


def python_functions_over(limit: int, root: Path = ROOT) -> list[tuple[str, int, str, int]]:
    """(path, line, name, length) of every Python function under ``root`` longer than
    ``limit``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if _skipped(path, root):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append((str(path.relative_to(root)), node.lineno, node.name, length))
    return found


def js_functions_over(limit: int) -> list[tuple[str, int, str, int]]:
    """The same for JavaScript, from eslint's max-lines-per-function (its message names the
    function and its length)."""
    eslint = ROOT / "node_modules" / ".bin" / "eslint"
    if not eslint.exists():
        sys.exit("tools/function_lengths.py: node_modules/.bin/eslint is missing (make node-deps)")
    rule = json.dumps({"max-lines-per-function": ["error", {"max": limit}]})
    result = subprocess.run(
        [str(eslint), "--format", "json", "--rule", rule, *JS_PATHS],
        cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1):  # 2: eslint itself failed (config, crash)
        sys.exit(f"tools/function_lengths.py: eslint failed:\n{result.stderr}")
    found = []
    for report in json.loads(result.stdout):
        for message in report["messages"]:
            if message.get("ruleId") == "max-lines-per-function":
                rel = str(Path(report["filePath"]).relative_to(ROOT))
                found.append((rel, message["line"], message["message"].split(". Maximum")[0], 0))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=MAX_LINES, help="longest allowed (lines)")
    parser.add_argument("--no-js", action="store_true", help="measure Python only")
    args = parser.parse_args(argv)
    found = python_functions_over(args.max)
    if not args.no_js:
        found += js_functions_over(args.max)
    for path, line, name, length in found:
        print(f"{path}:{line}: {name} ({length} lines)" if length else f"{path}:{line}: {name}")
    if found:
        print(f"{len(found)} function(s) over {args.max} lines", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
