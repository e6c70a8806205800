"""Code actions as plain data, and the one place where providers of them are plugged in.

Why plain data rather than LSP types: a provider (the "add noqa" below, the automatic fixes that ``packlint.fixes``
will offer) should be testable and reusable without pygls; ``app`` turns an ``Action`` into an LSP ``CodeAction``.
Positions are 1-based lines and 1-based character columns, as everywhere else in packlint.

The hook: ``providers()`` returns the built-in providers followed by ``packlint.fixes.code_actions`` when that module
exists and defines it, with the signature of ``ActionProvider``. A provider that raises is skipped (the editor still
gets the others); none can stop the server.
"""

from __future__ import annotations

import importlib
import tokenize
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from packlint.source import python_lines
from packlint.fixes.noqa import add_noqa_to


@dataclass(frozen=True)
class Edit:
    """Replace the text from (line, col) to (end_line, end_col), 1-based and end exclusive, with ``text``."""

    line: int
    col: int
    end_line: int
    end_col: int
    text: str


@dataclass(frozen=True)
class Action:
    """One code action: its title, LSP kind (``quickfix``, ``source...``), edits to the document, and the
    (line, code) pairs of the diagnostics it resolves."""

    title: str
    kind: str
    edits: tuple[Edit, ...]
    resolves: tuple[tuple[int, str], ...] = ()
    preferred: bool = False


@dataclass(frozen=True)
class ActionRequest:
    """What the editor asked about: the document (path and current text) and the packlint diagnostics in the
    requested range, as (line, code) pairs."""

    path: str
    text: str
    diagnostics: tuple[tuple[int, str], ...]


ActionProvider = Callable[[ActionRequest], Iterable[Action]]


def noqa_actions(request: ActionRequest) -> list[Action]:
    """"Add `# noqa: CODE`" for each line with findings, placed as ``--add-noqa`` places it (never after a trailing
    backslash or inside a string; merged into a ``# noqa`` already in the statement), each changed line replaced whole;
    nothing for a statement already silenced, a line past the end of the text (a stale diagnostic), or text the
    tokenizer rejects (mid-edit)."""
    lines = python_lines(request.text)
    by_line: dict[int, set[str]] = {}
    for line, code in request.diagnostics:
        if code.startswith("PKL"):
            by_line.setdefault(line, set()).add(code)
    out = []
    for line, codes in sorted(by_line.items()):
        if not 1 <= line <= len(lines):
            continue
        try:
            new_text, added = add_noqa_to(request.text, request.text, {line: codes})
        except (tokenize.TokenError, SyntaxError):
            continue
        if not added:
            continue
        edits = tuple(Edit(n, 1, n, len(old) + 1, new)
                      for n, (old, new) in enumerate(zip(lines, python_lines(new_text)), start=1) if old != new)
        shown = ", ".join(sorted(codes))
        out.append(Action(title=f"packlint: add `# noqa: {shown}`", kind="quickfix", edits=edits,
                          resolves=tuple((line, c) for c in sorted(codes))))
    return out


BUILTIN: tuple[ActionProvider, ...] = (noqa_actions,)


def providers() -> list[ActionProvider]:
    """The built-in providers, then ``packlint.fixes.code_actions`` when a fixes package provides it."""
    found = list(BUILTIN)
    try:
        fixes = importlib.import_module("packlint.fixes")
    except Exception:  # noqa: BLE001 - no fixes package (or a broken one): the built-in actions still work
        return found
    extra = getattr(fixes, "code_actions", None)
    if callable(extra):
        found.append(extra)
    return found


def actions_for(request: ActionRequest, plugged: Iterable[ActionProvider] | None = None) -> list[Action]:
    """Every provider's actions for ``request``, in provider order; a provider that fails gives none."""
    out: list[Action] = []
    for provider in providers() if plugged is None else plugged:
        try:
            out.extend(provider(request))
        except Exception:  # noqa: BLE001 - one broken provider must not take the editor's other actions away
            continue
    return out


__all__ = ["Action", "ActionProvider", "ActionRequest", "Edit", "actions_for", "noqa_actions", "providers"]
