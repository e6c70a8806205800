"""Text edits as ranges, and splicing them into text: shared by the fixes (whose edits LibCST computes) and by
``--add-noqa`` (whose edits the tokenizer places). Nothing here parses Python."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Edit:
    """Replace the text from ``start`` to ``end`` (each a 1-based line and a 0-based character column, end
    exclusive) by ``text``."""

    start: tuple[int, int]
    end: tuple[int, int]
    text: str


#: the line breaks Python's tokenizer (and LibCST) count
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def apply_edits(text: str, edits: list[Edit]) -> tuple[str, list[Edit]]:
    """``text`` with the edits spliced in, and the edits left out because they overlap one applied before them
    (in position order); a later run can apply those."""
    starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]

    def offset(pos: tuple[int, int]) -> int:
        line, col = pos
        return starts[line - 1] + col if 1 <= line <= len(starts) else len(text)

    applied: list[tuple[int, int, str]] = []
    skipped: list[Edit] = []
    end_of_last = -1
    for edit in sorted(set(edits)):
        a, b = offset(edit.start), offset(edit.end)
        if a < end_of_last:
            skipped.append(edit)
            continue
        applied.append((a, b, edit.text))
        end_of_last = b
    out = text
    for a, b, new in reversed(applied):
        out = out[:a] + new + out[b:]
    return out, skipped


def text_edit(old: str, new: str) -> Edit:
    """The one edit that turns ``old`` into ``new``: the span between their common prefix and common suffix."""
    limit = min(len(old), len(new))
    head = 0
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    return Edit(position(old, head), position(old, len(old) - tail), new[head:len(new) - tail])


def position(text: str, offset: int) -> tuple[int, int]:
    """(1-based line, 0-based column) of a character offset, with Python's line breaks."""
    line, start = 1, 0
    for m in _LINE_BREAK.finditer(text, 0, offset):
        if m.end() > offset:
            break
        line, start = line + 1, m.end()
    return line, offset - start
