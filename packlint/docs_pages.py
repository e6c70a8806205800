"""Find a rule's docs page (``packlint explain``). Pages ship inside the package, in ``packlint/docs/rules/``;
the repository's ``docs/rules`` is a link to that folder, so there is one copy."""

from __future__ import annotations

from pathlib import Path

from packlint.rules import INTERNAL_ERROR, find_rule

DOCS_DIR = Path(__file__).parent / "docs" / "rules"


def page_path(code: str) -> Path:
    return DOCS_DIR / f"{code}.md"


def page_for(code_or_name: str) -> str | None:
    """The markdown page of a rule given by code or name, or None for an unknown rule or a missing page."""
    rule = find_rule(code_or_name)
    code = rule.code if rule else None
    if code is None and code_or_name.strip().upper() in (INTERNAL_ERROR[0],) or code_or_name == INTERNAL_ERROR[1]:
        code = INTERNAL_ERROR[0]
    if code is None:
        return None
    path = page_path(code)
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None
