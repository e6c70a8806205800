"""Findings, problems and warnings -> LSP diagnostics, and plain-data actions -> LSP code actions.

Why its own module: positions change units here. packlint counts 1-based lines and characters (code points); LSP
counts 0-based lines and, unless the client agreed otherwise, UTF-16 code units. ``units`` is the negotiated
encoding's counter (pygls' ``PositionCodec.client_num_units``), so a finding after an emoji lands on the right
character in every client.

Findings are warnings (``source: packlint``, code ``PKL001`` with a link to its page); a file that could not be
checked is an error whose code is the problem's kind (``syntax-error``); the trail of a finding becomes its
``relatedInformation``, one location per step, file by file. A finding with no known end is underlined to the end
of its line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lsprotocol import types

from packlint.diagnostics import FileProblem, Finding
from packlint.report import DOCS_URL
from packlint.server.actions import Action
from packlint.server.workspace import Outcome

SOURCE = "packlint"

LineText = Callable[[str, int], "str | None"]  # (absolute path, 1-based line) -> that line's text, or None
Units = Callable[[str], int]  # text -> its length in the client's position units


def position(lines_of: LineText, path: str, line: int, col: int, units: Units) -> types.Position:
    """The LSP position of 1-based (line, character column) in ``path``; the column is clamped to the line."""
    text = lines_of(path, line)
    if text is None:
        return types.Position(line=max(0, line - 1), character=max(0, col - 1))
    text = text.rstrip("\r\n")
    return types.Position(line=max(0, line - 1), character=units(text[: max(0, col - 1)]))


def _range(lines_of: LineText, path: str, line: int, col: int, end_line: int | None, end_col: int | None,
           units: Units) -> types.Range:
    start = position(lines_of, path, line, col, units)
    if end_col is None:
        text = lines_of(path, line)
        end_col = len(text.rstrip("\r\n")) + 1 if text is not None else col
        end_line = line
    end = position(lines_of, path, end_line or line, end_col, units)
    return types.Range(start=start, end=end)


def diagnostics(outcome: Outcome, path: str, lines_of: LineText, units: Units) -> list[types.Diagnostic]:
    """Every record of ``outcome`` (all in the document at absolute ``path``) as a diagnostic, in packlint's
    report order."""
    out = [_finding(f, outcome, path, lines_of, units) for f in outcome.findings]
    out += [_problem(p, path, lines_of, units) for p in outcome.problems]
    for line, message in outcome.warnings:
        out.append(types.Diagnostic(range=_range(lines_of, path, line, 1, None, None, units), message=message,
                                    severity=types.DiagnosticSeverity.Warning, source=SOURCE))
    return out


def _finding(f: Finding, outcome: Outcome, path: str, lines_of: LineText, units: Units) -> types.Diagnostic:
    related = []
    for step in f.trail:
        step_path = outcome.file_of(step.path)
        where = position(lines_of, step_path, step.line, step.col, units)
        related.append(types.DiagnosticRelatedInformation(
            location=types.Location(uri=_uri(step_path), range=types.Range(start=where, end=where)),
            message=step.what))
    message = f"{f.message}\nhelp: {f.suggestion}" if f.suggestion else f.message
    return types.Diagnostic(
        range=_range(lines_of, path, f.line, f.col, f.end_line, f.end_col, units),
        message=message, severity=types.DiagnosticSeverity.Warning, code=f.code, source=SOURCE,
        code_description=types.CodeDescription(href=DOCS_URL.format(code=f.code)),
        related_information=related or None, data={"name": f.name})


def _problem(p: FileProblem, path: str, lines_of: LineText, units: Units) -> types.Diagnostic:
    return types.Diagnostic(range=_range(lines_of, path, p.line, p.col, None, None, units),
                            message=f"{p.kind}: {p.message}", severity=types.DiagnosticSeverity.Error, code=p.kind,
                            source=SOURCE)


def _uri(path: str) -> str:
    return Path(path).as_uri()


def code_action(action: Action, uri: str, path: str, lines_of: LineText, units: Units,
                diagnostics_in: list[types.Diagnostic]) -> types.CodeAction:
    """An ``Action`` as an LSP code action editing ``uri``, listing the client's diagnostics it resolves."""
    edits = [types.TextEdit(range=_range(lines_of, path, e.line, e.col, e.end_line, e.end_col, units),
                            new_text=e.text) for e in action.edits]
    resolved = [d for d in diagnostics_in if (d.range.start.line + 1, str(d.code)) in set(action.resolves)]
    return types.CodeAction(title=action.title, kind=action.kind, diagnostics=resolved or None,
                            edit=types.WorkspaceEdit(changes={uri: edits}), is_preferred=action.preferred or None)


__all__ = ["SOURCE", "code_action", "diagnostics", "position"]
