"""The records packlint produces: findings (rule violations) and problems (files it could not check).

The engine yields these; reporters render them; the CLI maps them to an exit code. Nothing here
knows about CSTs, so reporters and tests can build them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class TrailStep:
    """One step on the way from a padding source to a sink: where, and what happened there."""

    path: str
    line: int
    col: int
    what: str
    #: 0 outside notebooks; in a notebook, the 1-based cell number, and `line` counts within it.
    cell: int = 0

    def render(self) -> str:
        where = f"cell {self.cell}:" if self.cell else ""
        return f"{self.path}:{where}{self.line}:{self.col} {self.what}"


@dataclass(frozen=True)
class Fix:
    """A change a rule offers at its finding, as plain data: whether it is safe, one line saying what it does,
    and the facts the engine knew there that the code alone does not show (``facts``, name -> str/int/float/bool).

    The rule decides whether a fix is offered and what it needs; ``packlint.fixes`` turns it into an edit of the
    file, and declines where the code is not in the shape the fix expects. Kept as data so a finding stays
    picklable and cacheable, and nothing here imports LibCST. Safe: only what padded positions contribute
    changes; unsafe (applied with ``--unsafe-fixes`` only): it rests on an assumption or changes real steps too.
    """

    safe: bool
    title: str
    facts: tuple[tuple[str, object], ...] = ()

    def fact(self, name: str, default: object = None) -> object:
        for k, v in self.facts:
            if k == name:
                return v
        return default


@dataclass(frozen=True)
class Finding:
    """A rule violation at a position (1-based line and column), with the trail that explains it."""

    path: str
    line: int
    col: int
    code: str
    name: str
    message: str
    suggestion: str = ""
    trail: tuple[TrailStep, ...] = ()
    end_line: int | None = None
    #: 0 outside notebooks; in a notebook, the 1-based cell number, and `line`/`end_line` count
    #: within that cell (set by `SourceText.relocate`).
    cell: int = 0
    #: 1-based column just past the flagged expression, on `end_line` (or `line` when that is None); None when
    #: unknown (a finding moved to the call site that passed the padding in). Editors underline up to it.
    end_col: int | None = None
    #: the fix the rule offers here (``--fix``, ``--diff``), or None
    fix: Fix | None = None

    def sort_key(self) -> tuple:
        return (self.path, self.cell, self.line, self.col, 0, self.code, self.message)


@dataclass(frozen=True)
class FileProblem:
    """A file packlint could not check. Never silenced by select, ignore or noqa.

    kind is one of: io-error, decode-error, syntax-error, too-large, timeout, internal-error.
    """

    path: str
    kind: str
    message: str
    line: int = 1
    col: int = 1
    #: 0 outside notebooks; in a notebook, the 1-based cell number, and `line` counts within it.
    cell: int = 0

    def sort_key(self) -> tuple:
        return (self.path, self.cell, self.line, self.col, 1, self.kind, self.message)


@dataclass
class LintResult:
    """Everything one run produced, in report order."""

    findings: list[Finding] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    files_checked: int = 0
    files_parsed: int = 0
    unresolved_calls: int = 0
    warnings: list[str] = field(default_factory=list)
    unresolved_by_path: dict[str, int] = field(default_factory=dict)
    bounds_hit: int = 0  # loops whose fixpoint was given up at its bound (``--statistics``)
    bounds_by_path: dict[str, int] = field(default_factory=dict)
    #: each unresolved call once, (path, line, col, callee), when the run was asked to list them (no cache)
    unresolved_sites: list[tuple[str, int, int, str]] = field(default_factory=list)

    def absorb(self, part: "LintResult") -> None:
        """Add another run's records and counts to this one (cache hits, parallel groups)."""
        self.findings.extend(part.findings)
        self.problems.extend(part.problems)
        self.warnings.extend(part.warnings)
        self.files_checked += part.files_checked
        self.files_parsed += part.files_parsed
        self.unresolved_calls += part.unresolved_calls
        for path, n in part.unresolved_by_path.items():
            self.unresolved_by_path[path] = self.unresolved_by_path.get(path, 0) + n
        self.bounds_hit += part.bounds_hit
        for path, n in part.bounds_by_path.items():
            self.bounds_by_path[path] = self.bounds_by_path.get(path, 0) + n
        self.unresolved_sites = sorted(set(self.unresolved_sites) | set(part.unresolved_sites))

    def sorted_records(self) -> list[Finding | FileProblem]:
        records: list[Finding | FileProblem] = [*self.findings, *self.problems]
        records.sort(key=lambda r: r.sort_key())
        return records

    @property
    def exit_code(self) -> int:
        if self.problems:
            return 2
        return 1 if self.findings else 0
