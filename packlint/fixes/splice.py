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
