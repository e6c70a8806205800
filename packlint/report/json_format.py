"""The JSON format: one object, stable keys, for scripts and editors.

    {"version": 1, "packlint_version": "0.1.0",
     "findings": [{"path", "line", "col", "end_line", "end_col", "cell", "code", "name", "severity",
                   "message", "suggestion", "url", "trail": [{"path", "line", "col", "cell", "what"}]}],
     "errors": [{"path", "line", "col", "cell", "kind", "code", "message"}],
     "summary": {"findings", "errors", "files_checked", "files_with_findings",
                 "files_with_errors", "by_code", "unresolved_calls"}}

`version` is the format's version, bumped when a key changes meaning or disappears (adding keys
does not bump it). Problems are a separate `errors` list because they are not rule violations
and are never filtered by rule selection. `cell` is null outside notebooks; in a notebook, `line`
counts within that cell. `end_line`/`end_col` end the flagged expression (`end_col` is 1-based and
exclusive, in characters); both are null when unknown (a finding moved to the call that passed
padding in). `errors[].code` is "PKL900" for internal errors, null otherwise.
`load` reads this format back into a LintResult (used by tests and tools).

Named json_format.py rather than json.py so that no import in this package can ever pick it up
instead of the standard library's json.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

from packlint import __version__
from packlint.diagnostics import FileProblem, Finding, Fix, LintResult, TrailStep
from packlint.report import DOCS_URL, display_path

FORMAT_VERSION = 1
INTERNAL_ERROR_CODE = "PKL900"


def _finding(f: Finding, cwd) -> dict[str, Any]:
    return {
        "path": display_path(f.path, cwd),
        "line": f.line,
        "col": f.col,
        "end_line": f.end_line if f.end_line is not None or f.end_col is None else f.line,
        "end_col": f.end_col,
        "cell": f.cell or None,
        "code": f.code,
        "name": f.name,
        "severity": "error",
        "message": f.message,
        "suggestion": f.suggestion,
        "url": DOCS_URL.format(code=f.code),
        # what `--fix` (safe) or `--fix --unsafe-fixes` (unsafe) would do here, with the facts it rests on; null
        # when no fix is offered
        "fix": {"applicability": "safe" if f.fix.safe else "unsafe", "message": f.fix.title,
                "facts": dict(f.fix.facts)} if f.fix is not None else None,
        "trail": [
            {
                "path": display_path(s.path, cwd),
                "line": s.line,
                "col": s.col,
                "cell": s.cell or None,
                "what": s.what,
            }
            for s in f.trail
        ],
    }


def _problem(p: FileProblem, cwd) -> dict[str, Any]:
    return {
        "path": display_path(p.path, cwd),
        "line": p.line,
        "col": p.col,
        "cell": p.cell or None,
        "kind": p.kind,
        "code": INTERNAL_ERROR_CODE if p.kind == "internal-error" else None,
        "message": p.message,
    }


def to_dict(result: LintResult, *, cwd: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The JSON document as Python data, records in `sorted_records()` order."""
    records = result.sorted_records()
    findings = [r for r in records if isinstance(r, Finding)]
    problems = [r for r in records if isinstance(r, FileProblem)]
    return {
        "version": FORMAT_VERSION,
        "packlint_version": __version__,
        "findings": [_finding(f, cwd) for f in findings],
        "errors": [_problem(p, cwd) for p in problems],
        "summary": {
            "findings": len(findings),
            "errors": len(problems),
            "files_checked": result.files_checked,
            "files_parsed": result.files_parsed,
            "files_with_findings": len({f.path for f in findings}),
            "files_with_errors": len({p.path for p in problems}),
            "by_code": dict(sorted(Counter(f.code for f in findings).items())),
            "unresolved_calls": result.unresolved_calls,
        },
    }


def render(
    result: LintResult,
    *,
    full: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    color: bool = False,
) -> str:
    """The JSON document, indented, ending with a newline. `full` and `color` change nothing."""
    return json.dumps(to_dict(result, cwd=cwd), indent=2, ensure_ascii=False) + "\n"


def _fix(d: dict | None) -> Fix | None:
    if not isinstance(d, dict):
        return None
    return Fix(safe=d.get("applicability") == "safe", title=str(d.get("message", "")),
               facts=tuple((str(k), v) for k, v in (d.get("facts") or {}).items()))


def load(text: str) -> LintResult:
    """Read a document written by `render` back into a LintResult (paths as they were shown).

    Raises ValueError for a document of another format version.
    """
    data = json.loads(text)
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"unsupported packlint JSON version {data.get('version')!r}")
    findings = [
        Finding(
            path=f["path"],
            line=f["line"],
            col=f["col"],
            code=f["code"],
            name=f["name"],
            message=f["message"],
            suggestion=f.get("suggestion", ""),
            trail=tuple(
                TrailStep(s["path"], s["line"], s["col"], s["what"], cell=s.get("cell") or 0)
                for s in f.get("trail", [])
            ),
            end_line=f.get("end_line"),
            end_col=f.get("end_col"),
            cell=f.get("cell") or 0,
            fix=_fix(f.get("fix")),
        )
        for f in data["findings"]
    ]
    problems = [
        FileProblem(p["path"], p["kind"], p["message"], line=p["line"], col=p["col"], cell=p.get("cell") or 0)
        for p in data["errors"]
    ]
    summary = data.get("summary", {})
    return LintResult(
        findings=findings,
        problems=problems,
        files_checked=summary.get("files_checked", 0),
        files_parsed=summary.get("files_parsed", 0),
        unresolved_calls=summary.get("unresolved_calls", 0),
    )


__all__ = ["FORMAT_VERSION", "load", "render", "to_dict"]
