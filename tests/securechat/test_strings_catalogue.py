"""Every user-visible string of the browser code lives in static/js/v2/strings.js (issue 15:
one module, so a translation can come later). The scanner below is deliberately simple:
it looks, line by line, for a string literal that reads like words for people (starts
with a capital letter, or holds a space between letters) in the places a page shows text:

- assigned to ``textContent``, ``title``, ``placeholder``;
- a literal child of ``el``/``element``/``node`` (after the attributes object);
- an ``el(...)`` attribute ``text:``, ``title:``, ``alt:``, ``"aria-label":``, ``placeholder:``;
- ``setAttribute("aria-label" | "title" | "placeholder", …)``;
- passed to a status or alarm setter (``showMessage``, ``showFailure``, ``announce``,
  ``alarm``, ``setStatus``).

Any such literal outside strings.js fails the test. A planted snippet proves it catches
one."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.live import REPO_ROOT

JS_ROOT = REPO_ROOT / "static" / "js"
CATALOGUE = JS_ROOT / "v2" / "strings.js"

LITERAL = r"""(?P<q>["'`])(?P<text>(?:(?!(?P=q)).)*)(?P=q)"""
SHOWN_AT = [
    re.compile(r"\.(?:textContent|title|placeholder)\s*=\s*" + LITERAL),
    re.compile(r"""(?:\btext|\btitle|\balt|\bplaceholder|["']aria-label["'])\s*:\s*""" + LITERAL),
    re.compile(r"""setAttribute\(\s*["'](?:aria-label|title|placeholder)["']\s*,\s*""" + LITERAL),
    re.compile(r"\b(?:showMessage|showFailure|announce|alarm|setStatus)\((?:[\w.]+\s*,\s*)?"
               + LITERAL),
    # a child of a built element: el("p", {…}, "Text") / element(…) / node(…)
    re.compile(r"\b(?:el|element|node)\(\s*[\"'][\w-]+[\"']\s*,\s*\{[^{}]*\}\s*,\s*" + LITERAL),
]
WORDS = re.compile(r"^[A-Z]|[A-Za-z]\s+[A-Za-z]")


def shown_literals(source: str) -> list[tuple[int, str]]:
    """(line number, literal) for each user-visible literal in ``source``."""
    found = []
    for number, line in enumerate(source.splitlines(), start=1):
        if line.lstrip().startswith(("//", "*", "/*")):
            continue
        for pattern in SHOWN_AT:
            for match in pattern.finditer(line):
                if WORDS.search(match.group("text")):
                    found.append((number, match.group("text")))
    return found


def scanned_modules() -> list[Path]:
    return sorted(path for path in JS_ROOT.rglob("*.js")
                  if path != CATALOGUE and "vendor" not in path.parts)


def test_the_scanner_catches_a_planted_sentence_and_passes_catalogue_lookups():
    planted = "\n".join([
        'status.textContent = "Saved.";',
        'const b = el("button", { type: "button", text: "Send it now" });',
        'input.setAttribute("aria-label", `Search ${x}`);',
        'showMessage(box, "Enter the code.");',
        'const p = el("p", { class: "helptext" }, "Keep it safe.");',
        'const ok = el("p", { class: "v2-state", text: CHAT.connected, title: "" });',
        '// text: "Only a comment"',
    ])
    assert [line for line, _ in shown_literals(planted)] == [1, 2, 3, 4, 5]


def test_no_user_visible_literal_outside_the_catalogue():
    assert CATALOGUE.is_file()
    offenders = []
    for path in scanned_modules():
        name = path.relative_to(JS_ROOT).as_posix()
        offenders += [f"{name}:{line}: {text}" for line, text in shown_literals(path.read_text())]
    assert offenders == [], ("move these strings to static/js/v2/strings.js:\n"
                             + "\n".join(offenders))

