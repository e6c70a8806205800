"""Find a rule's docs page (``packlint explain``), and write the rule tables of the READMEs from the registry.

Pages ship inside the package, in ``packlint/docs/rules/``; the repository's ``docs/rules`` is a link to that folder,
so there is one copy. The tables of rules in ``README.md`` and ``docs/rules/README.md`` sit between
``<!-- rules:start -->`` and ``<!-- rules:end -->`` and are generated (``python -m packlint.docs_pages``; ``--check``
compares), so a new rule module appears there without anyone editing a list.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from packlint.rules import INTERNAL_ERROR, find_rule, registry

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


_COMMENT = re.compile(r"<!--.*?-->\n?", re.DOTALL)
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def for_terminal(markdown: str) -> str:
    """A page as ``packlint explain`` prints it: the markdown a reader sees in a viewer, without what only a viewer
    hides. HTML comments (the generated tables' markers) go; headings are underlined; fenced code is indented,
    fences dropped; tables are aligned in columns; ``[text](url)`` becomes ``text (url)``, ``**bold**`` plain."""
    out: list[str] = []
    table: list[list[str]] = []
    in_code = False

    def flush_table() -> None:
        if not table:
            return
        widths = [max(len(row[i]) if i < len(row) else 0 for row in table) for i in range(max(map(len, table)))]
        for row in table:
            out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        table.clear()

    for line in _COMMENT.sub("", markdown).split("\n"):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            out.append("    " + line if line else "")
            continue
        if line.startswith("|") and line.rstrip().endswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                table.append([_inline(c) for c in cells])
            continue
        flush_table()
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            title = _inline(heading.group(2))
            out.extend([title, ("=" if len(heading.group(1)) == 1 else "-") * len(title)])
            continue
        out.append(_inline(line))
    flush_table()
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(out))
    return text.strip("\n") + "\n"


def _inline(text: str) -> str:
    return _BOLD.sub(r"\1", _LINK.sub(r"\1 (\2)", text))


TABLE_START = "<!-- rules:start -->"
TABLE_END = "<!-- rules:end -->"
REPO_ROOT = Path(__file__).resolve().parent.parent


def rules_table(linked: bool) -> str:
    """The markdown table of every rule and PKL900, from the registry; ``linked`` makes codes links to the pages."""
    rows = [(r.code, r.name, r.summary) for r in registry()] + [INTERNAL_ERROR]
    lines = [TABLE_START, "| code | name | flags |", "| --- | --- | --- |"]
    for code, name, summary in rows:
        shown = f"[{code}]({code}.md)" if linked else code
        lines.append(f"| {shown} | {name} | {summary.rstrip('.')} |")
    lines.append(TABLE_END)
    return "\n".join(lines)


def table_files() -> list[tuple[Path, bool]]:
    """The files holding a generated table, and whether their codes link to the pages."""
    return [(REPO_ROOT / "README.md", False), (DOCS_DIR / "README.md", True)]


def sync_tables(check: bool, out=sys.stdout) -> int:
    """Rewrite (or with ``check``, compare) every generated table; 1 when ``check`` finds one out of date."""
    status = 0
    for path, linked in table_files():
        if not path.is_file():
            continue  # an installed package has no repository README
        text = path.read_text(encoding="utf-8")
        start, end = text.find(TABLE_START), text.find(TABLE_END)
        if start < 0 or end < start:
            print(f"{path}: no {TABLE_START} ... {TABLE_END} block", file=out)
            status = 1
            continue
        old, new = text[start:end + len(TABLE_END)], rules_table(linked)
        if old == new:
            continue
        if check:
            print(f"{path}: the rule table is out of date (python -m packlint.docs_pages)", file=out)
            status = 1
        else:
            path.write_text(text.replace(old, new, 1), encoding="utf-8")
            print(f"{path}: rule table updated", file=out)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m packlint.docs_pages", description="write the rule tables")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when a table is out of date")
    return sync_tables(parser.parse_args(argv).check)


if __name__ == "__main__":
    sys.exit(main())
