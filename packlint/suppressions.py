"""Suppression comments: ``# noqa``, ``# noqa: PKL001, PKL005`` anywhere in a finding's statement, and the
file-level ``# packlint: noqa``. (``--add-noqa``, which writes them, is in ``packlint.fixes.noqa``: it edits files.)
"""

from __future__ import annotations

import io
import re
import tokenize

from packlint.diagnostics import Finding

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
#: a ``# noqa`` directive inside a comment (``packlint.fixes.noqa`` merges codes into it)
NOQA = _NOQA
_NOQA_PKL = re.compile(r"noqa[^\r\n]*pkl", re.IGNORECASE)  # a line that may name a packlint code in a noqa
FILE_NOQA = re.compile(r"^\s*#\s*packlint:\s*noqa\s*$", re.IGNORECASE | re.MULTILINE)


def file_noqa(text: str) -> bool:
    """Whether a file carries the file-level ``# packlint: noqa``. An ASCII text without the word ``packlint`` in
    any case has none, and is not scanned line by line (the directive's pattern costs 70 µs a file, the check
    a tenth of it; a file of another alphabet is scanned whole, as its letters may fold to these)."""
    if text.isascii() and "packlint" not in text.lower():
        return False
    return FILE_NOQA.search(text) is not None


def noqa_codes(line: str) -> set[str] | None:
    """Codes a ``# noqa`` comment names; an empty set for a bare ``# noqa``; None when there is none."""
    m = _NOQA.search(line)
    if m is None:
        return None
    codes = m.group("codes")
    if not codes:
        return set()
    return {c.upper() for c in re.split(r"[\s,]+", codes) if c}


def noqa_warnings(path: str, text: str, known: set[str]) -> list[str]:
    """A ``# noqa: PKL999`` naming a code packlint does not have silences nothing: say so (other tools' codes,
    like ``E501``, are theirs and pass without a word). A file with no line holding both ``noqa`` and ``PKL``
    (any case) has none and is not tokenized: most files carry only other tools' ``# noqa: F401``."""
    if _NOQA_PKL.search(text) is None:
        return []
    out = []
    for lineno, line in sorted(comments(text).items()):
        codes = noqa_codes(line) if "noqa" in line else None
        for code in sorted(codes or ()):
            if code.startswith("PKL") and code not in known:
                out.append(f"{path}:{lineno}: unknown code {code} in `# noqa` comment; it silences nothing")
    return out


class Comments:
    """The comments of one file, from the tokenizer, and the statement (logical line) each line belongs to.

    A ``# noqa`` anywhere in a finding's statement silences it, as in ruff: a multi-line call may carry it on its
    first line, its last, or any line between, and a formatter moving the comment keeps it working. ``by_line``
    maps a line to its comment's text; ``statement_of`` maps each line of a multi-line statement to its
    (first, last) line (a single-line statement is not stored)."""

    def __init__(self, by_line: dict[int, str] | None = None, spans: list[tuple[int, int]] | None = None):
        self.by_line = by_line or {}
        self.statement_of: dict[int, tuple[int, int]] = {}
        for first, last in spans or ():
            if last > first:
                for line in range(first, last + 1):
                    self.statement_of[line] = (first, last)

    def items(self):
        return self.by_line.items()

    def statement(self, line: int) -> tuple[int, int]:
        return self.statement_of.get(line, (line, line))

    def in_statement(self, line: int) -> list[str]:
        """The comments on the lines of the statement holding ``line``, in line order."""
        first, last = self.statement(line)
        return [self.by_line[ln] for ln in range(first, last + 1) if ln in self.by_line]


def comments(text: str) -> Comments:
    """The file's comments and statements, from the tokenizer: a ``# noqa`` inside a string is not a suppression.
    Files without the word ``noqa`` are not tokenized at all (they can suppress nothing)."""
    if "noqa" not in text:
        return Comments()
    by_line: dict[int, str] = {}
    spans: list[tuple[int, int]] = []
    first = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                by_line[tok.start[0]] = tok.string
            elif tok.type == tokenize.NEWLINE:
                if first is not None:
                    spans.append((first, tok.start[0]))
                first = None
            elif first is None and tok.type not in _NOT_CODE:
                first = tok.start[0]
    except (tokenize.TokenError, SyntaxError):
        pass
    return Comments(by_line, spans)


#: tokens that do not start a statement: comment lines and blank lines between statements, indentation
_NOT_CODE = frozenset({tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
                       tokenize.ENDMARKER})


def suppressed(comment_map: Comments, finding: Finding) -> bool:
    """Whether a ``# noqa`` in the statement holding the finding's first (or last) line silences it."""
    lines = {finding.line}
    if finding.end_line:
        lines.add(finding.end_line)
    for ln in sorted(lines):
        for comment in comment_map.in_statement(ln):
            codes = noqa_codes(comment)
            if codes is not None and (not codes or finding.code in codes):
                return True
    return False
