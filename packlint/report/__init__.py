"""Reporters: a LintResult in, a string out, one module per output format.

Why a module per format: each format has its own escaping and shape, and each is tested on the
same records (findings, problems, notebook cells, odd characters). The engine never formats; the
CLI picks a renderer with `get_reporter(name)`, writes its string to stdout or `--output-file`,
and writes `summary_line(result)` to stderr.

Every renderer has the signature `render(result, *, full=False, cwd=None, color=False) -> str`.
`cwd` is the folder paths are shown relative to (and, for SARIF, the root of the relative URIs);
None means the current folder. Machine formats ignore `color`. Format modules are imported only
when asked for, so `packlint --output-format json` never imports the SARIF code.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

from packlint.diagnostics import FileProblem, Finding, LintResult, TrailStep

Renderer = Callable[..., str]

#: name -> (module, keyword arguments). `concise` is ruff's name for the default one-line format.
_FORMATS: dict[str, tuple[str, dict]] = {
    "text": ("packlint.report.text", {}),
    "concise": ("packlint.report.text", {}),
    "full": ("packlint.report.text", {"full": True}),
    "json": ("packlint.report.json_format", {}),
    "sarif": ("packlint.report.sarif", {}),
    "github": ("packlint.report.github", {}),
}
FORMAT_NAMES: tuple[str, ...] = tuple(_FORMATS)

#: Where each rule's page lives; `{code}` is replaced. One place to change when docs move.
DOCS_URL = "https://github.com/packlint/packlint/blob/main/docs/rules/{code}.md"
TOOL_URL = "https://github.com/packlint/packlint"


def get_reporter(name: str) -> Renderer:
    """The `render` function for output format `name`; ValueError naming the choices otherwise."""
    try:
        module_name, kwargs = _FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown output format {name!r} (choose from {', '.join(FORMAT_NAMES)})") from None
    render = importlib.import_module(module_name).render
    return partial(render, **kwargs) if kwargs else render


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(result: LintResult) -> str:
    """One line for stderr: what was found, in how many files, and what could not be checked.

    `All checks passed.` only when there are neither findings nor problems.
    """
    finding_files = len({f.path for f in result.findings})
    problem_files = len({p.path for p in result.problems})
    unchecked = ""
    if problem_files:
        verb = "file could" if problem_files == 1 else "files could"
        unchecked = f"{problem_files} {verb} not be checked."
    if result.findings:
        head = f"Found {_plural(len(result.findings), 'finding')} in {_plural(finding_files, 'file')}"
        return f"{head}; {unchecked}" if unchecked else f"{head}."
    if unchecked:
        return f"No findings; {unchecked}"
    return "All checks passed."


def use_color(choice: str = "auto", stream: IO[str] | None = None, environ: dict | None = None) -> bool:
    """Whether to colour text output: `always`/`never` win; for `auto`, NO_COLOR (set and not
    empty) disables, FORCE_COLOR (set and not empty) enables, else colour when `stream` is a tty."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


def display_path(path: str, cwd: str | os.PathLike[str] | None = None) -> str:
    """`path` as shown to the user: relative to `cwd` when it lies under it, else unchanged.

    Always with forward slashes, so output is the same on every platform.
    """
    base = os.path.abspath(cwd if cwd is not None else os.getcwd())
    absolute = os.path.abspath(path)
    if absolute == base or absolute.startswith(base.rstrip(os.sep) + os.sep):
        shown = os.path.relpath(absolute, base)
    else:
        shown = path
    shown = Path(shown).as_posix() if os.sep != "/" else shown
    if any(c in shown for c in "\n\r\t"):  # a file name must not forge a record line of its own
        shown = shown.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return shown


def position(record: Finding | FileProblem) -> str:
    """`line:col`, or `cell N:line:col` in a notebook (ruff's convention)."""
    cell = f"cell {record.cell}:" if getattr(record, "cell", 0) else ""
    return f"{cell}{record.line}:{record.col}"


class SourceLines:
    """Source lines for snippets and fingerprints: each file read once, never raising.

    Reports are written after linting, when a file may have changed or vanished; then there is
    simply no line (None), and the report is still written.
    """

    def __init__(self) -> None:
        self._cache: dict[str, object] = {}

    def line(self, path: str, line: int, cell: int = 0) -> str | None:
        if path not in self._cache:
            try:
                from packlint.source import read_source  # noqa: PLC0415 - most formats never need it

                self._cache[path] = read_source(path)
            except Exception:  # noqa: BLE001 - a snippet is a nicety; never fail the report
                self._cache[path] = None
        line_text = getattr(self._cache[path], "line_text", None)
        if line_text is None:
            return None
        try:
            return line_text(line, cell)
        except Exception:  # noqa: BLE001
            return None


def step_text(step: TrailStep, cwd: str | os.PathLike[str] | None = None) -> str:
    """A trail step as `path:line:col what` (with `cell N:` in notebooks), path shown as `display_path`."""
    cell = f"cell {step.cell}:" if step.cell else ""
    return f"{display_path(step.path, cwd)}:{cell}{step.line}:{step.col} {step.what}"


@dataclass(frozen=True)
class RuleInfo:
    """What the machine formats say about a rule: from the registry when it imports, else from
    the findings themselves (so a reporter never fails because the rules package is broken)."""

    code: str
    name: str
    summary: str

    @property
    def help_uri(self) -> str:
        return DOCS_URL.format(code=self.code)


def rule_table(findings: Iterable[Finding] = ()) -> list[RuleInfo]:
    """Every known rule, sorted by code: the registry's, plus any code seen only in `findings`."""
    rules: dict[str, RuleInfo] = {}
    try:
        from packlint.rules import registry  # noqa: PLC0415 - lazy: reporters must not need rules

        for rule in registry():
            rules[rule.code] = RuleInfo(rule.code, rule.name, getattr(rule, "summary", "") or rule.name)
    except Exception:  # noqa: BLE001 - a missing or broken registry must not break reporting
        pass
    for f in findings:
        if f.code not in rules:
            rules[f.code] = RuleInfo(f.code, f.name, f.name.replace("-", " "))
    return [rules[c] for c in sorted(rules)]


__all__ = [
    "DOCS_URL",
    "FORMAT_NAMES",
    "RuleInfo",
    "SourceLines",
    "display_path",
    "get_reporter",
    "position",
    "rule_table",
    "step_text",
    "summary_line",
    "use_color",
]
