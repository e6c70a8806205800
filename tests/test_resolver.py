"""One import resolver for file selection, cache keys and the analysis (issue 14).

Each layout below is a way real projects import their model; each must give train.py its cross-file PKL001, the
same whether the folder is linted or train.py alone (pre-commit). Then: a file-level ``# packlint: noqa`` silences
only its own file; the module index never probes the disk per imported name; and caches see what the resolver
sees.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from packlint.cli import main
from packlint.engine import Options, lint_paths
from packlint.imports import ImportGraph
from packlint.resolver import FolderTree, ModuleIndex

MODEL = """\
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 16, batch_first=True)
        self.fc = nn.Linear(16, 5)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True)
        return self.fc(out)
"""


def train(imports: str, build: str = "Tagger()") -> str:
    return f"""\
{imports}
import torch.nn.functional as F


def step(x, lengths, y):
    model = {build}
    logits = model(x, lengths)
    return F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def lint(cwd: Path, *args: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(main, ["--no-cache", "--output-format", "concise", *args])


def codes_by_file(output: str) -> list[tuple[str, str]]:
    """(file name, code) per finding line: the same finding whatever path spelling the run used."""
    out = []
    for line in output.splitlines():
        head, _, rest = line.partition(": ")
        out.append((Path(head.split(":")[0]).as_posix(), rest.split(" ")[0]))
    return sorted(out)


LAYOUTS = {
    # `from pkg import (\n    model,\n)`: the import lines scan used to stop at the parenthesis
    "parenthesised": ({"pkg/__init__.py": "", "pkg/model.py": MODEL,
                       "train.py": train("from pkg import (\n    model,\n)", "model.Tagger()")}, "train.py", []),
    # the repository root is itself a package; scripts in it import their siblings flat (`python train.py`)
    "root-is-package": ({"__init__.py": "", "model.py": MODEL, "train.py": train("from model import Tagger")},
                        "train.py", []),
    # a flat import that works through PYTHONPATH=lib, declared as a `src` root (relative to the config file)
    "src-root": ({"pyproject.toml": '[tool.packlint]\nsrc = ["lib"]\n', "lib/__init__.py": "", "lib/model.py": MODEL,
                  "scripts/train.py": train("from model import Tagger")}, "scripts/train.py", []),
    # folders without __init__.py are namespace packages
    "namespace": ({"models/seq/model.py": MODEL, "train.py": train("from models.seq.model import Tagger")},
                  "train.py", []),
    # a hub re-exports with a star import, two levels down
    "star-reexport": ({"pkg/__init__.py": "from .nets import *\n", "pkg/nets/__init__.py": "from .model import *\n",
                       "pkg/nets/model.py": "__all__ = ['Tagger']\n" + MODEL,
                       "train.py": train("from pkg import Tagger")}, "train.py", []),
    # a hub imports its submodule in parentheses; the importer reaches it as an attribute
    "submodule-reexport": ({"pkg/__init__.py": "from . import (\n    model,  # the tagger\n)\n",
                            "pkg/model.py": MODEL, "train.py": train("import pkg", "pkg.model.Tagger()")},
                           "train.py", []),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_cross_file_finding_in_every_layout(layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files, importer, _ = LAYOUTS[layout]
    root = write(tmp_path / "repo", files)
    folder = lint(root, ".", monkeypatch=monkeypatch)
    alone = lint(root, importer, monkeypatch=monkeypatch)
    assert folder.exit_code == 1, folder.output
    assert codes_by_file(folder.stdout) == [(importer, "PKL001")], folder.stdout
    assert codes_by_file(alone.stdout) == codes_by_file(folder.stdout), alone.stdout


def test_src_roots_are_relative_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files, importer, _ = LAYOUTS["src-root"]
    root = write(tmp_path / "repo", files)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = lint(elsewhere, str(root / importer), monkeypatch=monkeypatch)
    assert result.exit_code == 1 and "PKL001" in result.stdout, result.output
    (root / "pyproject.toml").write_text("[tool.packlint]\n", encoding="utf-8")
    assert lint(elsewhere, str(root / importer), monkeypatch=monkeypatch).exit_code == 0


def test_stdin_resolves_imports_like_the_file_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files, importer, _ = LAYOUTS["src-root"]
    root = write(tmp_path / "repo", files)
    monkeypatch.chdir(root)
    result = CliRunner().invoke(main, ["--no-cache", "-", "--stdin-filename", importer], input=files[importer])
    assert result.exit_code == 1 and f"{importer}:8:12: PKL001" in result.stdout, result.output


NOISY_MODEL = MODEL + """

def own_loss(x, lengths, y):
    import torch.nn.functional as F
    return F.cross_entropy(Tagger()(x, lengths).reshape(-1, 5), y.reshape(-1))
"""


def test_file_level_noqa_silences_only_its_own_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write(tmp_path / "repo", {"pkg/__init__.py": "", "pkg/model.py": NOISY_MODEL,
                                     "train.py": train("from pkg.model import Tagger")})
    loud = lint(root, ".", monkeypatch=monkeypatch)
    assert codes_by_file(loud.stdout) == [("pkg/model.py", "PKL001"), ("train.py", "PKL001")], loud.stdout
    (root / "pkg/model.py").write_text("# packlint: noqa\n" + NOISY_MODEL, encoding="utf-8")
    folder = lint(root, ".", monkeypatch=monkeypatch)
    alone = lint(root, "train.py", monkeypatch=monkeypatch)
    both = lint(root, "train.py", "pkg/model.py", monkeypatch=monkeypatch)
    for result in (folder, alone, both):
        assert codes_by_file(result.stdout) == [("train.py", "PKL001")], result.stdout
    assert folder.stdout == alone.stdout == both.stdout


def _tree_files(tmp_path: Path) -> list[Path]:
    files = {"pkg/__init__.py": "from .model import *\n", "pkg/model.py": MODEL, "pkg/util/helpers.py": "x = 1\n",
             "ns/deep/mod.py": "y = 2\n", "lib/flat.py": "z = 3\n"}
    names = ["torch", "numpy", "pkg", "pkg.model", "pkg.model.Tagger", "pkg.util.helpers", "ns.deep.mod",
             "flat", "missing", "missing.deeper.still"] + [f"absent{i}" for i in range(50)]
    for i in range(20):
        files[f"scripts/s{i}.py"] = "".join(f"import {n}\n" for n in names) + "from pkg import (\n    model,\n)\n"
    write(tmp_path, files)
    return sorted(p for p in tmp_path.rglob("*.py"))


def test_resolution_probes_no_file_per_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Folder listings only, each once, however many names are imported; no stat, exists or is_file."""
    paths = _tree_files(tmp_path)
    listed: list[str] = []
    tree = FolderTree(lambda folder: (listed.append(folder), real.listing(folder))[1])
    real = FolderTree()
    index = ModuleIndex([tmp_path, tmp_path / "lib"], tree=tree)
    for path in paths:
        index.module_of(path)  # naming the files lists their folders once, before any import is resolved
    texts = {str(path): path.read_text(encoding="utf-8") for path in paths}
    probes: list[str] = []
    for name in ("stat", "lstat"):
        original = getattr(os, name)
        monkeypatch.setattr(os, name, lambda p, *a, _o=original, **k: (probes.append(str(p)), _o(p, *a, **k))[1])
    graph = ImportGraph(index)
    for file, text in texts.items():
        graph.imports_of(file, text)
    monkeypatch.undo()
    assert probes == []
    assert len(listed) == len(set(listed)), "each folder is listed once"
    folders = {str(p) for p in tmp_path.rglob("*") if p.is_dir()} | {str(tmp_path)}
    assert set(listed) <= folders
    model = str(tmp_path / "pkg/model.py")
    assert graph.edges[str(tmp_path / "scripts/s0.py")] == {
        model, str(tmp_path / "pkg/__init__.py"), str(tmp_path / "pkg/util/helpers.py"),
        str(tmp_path / "ns/deep/mod.py"), str(tmp_path / "lib/flat.py")}


def test_the_index_is_a_function_of_the_file_list(tmp_path: Path) -> None:
    """The same files give the same answers from the disk or from a bare list, in any order."""
    paths = _tree_files(tmp_path)
    roots = [tmp_path, tmp_path / "lib"]
    on_disk = ModuleIndex(roots)
    listed = ModuleIndex(roots, tree=FolderTree.from_files(reversed(paths)))
    importer = tmp_path / "scripts/s3.py"
    for name in ("pkg", "pkg.model", "pkg.model.Tagger", "pkg.util", "pkg.util.helpers", "ns", "ns.deep.mod",
                 "flat", "torch", "scripts.s1", "s1"):
        assert on_disk.find(name, importer) == listed.find(name, importer), name
        assert on_disk.find_longest(name, importer) == listed.find_longest(name, importer), name
    for path in paths:
        assert on_disk.module_of(path) == listed.module_of(path)


def test_python_search_order(tmp_path: Path) -> None:
    """A package before a module before a namespace folder; namespace packages spread over roots; the importer's
    own top-package parent first, the configured roots next, its own folder last."""
    write(tmp_path, {"a/x/__init__.py": "", "a/x.py": "", "a/y.py": "", "a/y/z.py": "",
                     "b/ns/one.py": "", "c/ns/two.py": "", "b/lone.py": "", "c/lone.py": "",
                     "b/app/__init__.py": "", "b/app/main.py": "", "b/app/sibling.py": ""})
    index = ModuleIndex([tmp_path / "b", tmp_path / "c"])
    script = tmp_path / "a" / "run.py"
    assert index.find("x", script) == str(tmp_path / "a/x/__init__.py")
    assert index.find("y", script) == str(tmp_path / "a/y.py") and index.find("y.z", script) is None
    assert index.find("ns.one", script) == str(tmp_path / "b/ns/one.py")
    assert index.find("ns.two", script) == str(tmp_path / "c/ns/two.py")
    assert index.find("ns", script) is None  # a namespace package has no file
    assert index.find("lone", script) == str(tmp_path / "b/lone.py")
    main_py = tmp_path / "b/app/main.py"
    assert index.module_of(main_py) == (str(tmp_path / "b"), "app.main", False)
    assert index.find("app.sibling", main_py) == index.find("sibling", main_py) == str(tmp_path / "b/app/sibling.py")


PAREN_TRAIN = train("from pkg import (\n    model,\n)", "model.Tagger()")
CLEAN_MODEL = MODEL.replace("        return self.fc(out)\n", "        return self.fc(packed.data)\n")


@pytest.mark.order_sensitive
def test_cache_key_covers_the_parenthesised_import(tmp_path: Path) -> None:
    root = write(tmp_path, {"pkg/__init__.py": "", "pkg/model.py": CLEAN_MODEL, "train.py": PAREN_TRAIN})
    files = sorted(root.rglob("*.py"))
    assert not lint_paths(files, Options(cache_root=root)).findings
    (root / "pkg/model.py").write_text(MODEL, encoding="utf-8")
    warm = lint_paths(files, Options(cache_root=root))
    assert [(Path(f.path).name, f.code) for f in warm.findings] == [("train.py", "PKL001")]
    assert warm.findings == lint_paths(files, Options()).findings


@pytest.mark.order_sensitive
def test_run_cache_sees_a_new_module(tmp_path: Path) -> None:
    """A module created after a run changes what an import finds: the run's folder stamps notice."""
    root = write(tmp_path, {"pkg/__init__.py": "", "train.py": train("from pkg.model import Tagger")})
    args = [root / "train.py"], Options(cache_root=root)
    assert not lint_paths(*args).findings
    assert not lint_paths(*args).findings  # answered by the run cache
    write(root, {"pkg/model.py": MODEL})
    stamp = os.stat(root / "pkg").st_mtime_ns
    os.utime(root / "pkg", ns=(stamp + 10**9, stamp + 10**9))  # past the file system's clock tick
    assert [f.code for f in lint_paths(*args).findings] == ["PKL001"]
