"""``--add-noqa`` on tokens: a ``# noqa: CODE`` goes only where a comment may go, so the code never changes.

For each line with findings the comment is placed, in this order of preference:

1. merged into a ``# noqa: ...`` comment already in the finding's statement (a bare ``# noqa`` already silences
   everything: nothing is added);
2. at the end of the finding's own line, when that line ends outside any string and without a backslash
   continuation (the tokenizer puts a NEWLINE or NL token there), after its comment if it has one;
3. otherwise at the end of the statement's last line, which always ends that way.

Which lines end "where a comment may go" is the tokenizer's answer, never a regular expression over the line, so
a ``"# noqa"`` inside a string is text, a line inside a triple-quoted string or after a ``\\`` is left alone, and
every ``# noqa`` written is one that ``packlint.suppressions`` reads back for that finding.
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass

from packlint.diagnostics import Finding
from packlint.fixes import documents
from packlint.fixes.splice import Edit, apply_edits
from packlint.source import python_lines
from packlint.suppressions import NOQA, noqa_codes


@dataclass(frozen=True)
class _Layout:
    """What the tokenizer says about one piece of code: comments by line (start column, text), the lines ending
    where a comment may be appended, and each line's statement (first, last line)."""

    comments: dict[int, tuple[int, str]]
    open_ends: dict[int, int]  # line -> column where its code ends (the NEWLINE/NL token's start)
    statement: dict[int, tuple[int, int]]


def _layout(code: str) -> _Layout:
    comments: dict[int, tuple[int, str]] = {}
    open_ends: dict[int, int] = {}
    statement: dict[int, tuple[int, int]] = {}
    first = None
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
            tokenize.ENDMARKER}
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = (tok.start[1], tok.string)
        if tok.type in (tokenize.NEWLINE, tokenize.NL):
            open_ends.setdefault(tok.start[0], tok.start[1])
        if tok.type == tokenize.NEWLINE:
            if first is not None:
                for line in range(first, tok.start[0] + 1):
                    statement[line] = (first, tok.start[0])
            first = None
        elif first is None and tok.type not in skip:
            first = tok.start[0]
    return _Layout(comments, open_ends, statement)


def plan(code: str, wanted: dict[int, set[str]]) -> tuple[list[Edit], int]:
    """The edits that add ``# noqa: CODES`` for ``wanted`` (line -> codes) to ``code``, and how many codes they
    add. Raises ``tokenize.TokenError`` or ``SyntaxError`` for code the tokenizer rejects."""
    layout = _layout(code)
    lines = python_lines(code)
    # group the codes by the comment they will go into: an existing noqa comment's line, or the line to append to
    to_merge: dict[int, set[str]] = {}
    to_append: dict[int, set[str]] = {}
    for line, codes in sorted(wanted.items()):
        first, last = layout.statement.get(line, (line, line))
        existing = [ln for ln in range(first, last + 1)
                    if ln in layout.comments and noqa_codes(layout.comments[ln][1]) is not None]
        if any(noqa_codes(layout.comments[ln][1]) == set() for ln in existing):
            continue  # a bare `# noqa` in the statement silences every code
        if existing:
            to_merge.setdefault(existing[0], set()).update(codes)
        else:
            target = line if line in layout.open_ends else last
            if target not in layout.open_ends:
                continue  # the tokenizer found no end of line to write at (should not happen): write nothing
            to_append.setdefault(target, set()).update(codes)
    edits: list[Edit] = []
    added = 0
    for line, codes in sorted(to_merge.items()):
        col, comment = layout.comments[line]
        match = NOQA.search(comment)
        have = noqa_codes(comment) or set()
        new_codes = codes - have
        if not new_codes:
            continue
        merged = f"# noqa: {', '.join(sorted(have | codes))}"
        edits.append(Edit((line, col + match.start()), (line, col + match.end()), merged))
        added += len(new_codes)
    for line, codes in sorted(to_append.items()):
        text = lines[line - 1] if line <= len(lines) else ""
        directive = f"# noqa: {', '.join(sorted(codes))}"
        if line in layout.comments:  # after the comment, which runs to the end of the line
            end = len(text.rstrip(" \t"))
            edits.append(Edit((line, end), (line, end), f"  {directive}"))
        else:
            end = layout.open_ends[line]
            code_end = len(text[:end].rstrip(" \t"))
            edits.append(Edit((line, code_end), (line, end), f"  {directive}"))
        added += len(codes)
    return edits, added


def add_noqa_to(text: str, code: str, wanted: dict[int, set[str]]) -> tuple[str, int]:
    """``text`` with the directives added, placed by tokenizing ``code`` (the same text, or a notebook cell with
    its magics neutralised: the same lines, so the same places), and the number of codes added."""
    edits, added = plan(code, wanted)
    new, _ = apply_edits(text, edits)
    return new, added


def add_noqa(findings: list[Finding]) -> tuple[int, list[str]]:
    """Write ``# noqa: CODE`` for every finding, so a team can adopt packlint on a large codebase and fix the
    backlog later. Returns how many codes were added and the files left alone (``path: not edited: reason``)."""
    wanted: dict[str, dict[int, dict[int, set[str]]]] = {}
    for f in findings:
        wanted.setdefault(f.path, {}).setdefault(f.cell, {}).setdefault(f.line, set()).add(f.code)
    added = 0
    problems: list[str] = []
    for path in sorted(wanted):
        try:
            doc = documents.read(path)
        except documents.NotEditable as exc:
            problems.append(f"{path}: not edited: {exc}")
            continue
        count = 0
        for cell, lines in sorted(wanted[path].items()):
            piece = doc.pieces.get(cell)
            if piece is None:
                continue
            try:
                piece.new, n = add_noqa_to(piece.text, piece.code, lines)
            except (tokenize.TokenError, SyntaxError) as exc:
                problems.append(f"{path}{f':cell {cell}' if cell else ''}: not edited: cannot tokenize it ({exc})")
                continue
            count += n
        if doc.changed:
            try:
                documents.write(doc)
            except documents.NotEditable as exc:
                problems.append(f"{path}: not edited: {exc}")
                continue
        added += count
    return added, problems
