"""Every fixture yields exactly its marked (line, code) multiset: nothing missing, nothing extra.

Single-file fixtures live in ``fixtures/PKLxxx/``; multi-file projects in ``fixtures/projects/<name>/`` are linted
as one tree and compared per file. ``ok_*.py`` must be clean and carry no ``expect`` marker. ``# gap:`` lines are
known misses: a test per gap runs as an expected failure (strict), so fixing a gap turns it into a visible pass.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from markers import MarkerError, parse_markers
from packlint.config import load_config
from packlint.engine import Options, lint_paths
from packlint.rules import known_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
KNOWN = set(known_rules())


def _single_files() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("PKL*/*.py"))


def _projects() -> list[Path]:
    base = FIXTURES / "projects"
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def _options_for(project: Path | None) -> Options:
    """A project's ``[tool.packlint.api]`` tables, when it has a pyproject.toml (as the CLI would load them)."""
    if project is None or not (project / "pyproject.toml").is_file():
        return Options()
    config = load_config(project, known_rules=known_rules)
    api = config.api
    return Options(user_api={"mask-builders": list(api.mask_builders), "masked-losses": list(api.masked_losses),
                             "losses": list(api.losses), "sources": list(api.sources),
                             "propagators": list(api.propagators)})


def found_findings(paths: list[Path], project: Path | None = None) -> dict[Path, Counter]:
    """(line, code) multiset per file, linting ``paths`` as one tree; fails on any problem."""
    result = lint_paths(paths, _options_for(project))
    assert not result.problems, [f"{p.path}: {p.kind}: {p.message}" for p in result.problems]
    out: dict[Path, Counter] = {p.resolve(): Counter() for p in paths}
    for f in result.findings:
        out.setdefault(Path(f.path).resolve(), Counter())[(f.line, f.code)] += 1
    return out


def check_against_markers(path: Path, found: Counter) -> None:
    marks = parse_markers(path.read_text(encoding="utf-8"), KNOWN, str(path))
    if path.name.startswith("ok_"):
        assert not marks.expected, f"{path}: ok_ files must not carry expect markers"
    missing = marks.expected - found
    extra = found - marks.expected - marks.gaps
    assert not missing and not extra, f"{path}: missing {sorted(missing)}, extra {sorted(extra)}"


@pytest.mark.parametrize("path", _single_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture(path: Path) -> None:
    found = found_findings([path])[path.resolve()]
    check_against_markers(path, found)


@pytest.mark.parametrize("project", _projects(), ids=lambda p: p.name)
def test_project(project: Path) -> None:
    files = sorted(project.rglob("*.py"))
    found = found_findings(files, project)
    for f in files:
        check_against_markers(f, found.get(f.resolve(), Counter()))


def _gaps() -> list[tuple[Path, int, str]]:
    out = []
    for path in _single_files():
        marks = parse_markers(path.read_text(encoding="utf-8"), KNOWN, str(path))
        for (line, code) in marks.gaps:
            out.append((path, line, code))
    return out


@pytest.mark.parametrize("path,line,code", _gaps(), ids=lambda v: v.name if isinstance(v, Path) else str(v))
@pytest.mark.xfail(strict=True, reason="known gap: the linter does not see this yet")
def test_gap(path: Path, line: int, code: str) -> None:
    found = found_findings([path])[path.resolve()]
    assert found[(line, code)] >= 1


def test_rule_folders_have_both_kinds() -> None:
    for folder in sorted(FIXTURES.glob("PKL*")):
        names = [p.name for p in folder.glob("*.py")]
        assert any(n.startswith("bad_") for n in names), folder
        assert any(n.startswith("ok_") for n in names), folder


@pytest.mark.parametrize("text", ["x = 1  # expect PKL001", "x = 1  # expect: PKL1", "x = 1  # expect: PKL999",
                                  "x = 1  # gap PKL001"])
def test_marker_parser_is_strict(text: str) -> None:
    with pytest.raises(MarkerError):
        parse_markers(text, KNOWN)


def test_marker_parser_reads_several_codes() -> None:
    marks = parse_markers("a\nloss = f(x)  # expect: PKL001, PKL002\n", KNOWN)
    assert marks.expected == Counter({(2, "PKL001"): 1, (2, "PKL002"): 1})


def _project_files_with_markers() -> list:
    out = []
    for project in _projects():
        for f in sorted(project.rglob("*.py")):
            marks = parse_markers(f.read_text(encoding="utf-8"), KNOWN, str(f))
            if marks.expected:
                out.append(pytest.param(f, id=f"{project.name}/{f.relative_to(project)}"))
    return out


#: Project files whose findings exist only because another file of the project passes them padding (a model
#: whose module never mentions padding, built and called by a training script): linted alone, such a file has no
#: finding, since packlint reads what a file imports, not who imports it (docs/analysis.md, "Linting part of a
#: tree"). With the importer linted alone, the finding is at the importer's call; with both, at the sink.
INJECTED = {"injected_encoder/encoder.py": "train.py"}


@pytest.mark.parametrize("path", _project_files_with_markers())
def test_project_file_linted_alone(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pre-commit passes only the changed file: its findings must not depend on the other files being named."""
    project = next(p for p in _projects() if p in path.parents)
    if f"{project.name}/{path.relative_to(project).as_posix()}" in INJECTED:
        pytest.skip("its padding comes from an importer: see test_injected_module_linted_in_parts")
    monkeypatch.chdir(project)
    rel = path.relative_to(project)
    found = found_findings([rel], project)[rel.resolve()]
    check_against_markers(path, found)


def _all_findings(paths: list[Path], project: Path | None, select_all: bool) -> list[tuple]:
    options = _options_for(project)
    options.select_all = select_all
    result = lint_paths(paths, options)
    return [(f.path, f.line, f.col, f.code, f.message) for f in result.findings] + \
        [(p.path, p.line, p.kind, p.message) for p in result.problems]


@pytest.mark.parametrize("folder", [*_projects(), *sorted({p.parent for p in _single_files()})],
                         ids=lambda p: p.name)
def test_selection_loses_nothing(folder: Path) -> None:
    """Parsing and analysing every file and function (``--select-all-files``) finds exactly what the selected
    run finds, on every fixture project and fixture folder linted as one tree."""
    files = sorted(folder.rglob("*.py"))
    project = folder if folder.parent.name == "projects" else None
    assert _all_findings(files, project, False) == _all_findings(files, project, True)


@pytest.mark.parametrize("name,importer", sorted(INJECTED.items()))
def test_injected_module_linted_in_parts(name: str, importer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model file alone: nothing (its importer is not read). The importer alone: the finding at its call into
    the model, pointing inside. Both: the finding at the model's own line, as its markers say."""
    project = FIXTURES / "projects" / name.split("/", 1)[0]
    model = project / name.split("/", 1)[1]
    monkeypatch.chdir(project)
    rel_model, rel_importer = model.relative_to(project), Path(importer)
    assert not lint_paths([rel_model], _options_for(project)).findings
    marks = parse_markers(model.read_text(encoding="utf-8"), KNOWN, str(model))
    caller = lint_paths([rel_importer], _options_for(project)).findings
    assert sorted(f.code for f in caller) == sorted(code for (_, code) in marks.expected.elements())
    assert all(f.path == str(rel_importer) and f"at {rel_model}:" in f.message for f in caller), caller
    both = found_findings([rel_model, rel_importer], project)[rel_model.resolve()]
    check_against_markers(model, both)
