"""Issue 14's defects, each reproduced on a program written for it: findings must not depend on file names,
discovery order, which caller was analysed first, or how deep a function was first reached.

The lattice laws have their own file (test_lattice.py); the loop and branch cases are fixtures
(PKL001/bad_padding_through_three_loop_variables.py, PKL009/bad_bidirectional_gather_after_dropout_branch.py).
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from packlint.analysis.project import Project
from packlint.analysis.support import MAX_DEPTH
from packlint.analysis.values import Padded
from packlint.engine import Options, lint_paths
import sources

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = ROOT / "fixtures" / "projects"

ENCODER = sources.encoder(pool_default=True)

BUILDS_UNPOOLED = "from model import Enc\n\n\ndef run(x, lengths):\n    enc = Enc(pool=False)\n    return enc(x, lengths)\n"


def _lines(result, root: Path) -> list[tuple]:
    return sorted((Path(f.path).resolve().relative_to(root.resolve()).as_posix(), f.line, f.col, f.code, f.message)
                  for f in result.findings)


@pytest.mark.order_sensitive
@pytest.mark.parametrize("importer", ["aa_main.py", "zz_main.py"])
def test_the_importers_file_name_does_not_change_the_models_findings(tmp_path: Path, importer: str) -> None:
    """Class attributes come from every construction site (here `Enc(pool=False)`) and from the literal default
    (`pool=True`), joined, whichever file was analysed first: the pooling branch is reachable, so PKL005 stands."""
    (tmp_path / "model.py").write_text(ENCODER, encoding="utf-8")
    (tmp_path / importer).write_text(BUILDS_UNPOOLED, encoding="utf-8")
    result = lint_paths(sorted(tmp_path.glob("*.py")), Options())
    assert [(p, line, code) for p, line, _, code, _ in _lines(result, tmp_path)] == [("model.py", 15, "PKL005")]


def test_a_model_built_under_main_after_an_if_is_seen_by_the_functions_it_calls(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("""\
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return self.head(out)


def train(batches):
    for x, lengths, y in batches:
        logits = model(x, lengths)
        F.cross_entropy(logits.flatten(0, 1), y.flatten()).backward()


if __name__ == "__main__":
    if torch.cuda.is_available():
        device = "cuda"
    else:
        device = "cpu"
    for _ in range(2):
        pass
    model = Tagger().to(device)
    train([])
""", encoding="utf-8")
    result = lint_paths([tmp_path / "train.py"], Options())
    assert [(f.line, f.code) for f in result.findings] == [(22, "PKL001")]


CHAIN = """\
import torch


def attend(out):
    return torch.softmax(out.sum(-1), dim=1)


def step3(out):
    return attend(out)


def step2(out):
    return step3(out)


def step1(out):
    return step2(out)
