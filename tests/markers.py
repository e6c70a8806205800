"""Strict parser for fixture markers: ``# expect: PKL001, PKL002`` and ``# gap: PKL001``.

Shared by the fixture test, the docs-example test and the self-check-case test, so all three read markers the same
way. Only real comments count (found with the tokenizer, so a docstring that mentions ``# expect:`` is not a
marker). A malformed marker or an unknown code is an error, never silently ignored.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections import Counter
from dataclasses import dataclass

_MARKER = re.compile(r"#\s*(expect|gap)\b(.*)$")
_CODE = re.compile(r"^PKL\d{3}$")


class MarkerError(ValueError):
    pass


@dataclass
class Expectations:
    expected: Counter  # (line, code) -> count
    gaps: Counter


def _comments(text: str):
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                yield tok.start[0], tok.string
    except (tokenize.TokenError, SyntaxError):
        # not tokenizable (a hostile fixture): fall back to reading every line
        for lineno, line in enumerate(text.splitlines(), start=1):
            if "#" in line:
                yield lineno, line[line.index("#"):]


def parse_markers(text: str, known_codes: set[str], where: str = "") -> Expectations:
    expected: Counter = Counter()
    gaps: Counter = Counter()
    for lineno, comment in _comments(text):
        m = _MARKER.search(comment)
        if m is None:
            continue
        kind, rest = m.group(1), m.group(2)
        if not rest.startswith(":"):
            raise MarkerError(f"{where}:{lineno}: malformed marker {comment.strip()!r} (want '# {kind}: PKL001')")
        codes = [c.strip() for c in rest[1:].split(",")]
        if not codes or any(not _CODE.match(c) for c in codes):
            raise MarkerError(f"{where}:{lineno}: malformed codes in marker {rest!r}")
        for c in codes:
            if c not in known_codes:
                raise MarkerError(f"{where}:{lineno}: unknown code {c} in marker")
            (expected if kind == "expect" else gaps)[(lineno, c)] += 1
    return Expectations(expected, gaps)
