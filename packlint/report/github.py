"""GitHub Actions workflow commands, which GitHub shows as annotations on the pull request:

    ::error file=train.py,line=41,col=12,endLine=41,endColumn=60,title=PKL001 unmasked-loss::message
    ::error file=data.py,line=3,col=1,title=packlint syntax-error::message

Escaping follows the runner's rules: in the message `%`, CR and LF become `%25`, `%0D`, `%0A`;
in property values `:` and `,` also become `%3A`, `%2C` (a path or title containing a comma
would otherwise end the property early). Without that, a message with a newline would be cut and
a `%0A` in a message would be turned into a newline.

Paths are relative to `cwd` (the workspace root in a workflow), which is what GitHub matches
against the diff. In a notebook no line of the .ipynb file can be given, so the annotation is on
the file, with the cell and line at the front of the message. `full` appends the trail and the
suggestion to the message as extra lines.
"""

from __future__ import annotations

import os

from packlint.diagnostics import FileProblem, Finding, LintResult
from packlint.report import display_path, step_text


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (file, title)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(properties: list[tuple[str, object]], message: str) -> str:
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties)
    return f"::error {props}::{escape_data(message)}"


def _position(record: Finding | FileProblem, path: str) -> tuple[list[tuple[str, object]], str]:
    """The location properties, and a message prefix for notebook cells."""
    props: list[tuple[str, object]] = [("file", path)]
    if record.cell:
        return props, f"cell {record.cell}, line {record.line}, column {record.col}: "
    props += [("line", record.line), ("col", record.col)]
    end_line = getattr(record, "end_line", None)
    end_col = getattr(record, "end_col", None)
    if end_line is not None and end_line >= record.line:
        props.append(("endLine", end_line))
        if end_col is not None:
            props.append(("endColumn", end_col))
    elif end_col is not None and end_col > record.col:
        props += [("endLine", record.line), ("endColumn", end_col)]
    return props, ""


def render(
    result: LintResult,
    *,
    full: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    color: bool = False,
) -> str:
    """One `::error` line per record, in sorted order; '' when there are none."""
    lines = []
    for record in result.sorted_records():
        props, prefix = _position(record, display_path(record.path, cwd))
        if isinstance(record, Finding):
            props.append(("title", f"{record.code} {record.name}"))
            message = prefix + record.message
            if full:
                message += "".join(f"\ntrail: {step_text(step, cwd)}" for step in record.trail)
                if record.suggestion:
                    message += f"\nhelp: {record.suggestion}"
        else:
            props.append(("title", f"packlint {record.kind}"))
            message = prefix + record.message
        lines.append(_command(props, message))
    return "".join(line + "\n" for line in lines)


__all__ = ["escape_data", "escape_property", "render"]
