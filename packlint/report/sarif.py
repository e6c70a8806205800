"""SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.

One run. `tool.driver.rules` lists every rule (from the registry when it imports, else those seen
in the findings) with id, name, short and full description, help text and helpUri; each result
points at its rule by `ruleId` and `ruleIndex`. Locations are relative to the repository root
(`cwd`), through the `%SRCROOT%` base id, so the upload works from any checkout. The trail is a
`codeFlows[0].threadFlows[0]` from the padding source to the sink. `partialFingerprints` hash the
rule, the file and the flagged source line's text (not its number) plus an occurrence count, so
code scanning keeps an alert across commits that only move the line. Files that could not be
checked become `invocations[0].toolExecutionNotifications`, and `executionSuccessful` is false
when there are any.

Columns count Unicode code points (packlint's columns), declared with `columnKind`. In a notebook
the region is the line of the .ipynb file where the cell's line is stored (`notebook_lines`; no column,
since JSON escapes shift them), with the cell and in-cell position in the location's `properties` and
at the front of the message.

Built as plain dicts rather than with sarif-om: sarif-om's classes need a custom serializer
(jschema-to-python) to drop unset fields and rename keys, which costs a dependency to produce the
same JSON; the document's shape is checked by tests instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from packlint import __version__
from packlint.diagnostics import FileProblem, Finding, LintResult
from packlint.report import TOOL_URL, SourceLines, rule_table
from packlint.report.notebook_lines import NotebookLines

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "packlint/v1"


class _Locator:
    """Turns (path, line, col, cell) into SARIF physical locations relative to the root."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._notebooks: dict[str, NotebookLines | None] = {}

    def notebook_line(self, path: str, cell: int, line: int) -> int | None:
        """The line of the .ipynb file that holds a cell's line (None when the file cannot be read now)."""
        if path not in self._notebooks:
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    self._notebooks[path] = NotebookLines(f.read())
            except OSError:
                self._notebooks[path] = None
        lines = self._notebooks[path]
        return lines.file_line(cell, line) if lines is not None else None

    def artifact(self, path: str) -> dict[str, Any]:
        absolute = os.path.abspath(path)
        if absolute.startswith(self.root.rstrip(os.sep) + os.sep):
            rel = Path(os.path.relpath(absolute, self.root)).as_posix()
            return {"uri": quote(rel), "uriBaseId": SRCROOT}
        return {"uri": Path(absolute).as_uri()}

    def location(
        self, path: str, line: int, col: int, cell: int = 0, end_line: int | None = None, text: str = ""
    ) -> dict[str, Any]:
        physical: dict[str, Any] = {"artifactLocation": self.artifact(path)}
        location: dict[str, Any] = {"physicalLocation": physical}
        if cell:
            location["properties"] = {"cell": cell, "line": line, "column": col}
            text = f"cell {cell}, line {line}, column {col}: {text}" if text else ""
            file_line = self.notebook_line(path, cell, line)
            if file_line is not None:
                physical["region"] = {"startLine": file_line}
        else:
            region: dict[str, Any] = {"startLine": max(1, line), "startColumn": max(1, col)}
            if end_line is not None and end_line >= line:
                region["endLine"] = end_line
            physical["region"] = region
        if text:
            location["message"] = {"text": text}
        return location


def _rule_descriptor(rule) -> dict[str, Any]:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.summary},
        "help": {"text": f"{rule.summary} See {rule.help_uri}"},
        "helpUri": rule.help_uri,
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["correctness", "pytorch"]},
    }


def _fingerprints(findings: list[Finding], root: str) -> list[str]:
    """A stable id per finding: rule, file, the flagged line's text (whitespace-normalised) and
    how many identical ones came before it; the message when the line cannot be read."""
    lines = SourceLines()
    seen: Counter[tuple] = Counter()
    out = []
    for f in findings:
        text = lines.line(f.path, f.line, f.cell)
        anchor = " ".join(text.split()) if text is not None else f.message
        rel = os.path.relpath(os.path.abspath(f.path), root)
        key = (f.code, Path(rel).as_posix(), f.cell, anchor)
        seen[key] += 1
        digest = hashlib.sha256("\0".join(map(str, key)).encode("utf-8", "surrogatepass")).hexdigest()
        out.append(f"{digest[:32]}:{seen[key]}")
    return out


def to_dict(result: LintResult, *, cwd: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The SARIF log as Python data."""
    root = os.path.abspath(cwd if cwd is not None else os.getcwd())
    locate = _Locator(root)
    records = result.sorted_records()
    findings = [r for r in records if isinstance(r, Finding)]
    problems = [r for r in records if isinstance(r, FileProblem)]
    rules = rule_table(findings)
    rule_index = {rule.code: i for i, rule in enumerate(rules)}

    results = []
    for finding, fingerprint in zip(findings, _fingerprints(findings, root)):
        location = locate.location(finding.path, finding.line, finding.col, finding.cell, finding.end_line)
        message = finding.message
        if finding.cell:
            message = f"cell {finding.cell}, line {finding.line}, column {finding.col}: {message}"
        if finding.suggestion:
            message = f"{message}\nHelp: {finding.suggestion}"
        entry: dict[str, Any] = {
            "ruleId": finding.code,
            "ruleIndex": rule_index[finding.code],
            "level": "error",
            "message": {"text": message},
            "locations": [location],
            "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
        }
        if finding.trail:
            steps = [
                {"location": locate.location(s.path, s.line, s.col, s.cell, text=s.what)} for s in finding.trail
            ]
            last = finding.trail[-1]
            if (last.path, last.line, last.col, last.cell) != (
                finding.path,
                finding.line,
                finding.col,
                finding.cell,
            ):
                sink = locate.location(
                    finding.path, finding.line, finding.col, finding.cell, text=f"{finding.code} {finding.name}"
                )
                steps.append({"location": sink})
            for order, step in enumerate(steps, start=1):
                step["executionOrder"] = order
            entry["codeFlows"] = [{"threadFlows": [{"locations": steps}]}]
        results.append(entry)

    notifications = [
        {
            "level": "error",
            "message": {"text": f"{p.kind}: {p.message}"},
            "descriptor": {"id": p.kind},
            "locations": [locate.location(p.path, p.line, p.col, p.cell)],
        }
        for p in problems
    ]
    invocation: dict[str, Any] = {"executionSuccessful": not problems}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications

    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "packlint",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": TOOL_URL,
                        "rules": [_rule_descriptor(rule) for rule in rules],
                    }
                },
                "invocations": [invocation],
                "originalUriBaseIds": {SRCROOT: {"uri": Path(root).as_uri().rstrip("/") + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def render(
    result: LintResult,
    *,
    full: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    color: bool = False,
) -> str:
    """The SARIF log as indented JSON ending with a newline. `full` and `color` change nothing."""
    return json.dumps(to_dict(result, cwd=cwd), indent=2, ensure_ascii=False) + "\n"


__all__ = ["render", "to_dict"]
