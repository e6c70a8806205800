"""The benchmark script runs end to end on a tiny corpus, so it cannot rot (its targets live in RESULTS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_runs_on_a_tiny_corpus(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--files", "20", "--runs", "1",
                           "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["realistic_files_total"] >= 20
    assert 0 < report["realistic_files_parsed"] <= report["realistic_files_total"]
    assert report["startup_version_s"] > 0 and report["warm_s"] > 0 and report["worst_j1_s"] > 0


def test_corpus_generator_is_deterministic(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from make_corpus import generate
    finally:
        sys.path.pop(0)
    a = generate(tmp_path / "a", 30, 0.1, 0.2, all_packing=False, seed=3)
    b = generate(tmp_path / "b", 30, 0.1, 0.2, all_packing=False, seed=3)
    assert a == b and a["packing"] == 3 and a["importer"] == 6
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.py"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.py"))
    assert files_a == files_b
    assert all((tmp_path / "a" / f).read_text() == (tmp_path / "b" / f).read_text() for f in files_a)


def _tiny_tree(tmp_path: Path) -> Path:
    """A package whose model unpacks, and a script that builds it."""
    tree = tmp_path / "tiny"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text("from .model import Tagger\n", encoding="utf-8")
    (tree / "pkg" / "model.py").write_text(
        "import torch.nn as nn\n"
        "from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence\n\n\n"
        "class Tagger(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.rnn = nn.LSTM(8, 8, batch_first=True)\n\n"
        "    def forward(self, x, lengths):\n"
        "        out, _ = self.rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))\n"
        "        out, _ = pad_packed_sequence(out, batch_first=True)\n"
        "        return out.mean(dim=1)\n", encoding="utf-8")
    (tree / "train.py").write_text("from pkg import Tagger\n\nmodel = Tagger()\n", encoding="utf-8")
    return tree


def test_tree_mode_measures_a_local_tree_and_a_generated_shape(tmp_path: Path) -> None:
    tree = _tiny_tree(tmp_path)
    (tree / ".real_repos_commit").write_text("0123456789abcdef\n", encoding="utf-8")
    out = tmp_path / "trees.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--tree", str(tree),
                           "--generate", "chain-hub:12", "--generate", "chain:8:worst", "--chain-length", "4",
                           "--runs", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "| tiny | 0123456789ab |" in proc.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    local, generated, worst = report["trees"]
    assert local["commit"] == "0123456789abcdef" and local["files_checked"] == 3
    assert 0 < local["files_parsed"] <= 3 and local["findings"] >= 0 and local["errors"] == 0
    assert generated["generated"] == "chain-hub:12" and generated["files_checked"] >= 12
    assert worst["generated"] == "chain:8:worst" and worst["corpus"]["packing"] == 8
    assert worst["files_parsed"] >= 8  # every module unpacks: each one is parsed
    for row in (local, generated, worst):
        assert row["packlint_s"] > 0 and row["peak_rss_mib"] > 0 and row["runs"] == 1
        assert row["ast_parse_s"] > 0 and row["vs_ast_parse"] == row["packlint_s"] / row["ast_parse_s"]
        assert len(row["packlint_runs_s"]) == 1
        if row["ruff_s"] is not None:
            assert row["ratio"] == row["packlint_s"] / row["ruff_s"]


def test_shaped_corpora_chain_and_reexport_deterministically(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from make_corpus import generate
    finally:
        sys.path.pop(0)
    a = generate(tmp_path / "a", 40, 0.05, 0.2, all_packing=False, seed=5, shape="chain-hub", chain_length=10)
    b = generate(tmp_path / "b", 40, 0.05, 0.2, all_packing=False, seed=5, shape="chain-hub", chain_length=10)
    assert a == b and a["packing"] == 2 and a["importer"] == 8 and a["chain_links"] == 36
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.py"))
    assert files_a == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.py"))
    assert all((tmp_path / "a" / f).read_text() == (tmp_path / "b" / f).read_text() for f in files_a)
    hub = (tmp_path / "a" / "proj" / "sub3" / "__init__.py").read_text()
    assert "from .m3 import *" in hub and "from .m23 import *" in hub
    assert "from .sub3 import *" in (tmp_path / "a" / "proj" / "__init__.py").read_text()
    m5 = (tmp_path / "a" / "proj" / "sub5" / "m5.py").read_text()
    assert "from proj.sub4 import accuracy0_4\n" in m5 and "accuracy0_4(logits, labels)" in m5
    assert "import accuracy0_" not in (tmp_path / "a" / "proj" / "sub10" / "m10.py").read_text()  # chain start
    chain = generate(tmp_path / "c", 40, 0.05, 0.2, all_packing=False, seed=5, shape="chain", chain_length=10)
    assert chain["hub_reexports"] == 0
    assert "from proj.sub4.m4 import accuracy0_4\n" in (tmp_path / "c" / "proj" / "sub5" / "m5.py").read_text()
    assert (tmp_path / "c" / "proj" / "sub5" / "__init__.py").read_text() == ""
    for tree in (tmp_path / "a", tmp_path / "c"):  # every generated module is valid Python
        for f in tree.rglob("*.py"):
            compile(f.read_text(), str(f), "exec")


def test_phases_split_a_run_and_add_up(tmp_path: Path) -> None:
    """``phases.py`` times each phase of a real run on a tiny tree: every phase is there, none is negative, and
    together with the rest they make the run (the floor is the run less its analysis)."""
    tree = _tiny_tree(tmp_path)
    out = tmp_path / "phases.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "phases.py"), "--runs", "1", "--json", str(out),
                           str(tree)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(out.read_text(encoding="utf-8"))
    phases = ("startup", "discover", "read", "select", "parse", "analyse", "other")
    assert all(row[p] >= 0 for p in phases), row
    assert row["parse"] > 0 and row["analyse"] > 0, row  # the file that unpacks was parsed and analysed
    assert abs(sum(row[p] for p in phases) - row["total"]) < 1e-6, row
    assert abs(row["floor"] - (row["total"] - row["analyse"])) < 1e-6, row
    assert "| tiny |" in proc.stdout
