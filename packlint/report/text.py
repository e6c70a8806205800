"""The human format: one line per record (ruff's concise style), or `full` with source and trail.

Concise:
    path:line:col: PKL001 message
    path:line:col: error: syntax-error: message
Full adds under each finding the source line with a caret, the trail, and the suggestion:
       |
    41 |     loss = criterion(logits.view(-1, C), y.view(-1))
       |            ^
      = trail: model.py:30:9 padded by pad_packed_sequence
      = help: multiply the per-step loss by a length mask
Records come in `LintResult.sorted_records()` order. The source line is re-read from disk only in
full mode; a file that is gone or unreadable by then simply gets no snippet.
"""

from __future__ import annotations

import os

from packlint.diagnostics import FileProblem, Finding, LintResult
from packlint.report import SourceLines, display_path, position, step_text

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_RED = "\x1b[31m"
_CYAN = "\x1b[36m"
_BLUE = "\x1b[34m"
_TAB = 4


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, *codes: str) -> str:
        return f"{''.join(codes)}{text}{_RESET}" if self.color and text else text


def _one_line(text: str) -> str:
    """Messages are one line by contract; a stray newline must not forge a record of its own."""
    return " ".join(text.splitlines()) if "\n" in text or "\r" in text else text


def _header(record: Finding | FileProblem, cwd, style: _Style) -> str:
    where = style(f"{display_path(record.path, cwd)}:{position(record)}:", _BOLD)
    if isinstance(record, Finding):
        return f"{where} {style(record.code, _BOLD, _RED)} {_one_line(record.message)}"
    return f"{where} {style('error:', _BOLD, _RED)} {record.kind}: {_one_line(record.message)}"


def _snippet(record: Finding | FileProblem, sources: SourceLines, style: _Style) -> list[str]:
    text = sources.line(record.path, record.line, getattr(record, "cell", 0))
    if text is None:
        return []
    shown = text.rstrip("\r\n").expandtabs(_TAB)
    prefix = text[: max(0, record.col - 1)].expandtabs(_TAB)
    number = str(record.line)
    pad = " " * len(number)
    bar = style("|", _BLUE)
    return [
        f"{pad} {bar}",
        f"{style(number, _BLUE)} {bar} {shown}",
        f"{pad} {bar} {' ' * len(prefix)}{style('^', _RED, _BOLD)}",
    ]


def render(
    result: LintResult,
    *,
    full: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    color: bool = False,
) -> str:
    """Render every record; '' when there are none. Each line ends with a newline."""
    style = _Style(color)
    sources = SourceLines() if full else None
    out: list[str] = []
    for record in result.sorted_records():
        out.append(_header(record, cwd, style))
        if not full:
            continue
        out.extend(_snippet(record, sources, style))
        if isinstance(record, Finding):
            out.extend(f"  = trail: {_one_line(step_text(step, cwd))}" for step in record.trail)
            if record.suggestion:
                out.append(f"  = {style('help:', _CYAN, _BOLD)} {_one_line(record.suggestion)}")
        out.append("")
    return "".join(line + "\n" for line in out)


__all__ = ["render"]