"""


def _project_with(source: str) -> Project:
    project = Project()
    project.add_module("chain", "chain.py", ast.parse(source), source)
    return project


def test_a_summary_cut_at_the_depth_bound_is_not_reused_by_a_shallower_call() -> None:
    """step1 reached at depth MAX_DEPTH - 1 is cut before the softmax; the same call from depth 1 is not."""
    padded = Padded(trail=(), axes=("B", "T", "F"))
    step1 = "::chain:step1"
    fresh = _project_with(CHAIN)
    _, expected = fresh.analyze_call(step1, (padded,), (), depth=1)
    assert [ev.kind for ev in expected] == ["softmax"]

    project = _project_with(CHAIN)
    _, deep = project.analyze_call(step1, (padded,), (), depth=MAX_DEPTH - 1)
    assert deep == []  # attend is past the bound from there
    _, shallow = project.analyze_call(step1, (padded,), (), depth=1)
    assert shallow == expected


def _renamed_copy(src: Path, dst: Path) -> dict[str, str]:
    """Copy a fixture project renaming every module and package of it to a name that sorts the other way round,
    and rewriting its import statements to match (keeping the names they bind, so no other line changes);
    returns new name -> old name."""
    names = sorted({p.stem for p in src.rglob("*.py") if p.stem != "__init__"} |
                   {p.name for p in src.rglob("*") if p.is_dir()})
    mapping = {old: f"q{len(names) - i:02d}x_{old}" for i, old in enumerate(names)}
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        target = dst.joinpath(*[mapping.get(Path(p).stem, Path(p).stem) + Path(p).suffix for p in rel.parts])
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            text = _rewrite_imports(text, mapping, src, path)
        target.write_text(text, encoding="utf-8")
    return {new: old for old, new in mapping.items()}


def _rewrite_imports(text: str, mapping: dict[str, str], src: Path, path: Path) -> str:
    lines = text.split("\n")
    for node in sorted(ast.walk(ast.parse(text)), key=lambda n: -getattr(n, "lineno", 0)):
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        parts = node.module.split(".")
        if parts[0] not in mapping and node.level == 0:
            continue  # a library outside the project
        base = (path.parent if node.level else src).joinpath(*parts)
        exported = (base / "__init__.py").read_text(encoding="utf-8") if (base / "__init__.py").is_file() else ""
        aliases = []
        for alias in node.names:
            local = alias.asname or alias.name
            is_module = alias.name in mapping and (base / f"{alias.name}.py").exists() and \
                not re.search(rf"\b{re.escape(alias.name)}\b", exported)
            name = mapping[alias.name] if is_module else alias.name
            aliases.append(name if name == local else f"{name} as {local}")
        module = "." * node.level + ".".join(mapping.get(p, p) for p in parts)
        first, last = node.lineno - 1, node.end_lineno - 1
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        lines[first: last + 1] = [f"{indent}from {module} import {', '.join(aliases)}"] + [""] * (last - first)
    return "\n".join(lines)


def _findings(root: Path, paths: list[Path], back: dict[str, str] | None = None) -> list[tuple]:
    result = lint_paths(paths, Options())
    assert not [p for p in result.problems if p.kind != "syntax-error"], result.problems
    out = []
    names = re.compile("|".join(map(re.escape, sorted(back or {}, key=len, reverse=True)))) if back else None

    def undo(text: str) -> str:
        text = text.replace(str(root.resolve()), "<root>").replace(str(root), "<root>")
        return names.sub(lambda m: back[m.group(0)], text) if names else text

    for f in result.findings:
        rel = Path(f.path).resolve().relative_to(root.resolve()).as_posix()
        out.append((undo(rel), f.line, f.col, f.code, undo(f.message)))
    return sorted(out)


@pytest.mark.order_sensitive
@pytest.mark.parametrize("project", sorted(p.name for p in PROJECTS.iterdir() if p.is_dir() and
                                           not (p / "pyproject.toml").exists()))
def test_fixture_projects_renamed_and_reordered_give_the_same_findings(tmp_path: Path, project: str) -> None:
    original = tmp_path / "original"
    shutil.copytree(PROJECTS / project, original)
    expected = _findings(original, sorted(original.rglob("*.py")))
    renamed = tmp_path / "renamed"
    back = _renamed_copy(original, renamed)
    files = sorted(renamed.rglob("*.py"))
    assert _findings(renamed, list(reversed(files)), back) == _findings(renamed, files, back) == expected


def test_a_loop_that_never_settles_stops_at_its_bound_and_is_counted(tmp_path: Path) -> None:
    """A value nested one level deeper on every pass has no fixpoint: the loop stops at its bound, the run goes
    on, and --statistics says how many loops were cut."""
    from click.testing import CliRunner

    from packlint.cli import main

    (tmp_path / "grow.py").write_text(
        "from torch.nn.utils.rnn import pad_packed_sequence\n\n\n"
        "def nest(packed, steps):\n"
        "    out, _ = pad_packed_sequence(packed, batch_first=True)\n"
        "    box = out\n"
        "    for _ in steps:\n"
        "        box = (box,)\n"
        "    return out[:, -1]\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--no-cache", "--statistics", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "PKL003" in result.output
    assert re.search(r"^\s+1  info   loops analysed up to their bound, not to a fixpoint$", result.output, re.M), \
        result.output


@pytest.mark.parametrize("default,outside,alone,whole", [
    ("True", "False", ["PKL005"], ["PKL005"]),  # the default's path is reachable either way
    ("False", "True", [], ["PKL005"]),  # only a construction outside model.py reaches it
])
def test_construction_sites_count_only_in_the_files_read(tmp_path: Path, default: str, outside: str,
                                                         alone: list, whole: list) -> None:
    """Linting part of a tree (pre-commit): model.py alone reads its own constructions, its imports and the
    literal defaults; a main.py that builds the class from outside counts when it is linted too."""
    (tmp_path / "model.py").write_text(ENCODER.replace("pool=True", f"pool={default}"), encoding="utf-8")
    (tmp_path / "main.py").write_text(BUILDS_UNPOOLED.replace("pool=False", f"pool={outside}"), encoding="utf-8")
    only_model = lint_paths([tmp_path / "model.py"], Options())
    both = lint_paths(sorted(tmp_path.glob("*.py")), Options())
    assert [f.code for f in only_model.findings] == alone
    assert [f.code for f in both.findings] == whole


def test_two_constructions_with_different_flags_keep_their_own_attributes(tmp_path: Path) -> None:
    """`Enc(pool=False)` and `Enc(pool=True)` are two instances: each forward runs with its own flag, so the
    pooled one returns a vector (its last feature is no last step) and the other the padded output."""
    (tmp_path / "model.py").write_text(ENCODER, encoding="utf-8")
    (tmp_path / "use.py").write_text(
        "from model import Enc\n\n\n"
        "def summaries(x, lengths):\n"
        "    plain, pooled = Enc(pool=False), Enc(pool=True)\n"
        "    last = plain(x, lengths)[:, -1]\n"
        "    feature = pooled(x, lengths)[:, -1]\n"
        "    return last, feature\n", encoding="utf-8")
    result = lint_paths(sorted(tmp_path.glob("*.py")), Options())
    assert sorted((Path(f.path).name, f.line, f.code) for f in result.findings) == [
        ("model.py", 15, "PKL005"), ("use.py", 6, "PKL003")]


def test_one_bug_reached_from_several_callers_is_one_finding_at_its_sink(tmp_path: Path) -> None:
    """An attention method that never masks is the bug: linting the tree gives one finding at its softmax; linting
    only the callers' file gives the findings at the calls, the only lines the user sees."""
    fixture = (ROOT / "fixtures" / "PKL006" / "bad_attention_method_reached_from_three_calls.py").read_text("utf-8")
    (tmp_path / "model.py").write_text(fixture.split("    def forward(self, chars")[0], encoding="utf-8")
    (tmp_path / "use.py").write_text(
        "from model import Lemmatizer\n\n\n"
        "def train(model: Lemmatizer, chars, lengths, targets):\n"
        "    states, hidden = model.encode(chars, lengths)\n"
        "    return model.step(targets, hidden, states)\n\n\n"
        "def decode(model: Lemmatizer, chars, lengths, start):\n"
        "    states, hidden = model.encode(chars, lengths)\n"
        "    return model.step(start, hidden, states)\n", encoding="utf-8")
    whole = lint_paths(sorted(tmp_path.glob("*.py")), Options())
    assert [(Path(f.path).name, f.line, f.code) for f in whole.findings] == [("model.py", 24, "PKL006")]
    assert sum("calls it with padding" in step.what for step in whole.findings[0].trail) == 2
    callers = lint_paths([tmp_path / "use.py"], Options())
    assert [(Path(f.path).name, f.line, f.code) for f in callers.findings] == [("use.py", 6, "PKL006"),
                                                                              ("use.py", 11, "PKL006")]


def test_pointer_logits_get_help_for_the_class_axis() -> None:
    """(B, T) scores against positions: the padding is on the class axis; the help never offers ignore_index."""
    path = ROOT / "fixtures" / "PKL001" / "bad_span_start_logits_over_padding.py"
    findings = lint_paths([path], Options()).findings
    assert findings and all("whose classes are the time steps" in f.message for f in findings)
    assert all("masked_fill(~mask" in f.suggestion and "ignore_index does not apply" in f.suggestion
               for f in findings)
