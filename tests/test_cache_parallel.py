"""The result cache (keyed by content, version, config and import closure) and parallel analysis give exactly
the results of a cold, single-process run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from packlint.cli import main
from packlint.engine import Options, lint_paths

ROOT = Path(__file__).resolve().parent.parent

MODEL = """\
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 16, batch_first=True)
        self.head = nn.Linear(16, 5)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return self.head(out)
"""

LOSSES_CLEAN = """\
import torch.nn.functional as F


def compute_loss(logits, y, lengths):
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=-100)
"""

LOSSES_BAD = LOSSES_CLEAN.replace(", ignore_index=-100)", ")")

TRAIN = """\
from model import Tagger
from losses import compute_loss


def step(model: Tagger, x, lengths, y):
    logits = model(x, lengths)
    return compute_loss(logits, y, lengths)
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def _tree(tmp_path: Path, losses: str) -> Path:
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    (tmp_path / "losses.py").write_text(losses, encoding="utf-8")
    (tmp_path / "train.py").write_text(TRAIN, encoding="utf-8")
    return tmp_path


@pytest.mark.order_sensitive
def test_warm_run_matches_cold_and_editing_a_callee_rechecks_the_caller(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(_tree(tmp_path, LOSSES_CLEAN))
    cold = run(".")
    assert cold.exit_code == 0
    cache = tmp_path / ".packlint_cache"
    assert (cache / ".gitignore").read_text(encoding="utf-8").strip().endswith("*")
    assert run(".").stdout == cold.stdout
    # only the callee changes: the caller's key covers its import closure, so its new finding appears
    (tmp_path / "losses.py").write_text(LOSSES_BAD, encoding="utf-8")
    warm = run(".")
    assert warm.exit_code == 1
    assert warm.stdout.startswith("train.py:7:12: PKL001"), warm.stdout
    assert run("--no-cache", ".").stdout == warm.stdout


@pytest.mark.order_sensitive
def test_cached_run_parses_nothing(tmp_path: Path) -> None:
    _tree(tmp_path, LOSSES_BAD)
    files = sorted(tmp_path.glob("*.py"))
    cold = lint_paths(files, Options(cache_root=tmp_path))
    warm = lint_paths(files, Options(cache_root=tmp_path))
    assert cold.files_parsed > 0 and warm.files_parsed == 0
    assert warm.findings == cold.findings and warm.files_checked == cold.files_checked


def test_corrupt_or_foreign_cache_is_ignored_and_rebuilt(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(_tree(tmp_path, LOSSES_BAD))
    expected = run("--no-cache", ".").stdout
    assert not (tmp_path / ".packlint_cache").exists()
    assert run(".").stdout == expected
    entries = sorted((tmp_path / ".packlint_cache").rglob("*.json"))
    assert entries
    for junk in ("{not json", json.dumps({"key": "another", "value": {}}), json.dumps([1, 2]),
                 json.dumps({"key": None, "value": {"findings": 3}})):
        for entry in entries:
            entry.write_text(junk if "another" not in junk else junk.replace("another", entry.stem[::-1]),
                             encoding="utf-8")
        result = run(".")
        assert result.exit_code == 1 and result.stdout == expected
        assert all(json.loads(e.read_text(encoding="utf-8"))["key"] == e.stem for e in entries)


def test_config_change_invalidates(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(_tree(tmp_path, LOSSES_BAD))
    assert run(".").exit_code == 1
    (tmp_path / "pyproject.toml").write_text('[tool.packlint]\nignore = ["PKL001"]\n', encoding="utf-8")
    assert run(".").exit_code == 0


@pytest.mark.order_sensitive
def test_parallel_run_equals_serial_on_the_fixture_tree(tmp_path: Path) -> None:
    tree = tmp_path / "fixtures"
    shutil.copytree(ROOT / "fixtures", tree)
    files = sorted(tree.rglob("*.py"))
    serial = lint_paths(files, Options(jobs=1))
    parallel = lint_paths(files, Options(jobs=2))
    assert serial.findings and parallel.findings == serial.findings
    assert parallel.problems == serial.problems
