"""Parsing on demand (issue 16): files are parsed when the analysis asks for them, a module's global read from
outside is answered from its tree without running its body where the tree alone answers, and the name index
walks the same nodes as ``ast.walk``. Each shortcut must give what the slow way gives."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from packlint.analysis.project import Project
from packlint.analysis.values import ClassRef, FuncRef
from packlint.engine import Options, lint_paths
from packlint.analysis.walk import walk_nodes

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = sorted(p for p in (ROOT / "fixtures" / "projects").iterdir() if p.is_dir())


def test_the_index_walk_visits_what_ast_walk_visits() -> None:
    for path in sorted((ROOT / "packlint").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        expected = [n for n in ast.walk(tree) if not isinstance(n, ast.expr_context)]
        found = walk_nodes(tree)
        assert len(found) == len(expected) and all(a is b for a, b in zip(found, expected)), path


TOP = """\
import os
from pkg import thing as alias
from pkg.sub import *


def plain():
    pass


@decorated
class Kept:
    pass


def twice():
    pass


twice = wrap(twice)

if os.environ:
    def branchy():
        pass

try:
    import json
except ImportError:
    json = None

for loop_var in range(3):
    pass


def writes():
    global written
    written = 1
"""


def test_top_bindings_answer_only_what_the_tree_alone_decides() -> None:
    project = Project()
    module = project.add_module("m", "m.py", ast.parse(TOP), TOP)
    simple = {name: module.top_binding(name) for name in ("os", "alias", "plain", "Kept")}
    assert all(isinstance(stmt, ast.stmt) for stmt in simple.values()), simple
    for name in ("twice", "branchy", "json", "loop_var", "written"):
        assert module.top_binding(name) is True, name  # only running the body tells
    assert module.top_binding("never_bound") is False
    assert module.top_binding("thing") is False  # bound under its alias only


@pytest.mark.parametrize("folder", PROJECTS, ids=lambda p: p.name)
def test_globals_read_from_the_tree_equal_the_body_run(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For every module of every fixture project and every name the tree answers, the value read without
    running the body is the value the body binds."""
    monkeypatch.chdir(folder)
    files = sorted(folder.rglob("*.py"))
    from packlint.analysis.api import build_tables

    def fresh() -> Project:
        project = Project(build_tables({}))
        for path in files:
            rel = path.relative_to(folder)
            parts = list(rel.with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            project.program.add_source(".".join(parts), str(rel), path.read_text(encoding="utf-8"),
                                       is_package=is_package, root=str(folder))
        return project

    checked = 0
    lazy, eager = fresh(), fresh()
    for key in list(lazy.program.sources):
        module = lazy.program.load(key)
        if module is None:
            continue
        names = [n for n in (module._top or {}) if not isinstance(module.top_binding(n), bool)]
        names += [n for n in _bound_names(module.tree) if not isinstance(module.top_binding(n), bool)]
        other = eager.program.load(key)
        eager.ensure_globals(other)
        for name in sorted(set(names)):
            assert other.globals_state == "done"
            from_tree = lazy.module_global(module, name)
            from_body = eager.module_global(other, name)
            assert _shape(from_tree) == _shape(from_body), (key, name, from_tree, from_body)
            checked += 1
    assert checked > 0


def _bound_names(tree: ast.Module) -> list[str]:
    out = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            out += [a.asname or a.name.split(".")[0] for a in stmt.names if a.name != "*"]
    return out


def _shape(value) -> object:
    """A value as comparable across two projects: references by id, anything else by type and text."""
    if isinstance(value, (FuncRef, ClassRef)):
        return value
    return (type(value).__name__, repr(value))


def test_a_run_parses_only_what_padding_can_reach(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module that imports the model but never uses a tainted name, and one that names nothing of the tree,
    are not parsed (their syntax errors are not reported either, as for any file padding cannot reach); the
    finding is the same as with every file parsed (``--select-all-files``)."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "pkg" / "model.py").write_text(
        "import torch.nn as nn\n"
        "from torch.nn.utils.rnn import pad_packed_sequence\n\n\n"
        "def run(rnn, packed, targets):\n"
        "    out, _ = pad_packed_sequence(packed, batch_first=True)\n"
        "    return nn.functional.cross_entropy(out.flatten(0, 1), targets.flatten())\n", encoding="utf-8")
    (tmp_path / "pkg" / "unrelated.py").write_text("import pkg.model\n\nVALUE = 3\n", encoding="utf-8")
    (tmp_path / "pkg" / "other.py").write_text("import os\n\nTHING = os.sep\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    files = sorted(Path("pkg").rglob("*.py"))
    normal = lint_paths(files, Options())
    everything = lint_paths(files, Options(select_all=True))
    assert [(f.path, f.line, f.code) for f in normal.findings] == [
        (f.path, f.line, f.code) for f in everything.findings]
    assert [f.code for f in normal.findings] == ["PKL001"]
    assert normal.files_parsed < everything.files_parsed == 4
