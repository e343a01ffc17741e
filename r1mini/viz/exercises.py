"""`check`: the self-check cell under each exercise tells the reader whether their answer is right.

In live Jupyter the reader edits `answer_N = None` and runs the cell. On the website, which runs
no Python, the same cell also shows an answer box (`answer_box`) that checks a typed answer in the
browser and prints the same verdict. The expected value is not in the page: the box holds SHA-256
digests, salted per exercise: of the answer's canonical text for integers, booleans and strings,
and for a float of the few neighbouring logarithmic bins of width `rel_tol / 3` around it, so any
answer within two thirds of the tolerance is accepted and nothing beyond the tolerance is.
Only the website's test learns the answers, from a file the build writes when `R1MINI_ANSWERS`
names one (never part of the site).
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import uuid
from typing import Any

from IPython.display import HTML, display

from r1mini.viz.site import building_site

NOT_ANSWERED = "Not answered yet: replace `None` with your answer and run the cell again."
NOT_TYPED = "Not answered yet: type your answer, then press Check."  # the website's wording of it
ANSWERS_ENV = "R1MINI_ANSWERS"  # a file where a site build lists each box's answer, for its test only
BINS = range(-2, 3)  # the float bins accepted around the expected one


def verdict(answer: Any, right: bool) -> str:
    if right:
        return f"Correct: {answer!r}."
    return f"Not quite: {answer!r} is not the value the model gives. Try again."


def check(answer: Any, expected: Any, rel_tol: float = 0.02) -> bool:
    """Print whether `answer` matches `expected` (floats within `rel_tol`; integers, strings and
    other values exactly); return the verdict. On the website, show an answer box as well.

    `answer = None` (the exercise's starting value) means "not answered yet".
    """
    if building_site():
        display(HTML(answer_box(expected, rel_tol)))
    if answer is None:
        print(NOT_ANSWERED)
        return False
    if isinstance(expected, float):
        right = isinstance(answer, int | float) and math.isclose(
            answer, expected, rel_tol=rel_tol, abs_tol=1e-12
        )
    else:
        right = answer == expected
    print(verdict(answer, right))
    return right


def float_bin(value: float, rel_tol: float) -> str:
    """The logarithmic bin of `value` (width `rel_tol / 3`), as the browser computes it too."""
    if abs(value) <= 1e-12:
        return "zero"
    sign = "-" if value < 0 else "+"
    return f"{sign}{math.floor(math.log(abs(value)) / math.log1p(rel_tol / 3))}"


def canonical(expected: Any) -> tuple[str, list[str]]:
    """(kind, keys): how the browser reads an answer to compare with `expected`, and the keys it
    accepts ("int" and "bool" in Python's spelling; "float" as neighbouring bins)."""
    if isinstance(expected, bool):
        return "bool", [str(expected)]
    if isinstance(expected, numbers.Integral):
        return "int", [str(int(expected))]
    if isinstance(expected, float):
        return "float", []
    return "str", [str(expected)]


def digest(salt: str, key: str) -> str:
    return hashlib.sha256(f"{salt}{key}".encode()).hexdigest()


def answer_box(expected: Any, rel_tol: float = 0.02) -> str:
    """An answer box for the website: an input, a Check button, and the verdict `check` prints."""
    kind, keys = canonical(expected)
    salt = uuid.uuid4().hex
    if kind == "float":
        center = float_bin(float(expected), rel_tol)
        keys = [center] if center == "zero" else [f"{center[0]}{int(center[1:]) + d}" for d in BINS]
    config = {"kind": kind, "salt": salt, "w": rel_tol / 3, "digests": [digest(salt, k) for k in keys]}
    if answers := os.environ.get(ANSWERS_ENV):  # the website test answers every box, right and wrong
        with open(answers, "a") as f:
            value = {"bool": bool, "int": int, "float": float, "str": str}[kind](expected)
            f.write(json.dumps({"salt": salt, "kind": kind, "expected": value, "rel_tol": rel_tol}) + "\n")
    root = f"r1mini-answer-{salt[:10]}"
    script = (
        f"(() => {{ const c = {json.dumps(config)}; const root = document.getElementById('{root}');"
        " const input = root.querySelector('input'), out = root.querySelector('.r1mini-verdict');"
        " const sha = async s => [...new Uint8Array(await crypto.subtle.digest('SHA-256',"
        " new TextEncoder().encode(s)))].map(b => b.toString(16).padStart(2, '0')).join('');"
        " const number = /^[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?$/;"
        " const read = raw => { if (number.test(raw)) { const x = Number(raw);"
        " return {repr: String(x), x}; }"
        " if (/^(true|false)$/i.test(raw)) { const t = raw[0].toUpperCase() + raw.slice(1).toLowerCase();"
        " return {repr: t, bool: t}; } const s = raw.replace(/^(['\"])(.*)\\1$/, '$2');"
        ' return {repr: "\'" + s + "\'", str: s}; };'
        " const key = a => { if (c.kind === 'float') { if (a.x === undefined) return null;"
        " if (Math.abs(a.x) <= 1e-12) return 'zero';"
        " return (a.x < 0 ? '-' : '+') + Math.floor(Math.log(Math.abs(a.x)) / Math.log1p(c.w)); }"
        " if (c.kind === 'int') return a.x !== undefined && Number.isInteger(a.x) ? String(a.x) : null;"
        " if (c.kind === 'bool') return a.bool ?? null; return a.str ?? a.repr; };"
        " root.querySelector('button').addEventListener('click', async () => {"
        " const raw = input.value.trim();"
        f" if (!raw) {{ out.textContent = {json.dumps(NOT_TYPED)};"
        " return; } const a = read(raw), k = key(a);"
        " const ok = k !== null && c.digests.includes(await sha(c.salt + k));"
        " out.textContent = ok ? `Correct: ${a.repr}.`"
        " : `Not quite: ${a.repr} is not the value the model gives. Try again.`;"
        " out.style.color = ok ? '#009E73' : '#D55E00'; }); })();"
    )
    return (
        f'<div id="{root}" class="r1mini-exercise" style="margin:6px 0">'
        '<label>Your answer: <input type="text" size="16" aria-label="your answer"></label> '
        '<button type="button">Check</button> <span class="r1mini-verdict" role="status"></span>'
        f"<script>{script}</script></div>"
    )
