"""One rule change touches one folder of each kind: the rule module, its fixtures, its docs page, its self-check
case. These tests name whichever of the four is missing, lint the docs' python blocks and the self-check cases with
the same marker rules as the fixtures, so docs, evidence and linter cannot drift apart."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from markers import parse_markers
from packlint.docs_pages import DOCS_DIR, page_for
from packlint.engine import SourceFile, lint_sources
from packlint.rules import INTERNAL_ERROR, known_rules, registry

ROOT = Path(__file__).resolve().parent.parent
KNOWN = set(known_rules())
HEADINGS = ["## What it flags", "## Why it is wrong", "## Example", "## Use instead", "## Stays clean", "## Limits",
            "## Options"]
CODE_RE = re.compile(r"^PKL\d{3}$")
NAME_RE = re.compile(r"^[a-z]+(-[a-z]+)+$")


def _rules():
    return registry()


def test_codes_and_names_are_well_formed_and_unique() -> None:
    rules = _rules()
    assert [r.code for r in rules] == sorted({r.code for r in rules})
    assert len({r.name for r in rules}) == len(rules)
    for r in rules:
        assert CODE_RE.match(r.code) and NAME_RE.match(r.name), r
        assert r.summary and r.suggestion and r.watches


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: r.code)
def test_each_rule_has_module_fixtures_docs_and_selfcheck_case(rule) -> None:
    from packlint.selfcheck.cases import CASE_MODULES

    slug = rule.name.replace("-", "_")
    assert (ROOT / "packlint" / "rules" / f"{rule.code.lower()}_{slug}.py").is_file(), "rule module"
    folder = ROOT / "fixtures" / rule.code
    assert list(folder.glob("bad_*.py")) and list(folder.glob("ok_*.py")), "fixtures"
    assert (DOCS_DIR / f"{rule.code}.md").is_file(), "docs page"
    assert rule.code in CASE_MODULES, "self-check case"
    assert (ROOT / "packlint" / "selfcheck" / "cases" / f"{CASE_MODULES[rule.code]}.py").is_file()


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: r.code)
def test_docs_page_has_the_fixed_sections(rule) -> None:
    text = page_for(rule.code)
    assert text is not None
    assert text.startswith(f"# {rule.code}: {rule.name}\n")
    positions = [text.find(h + "\n") for h in HEADINGS]
    assert all(p >= 0 for p in positions), [h for h, p in zip(HEADINGS, positions) if p < 0]
    assert positions == sorted(positions), "sections out of order"
    assert "<!-- selfcheck:start -->" in text and "<!-- selfcheck:end -->" in text


def test_no_docs_page_without_a_rule() -> None:
    codes = {r.code for r in _rules()} | {INTERNAL_ERROR[0]}
    pages = {p.stem for p in DOCS_DIR.glob("PKL*.md")}
    assert pages == codes


def _python_blocks(text: str) -> list[tuple[int, str]]:
    blocks, inside, start, buf = [], False, 0, []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not inside and line.strip() == "```python":
            inside, start, buf = True, lineno, []
        elif inside and line.strip() == "```":
            blocks.append((start, "\n".join(buf) + "\n"))
            inside = False
        elif inside:
            buf.append(line)
    return blocks


def _doc_blocks():
    out = []
    for page in sorted(DOCS_DIR.glob("PKL*.md")) + [ROOT / "docs" / "analysis.md", ROOT / "docs" / "usage.md"]:
        if not page.is_file():
            continue
        for start, code in _python_blocks(page.read_text(encoding="utf-8")):
            out.append(pytest.param(page, start, code, id=f"{page.name}:{start}"))
    return out


@pytest.mark.parametrize("page,start,code", _doc_blocks())
def test_docs_examples_lint_as_marked(page: Path, start: int, code: str) -> None:
    marks = parse_markers(code, KNOWN, f"{page}:{start}")
    result = lint_sources([SourceFile(path="example.py", text=code, module="example")])
    assert not result.problems, result.problems
    found = Counter((f.line, f.code) for f in result.findings)
    assert found == marks.expected, f"{page.name} block at line {start}: found {sorted(found)}"


def test_every_rule_page_has_a_flagged_example_and_clean_alternatives() -> None:
    for rule in _rules():
        text = page_for(rule.code) or ""
        example = text.split("## Example", 1)[1].split("## Use instead", 1)[0]
        instead = text.split("## Use instead", 1)[1].split("## Stays clean", 1)[0]
        assert any(f"# expect: {rule.code}" in code for _, code in _python_blocks(example)), rule.code
        assert _python_blocks(instead), rule.code


def _case_files():
    from packlint.selfcheck.cases import CASE_MODULES

    base = ROOT / "packlint" / "selfcheck" / "cases"
    return [pytest.param(code, base / f"{mod}.py", id=code) for code, mod in sorted(CASE_MODULES.items())]


@pytest.mark.parametrize("code,path", _case_files())
def test_selfcheck_cases_lint_as_marked(code: str, path: Path) -> None:
    """Every bad variant the self-check runs is flagged, every good variant is clean: evidence == linter."""
    text = path.read_text(encoding="utf-8")
    marks = parse_markers(text, KNOWN, str(path))
    assert any(c == code for (_, c) in marks.expected), f"{path.name} has no `# expect: {code}` bad variant"
    result = lint_sources([SourceFile(path=str(path), text=text, module=path.stem)])
    assert not result.problems, result.problems
    found = Counter((f.line, f.code) for f in result.findings)
    assert found == marks.expected, f"{path.name}: found {sorted(found)}, marked {sorted(marks.expected)}"


def test_rules_index_lists_exactly_the_registry() -> None:
    """docs/rules/README.md's table and the README's table name every rule, and only rules, with their names."""
    expected = {(r.code, r.name) for r in _rules()} | {INTERNAL_ERROR[:2]}
    index = (DOCS_DIR / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| \[(PKL\d{3})\]\(PKL\d{3}\.md\) \| ([a-z-]+) \|", index, re.MULTILINE))
    assert rows == expected
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    readme_rows = set(re.findall(r"^\| (PKL\d{3}) \| ([a-z-]+) \|", readme, re.MULTILINE))
    assert readme_rows == expected


def test_rule_tables_are_generated_from_the_registry() -> None:
    """Both tables are what `python -m packlint.docs_pages` writes: a new rule module appears in them by itself."""
    import io

    from packlint.docs_pages import rules_table, sync_tables

    log = io.StringIO()
    assert sync_tables(check=True, out=log) == 0, log.getvalue()
    assert rules_table(linked=True).count("\n| [PKL") == len(_rules()) + 1


def test_a_rule_module_is_found_by_its_name(tmp_path, monkeypatch) -> None:
    """Adding a rule is adding `pklNNN_<name>.py`: the registry and the self-check list find it by name."""
    import packlint.rules as rules_pkg
    import packlint.selfcheck.cases as cases_pkg

    rule_dir, case_dir = tmp_path / "rules", tmp_path / "cases"
    rule_dir.mkdir()
    case_dir.mkdir()
    (rule_dir / "pkl042_made_up_rule.py").write_text("", encoding="utf-8")
    (rule_dir / "helpers.py").write_text("", encoding="utf-8")
    (case_dir / "pkl042_made_up_rule.py").write_text("", encoding="utf-8")
    monkeypatch.setattr(rules_pkg, "__path__", [*rules_pkg.__path__, str(rule_dir)])
    assert "packlint.rules.pkl042_made_up_rule" in rules_pkg.rule_modules()
    assert "packlint.rules.helpers" not in rules_pkg.rule_modules()
    monkeypatch.setattr(cases_pkg, "__path__", [str(case_dir)])
    assert cases_pkg._cases() == [("PKL042", "pkl042_made_up_rule", "made-up-rule")]


_OUTPUT_LINE = re.compile(r"^(?P<path>[\w/.-]+\.py):(?P<line>\d+):(?P<col>\d+): (?P<code>PKL\d{3}) (?P<msg>.+)$")


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: r.code)
def test_example_output_shown_on_the_page_is_what_packlint_prints(rule) -> None:
    """The ```text block after the Example is the real output of linting the Example (file named as shown)."""
    text = page_for(rule.code) or ""
    example = text.split("## Example", 1)[1].split("## Use instead", 1)[0]
    code = _python_blocks(example)[0][1]
    shown = [m for m in (_OUTPUT_LINE.match(ln) for ln in example.splitlines()) if m]
    assert shown, f"{rule.code}: the Example shows no output line"
    path = shown[0]["path"]
    result = lint_sources([SourceFile(path=path, text=code, module=Path(path).stem)])
    printed = {f"{f.path}:{f.line}:{f.col}: {f.code} {f.message}" for f in result.findings}
    for m in shown:
        assert m.group(0) in printed, f"{rule.code}: page shows\n{m.group(0)}\npacklint prints\n{printed}"


def test_readme_example_and_its_output_are_real() -> None:
    """The README opens with a bad example and the output packlint prints for it: both must stay true."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = _python_blocks(readme)[0][1]
    shown = [m for m in (_OUTPUT_LINE.match(ln) for ln in readme.splitlines()) if m]
    assert shown and len(code.splitlines()) <= 8
    path = shown[0]["path"]
    result = lint_sources([SourceFile(path=path, text=code, module=Path(path).stem)])
    printed = [f"{f.path}:{f.line}:{f.col}: {f.code} {f.message}" for f in result.findings]
    assert [m.group(0) for m in shown] == printed
