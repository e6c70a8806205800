"""Caches that are never stale (issue 19, item 3): each defect of the issue, reproduced through the real CLI.

Each test runs packlint with its cache, changes something a result depends on, and demands what ``--no-cache``
prints. Modification times are set back to a fixed old date where a test needs it: that is what ``cp -p``, ``tar``
and ``rsync -a`` leave behind, and what an edit inside one tick of a coarse file-system clock looks like, so a
cache that trusted times would be caught.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

import packlint.engine
from packlint.cli import main
import sources

OLD = 978_307_200  # 2001-01-01: a time no run of these tests can be near


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def backdate(root: Path) -> None:
    """Every file and folder under ``root`` (itself included) modified long ago."""
    for folder, dirs, files in os.walk(root):
        for name in files + dirs:
            os.utime(os.path.join(folder, name), (OLD, OLD))
    os.utime(root, (OLD, OLD))


@contextmanager
def times_kept(root: Path):
    """Whatever changes inside the block, every path that existed before keeps its modification time (a change
    inside one tick of the file system's clock); new paths get the oldest of them."""
    before = {p: p.stat().st_mtime_ns for p in [root, *root.rglob("*")]}
    yield
    oldest = min(before.values())
    for p in [root, *root.rglob("*")]:
        t = before.get(p, oldest)
        os.utime(p, ns=(t, t))


def same_as_uncached(*args: str) -> str:
    cached, fresh = run(*args), run("--no-cache", *args)
    assert (cached.exit_code, cached.stdout) == (fresh.exit_code, fresh.stdout), (cached.output, fresh.output)
    return cached.stdout


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def no_analysis(monkeypatch: pytest.MonkeyPatch):
    """After this, a run that analyses anything fails: what it prints must come from the cache."""

    def enable() -> None:
        def refuse(*args, **kwargs):
            raise AssertionError("analysed although the cache had the answer")

        monkeypatch.setattr(packlint.engine, "lint_sources", refuse)

    return enable


TRAIN = """\
import torch.nn.functional as F
from helpers import unpack


def step(rnn, x, lengths, y):
    out = unpack(rnn, x, lengths)
    return F.cross_entropy(out.flatten(0, 1), y.flatten())
"""

HELPERS = """\
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def unpack(rnn, x, lengths):
    out, _ = pad_packed_sequence(rnn(pack_padded_sequence(x, lengths, batch_first=True))[0], batch_first=True)
    return out
"""


def test_a_module_created_after_a_cached_run_is_seen_by_an_explicit_file_run(work: Path) -> None:
    (work / "train.py").write_text(TRAIN, encoding="utf-8")
    backdate(work)
    assert run("train.py").exit_code == 0  # `helpers` is not in the tree yet: nothing padded reaches the loss
    with times_kept(work):
        (work / "helpers.py").write_text(HELPERS, encoding="utf-8")
    out = same_as_uncached("train.py")
    assert out.startswith("train.py:7:12: PKL001 "), out


ENCODER = sources.encoder(pool_default=False)

BUILDS = "from model import Enc\n\n\ndef run(x, lengths):\n    enc = Enc(pool=False)\n    return enc(x, lengths)\n"


@pytest.mark.parametrize("old_times", [False, True])
def test_editing_an_importer_changes_the_imported_modules_result(work: Path, old_times: bool) -> None:
    """model.py's own text never changes; only main.py's construction does, and with it whether the pooling
    branch in model.py runs."""
    (work / "model.py").write_text(ENCODER, encoding="utf-8")
    (work / "main.py").write_text(BUILDS, encoding="utf-8")
    if old_times:
        backdate(work)
    assert same_as_uncached(".") == ""
    (work / "main.py").write_text(BUILDS.replace("pool=False", "pool=True"), encoding="utf-8")
    if old_times:
        backdate(work)
    assert same_as_uncached(".").startswith("model.py:15:20: PKL005 ")
    (work / "main.py").write_text(BUILDS, encoding="utf-8")
    if old_times:
        backdate(work)
    assert same_as_uncached(".") == ""


BAD = """\
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_packed_sequence


def step(packed, y):
    out, _ = pad_packed_sequence(packed, batch_first=True)
    return F.cross_entropy(out.flatten(0, 1), y.flatten())
"""


@pytest.mark.parametrize("old_times", [False, True])
def test_editing_a_nested_pyproject_invalidates(work: Path, old_times: bool) -> None:
    (work / "pyproject.toml").write_text("[tool.packlint]\n", encoding="utf-8")
    (work / "sub").mkdir()
    (work / "sub" / "pyproject.toml").write_text("[project]\nname = 'sub'\n", encoding="utf-8")
    (work / "sub" / "bad.py").write_text(BAD, encoding="utf-8")
    (work / "top.py").write_text(BAD, encoding="utf-8")
    if old_times:
        backdate(work)
    assert same_as_uncached(".").count(" PKL001 ") == 2
    # the nested pyproject.toml gains a [tool.packlint] table: it now applies to sub/bad.py
    (work / "sub" / "pyproject.toml").write_text("[tool.packlint]\nignore = ['PKL001']\n", encoding="utf-8")
    if old_times:
        backdate(work)
    out = same_as_uncached(".")
    assert out.startswith("top.py:7:12: PKL001 ") and out.count(" PKL001 ") == 1, out
    (work / "sub" / "pyproject.toml").write_text("[tool.packlint]\nignore = ['PKL005']\n", encoding="utf-8")
    if old_times:
        backdate(work)
    assert same_as_uncached(".").count(" PKL001 ") == 2
    (work / "sub" / "pyproject.toml").unlink()
    if old_times:
        backdate(work)
    assert same_as_uncached(".").count(" PKL001 ") == 2


V3_NOTEBOOK = """\
{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"metadata": {}, "cells": [
 {"cell_type": "code", "language": "python", "collapsed": false, "metadata": {}, "outputs": [], "input": [
  "import torch.nn.functional as F\\n",
  "from torch.nn.utils.rnn import pad_packed_sequence\\n",
  "out, _ = pad_packed_sequence(packed, batch_first=True)\\n",
  "loss = F.cross_entropy(out.flatten(0, 1), y.flatten())\\n"]}]}]}
"""


@pytest.mark.parametrize("first, second", [("absent", "present"), ("present", "absent")])
def test_results_cached_with_one_set_of_readers_are_not_served_to_another(work: Path, monkeypatch, first: str,
                                                                         second: str) -> None:
    (work / "old.ipynb").write_text(V3_NOTEBOOK, encoding="utf-8")
    analyses = []
    real = packlint.engine.lint_sources
    monkeypatch.setattr(packlint.engine, "lint_sources", lambda *a, **k: analyses.append(1) or real(*a, **k))
    outputs = {}
    for readers in (first, second, first):
        with monkeypatch.context() as m:
            if readers == "absent":
                m.setitem(sys.modules, "nbformat", None)  # `import nbformat` fails, as when it is not installed
            outputs.setdefault(readers, []).append(same_as_uncached("old.ipynb"))
    assert outputs["absent"][0] == outputs["present"][0]
    assert outputs["absent"][0].startswith("old.ipynb:cell 1:4:8: PKL001 ")
    # each `same_as_uncached` analyses once without the cache; the cached runs: first, second (a miss), first (hit)
    assert len(analyses) == 3 + 2


A = BAD.replace("def step", "def step_a")
B = BAD.replace("def step", "def step_b")


def test_concurrent_runs_do_not_lose_each_others_entries(work: Path, monkeypatch, no_analysis) -> None:
    """Run B starts and finishes while run A is writing its cache (at A's first atomic rename): B's entries must
    survive A's write. Afterwards both are answered from the cache alone."""
    (work / "a.py").write_text(A, encoding="utf-8")
    (work / "b.py").write_text(B, encoding="utf-8")
    expected = {name: run("--no-cache", name).stdout for name in ("a.py", "b.py")}
    real_replace = os.replace
    interleaved = []

    def replace_after_b(src, dst, *args, **kwargs):
        if not interleaved:
            interleaved.append(None)  # B's own writes go straight through
            interleaved[0] = run("b.py")
        return real_replace(src, dst, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(os, "replace", replace_after_b)
        first = run("a.py")
    assert interleaved and interleaved[0].stdout == expected["b.py"]
    assert first.stdout == expected["a.py"]
    no_analysis()
    for name in ("a.py", "b.py"):
        again = run(name)
        assert (again.exit_code, again.stdout) == (1, expected[name]), again.output


def test_a_warm_run_of_an_unchanged_old_tree_analyses_nothing(work: Path, no_analysis) -> None:
    (work / "model.py").write_text(ENCODER, encoding="utf-8")
    (work / "main.py").write_text(BUILDS.replace("pool=False", "pool=True"), encoding="utf-8")
    backdate(work)
    cold = run(".")
    no_analysis()
    warm = run(".")
    assert (warm.exit_code, warm.stdout) == (cold.exit_code, cold.stdout) == (1, cold.stdout)


def test_an_unchanged_old_tree_is_answered_by_the_run_manifest_without_loading_a_file(work: Path, monkeypatch
                                                                                    ) -> None:
    (work / "model.py").write_text(ENCODER, encoding="utf-8")
    (work / "main.py").write_text(BUILDS.replace("pool=False", "pool=True"), encoding="utf-8")
    backdate(work)
    cold = run(".")

    def refuse(*args, **kwargs):
        raise AssertionError("loaded files although the run manifest had the answer")

    with monkeypatch.context() as m:
        m.setattr(packlint.engine, "_lint_paths", refuse)
        warm = run(".")
    assert (warm.exit_code, warm.stdout) == (1, cold.stdout)
    # other bytes under the same old time: re-checked
    with times_kept(work):
        (work / "main.py").write_text(BUILDS.replace("pool=False", "pool=0"), encoding="utf-8")
    assert same_as_uncached(".") == ""


def test_entries_unused_for_a_month_are_swept_at_most_once_a_day(work: Path) -> None:
    (work / "bad.py").write_text(BAD, encoding="utf-8")
    cache = work / ".packlint_cache"
    expected = run(".").stdout
    assert expected.startswith("bad.py:7:12: PKL001 ")
    (cache / "results-v1.json").write_text('{"packlint": "0.0", "entries": {}}', encoding="utf-8")
    stale = cache / "v2" / "ff" / ("f" * 64 + ".json")
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text('{"key": "old", "value": {}}', encoding="utf-8")
    os.utime(stale, (OLD, OLD))
    assert run(".").stdout == expected
    assert stale.exists()  # swept already today (the first run made the marker)
    assert not (cache / "results-v1.json").exists()  # the shared file of the old format is deleted on sight
    os.utime(cache / ".swept", (OLD, OLD))
    assert run(".").stdout == expected
    assert not stale.exists()
    assert [p for p in cache.rglob("*.json")], "the entries of this run are kept"
    assert run(".").stdout == expected


def test_a_file_edited_while_a_run_reads_the_tree_is_checked_again_by_the_next_run(work: Path, monkeypatch
                                                                                  ) -> None:
    """The edit lands after the run read main.py and before it records what it read: the run's own answer is
    about the old text, so nothing may record the new text as answered."""
    (work / "model.py").write_text(ENCODER, encoding="utf-8")
    (work / "main.py").write_text(BUILDS, encoding="utf-8")
    backdate(work)
    real = packlint.engine.select_needed

    def edit_meanwhile(*args, **kwargs):
        (work / "main.py").write_text(BUILDS.replace("pool=False", "pool=True"), encoding="utf-8")
        return real(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(packlint.engine, "select_needed", edit_meanwhile)
        assert run(".").stdout == ""  # what the files held when they were read
    assert same_as_uncached(".").startswith("model.py:15:20: PKL005 ")


def test_the_same_tree_linted_from_another_folder_prints_its_own_paths(work: Path, monkeypatch) -> None:
    (work / "pyproject.toml").write_text("[tool.packlint]\n", encoding="utf-8")
    (work / "sub").mkdir()
    (work / "sub" / "bad.py").write_text(BAD, encoding="utf-8")
    backdate(work)
    assert same_as_uncached("sub").startswith("sub/bad.py:7:12: PKL001 ")
    monkeypatch.chdir(work / "sub")
    assert same_as_uncached(".").startswith("bad.py:7:12: PKL001 ")
    assert f"padded since {work / 'sub' / 'bad.py'}:6" in same_as_uncached(str(work / "sub"))
