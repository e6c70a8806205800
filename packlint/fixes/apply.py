"""``--fix``, ``--unsafe-fixes`` and ``--diff``: turn the fixes findings offer into edits and apply them.

Each rule that can fix offers a ``Fix`` on its finding (plain data: safe or not, a title, facts); the fixer
registered here for the rule's code finds the code in LibCST's tree and returns one edit, or None when the code is
not in the shape the fix needs (then the finding stays, with nothing changed). Every edited piece must still
parse, or none of its edits is kept. Edits that overlap an earlier one wait for the next run.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Callable

from packlint.diagnostics import Finding
from packlint.fixes import documents, ignore_index, pkl003, pkl004, pkl005, pkl006, pkl007, pkl009
from packlint.fixes.edits import Code, Edit
from packlint.fixes.splice import apply_edits

#: rule code -> the function that makes its edit
FIXERS: dict[str, Callable[[Code, Finding], Edit | None]] = {
    "PKL001": ignore_index.fix,
    "PKL002": ignore_index.fix,
    "PKL003": pkl003.fix,
    "PKL004": pkl004.fix,
    "PKL005": pkl005.fix,
    "PKL006": pkl006.fix,
    "PKL007": pkl007.fix,
    "PKL009": pkl009.fix,
}


@dataclass
class FixOutcome:
    """What a fix run did: the findings fixed, how many more an unsafe run would try, the diff, and the files
    that could not be edited (``path: reason`` lines)."""

    fixed: list[Finding] = field(default_factory=list)
    unsafe_left: int = 0
    diff: str = ""
    problems: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def fix_findings(findings: list[Finding], *, unsafe: bool, write: bool) -> FixOutcome:
    """Apply the fixes of ``findings`` (safe ones, and unsafe ones with ``unsafe``); with ``write`` False
    nothing is written and the outcome's ``diff`` shows what would change."""
    outcome = FixOutcome()
    by_path: dict[str, list[Finding]] = {}
    for f in findings:
        if f.fix is None or f.code not in FIXERS:
            continue
        if not f.fix.safe and not unsafe:
            outcome.unsafe_left += 1
            continue
        by_path.setdefault(f.path, []).append(f)
    for path in sorted(by_path):
        try:
            doc = documents.read(path)
        except documents.NotEditable as exc:
            outcome.problems.append(f"{path}: not edited: {exc}")
            continue
        fixed_here: list[Finding] = []
        for cell, group in _by_cell(by_path[path]).items():
            piece = doc.pieces.get(cell)
            if piece is None:
                continue
            fixed, problem = _fix_piece(piece, group)
            if problem:
                outcome.problems.append(f"{path}{f':cell {cell}' if cell else ''}: not edited: {problem}")
            fixed_here.extend(fixed)
        if not doc.changed:
            continue
        if write:
            try:
                documents.write(doc)
            except documents.NotEditable as exc:
                outcome.problems.append(f"{path}: not edited: {exc}")
                continue
        outcome.diff += doc.diff()
        outcome.fixed.extend(fixed_here)
        outcome.changed.append(path)
    outcome.fixed.sort(key=lambda f: f.sort_key())
    return outcome


def _by_cell(findings: list[Finding]) -> dict[int, list[Finding]]:
    out: dict[int, list[Finding]] = {}
    for f in sorted(findings, key=lambda f: f.sort_key()):
        out.setdefault(f.cell, []).append(f)
    return out


def _fix_piece(piece: documents.Piece, findings: list[Finding]) -> tuple[list[Finding], str]:
    """Edit one piece; returns the findings fixed and a problem (empty when none)."""
    try:
        code = Code(piece.code)
    except Exception as exc:  # noqa: BLE001 - LibCST rejects some code ast accepts; then nothing is edited
        return [], f"LibCST cannot parse it ({type(exc).__name__})"
    edits: list[tuple[Edit, Finding]] = []
    for f in findings:
        try:
            edit = FIXERS[f.code](code, f)
        except Exception as exc:  # noqa: BLE001 - a fixer's bug must not lose the run or the file
            return [], f"the fix for {f.code} failed ({type(exc).__name__}: {exc})"
        if edit is not None:
            edits.append((edit, f))
    if not edits:
        return [], ""
    new_text, skipped = apply_edits(piece.text, [e for e, _ in edits])
    new_code, _ = apply_edits(piece.code, [e for e, _ in edits])
    try:
        ast.parse(new_code)
    except (SyntaxError, ValueError):
        return [], "a fix would have made code that does not parse; nothing was changed"
    piece.new = new_text
    return [f for e, f in edits if e not in skipped], ""
