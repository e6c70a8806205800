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
