"""The server's workspace without a client: what an edit re-analyses, and what it reuses (no pygls needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import packlint.server.workspace as workspace_module
from packlint.server.actions import ActionRequest, actions_for, noqa_actions
from packlint.server.workspace import Workspace
from test_cli import BAD

MODEL = BAD.split("def step")[0]
TRAIN = """\
import torch.nn.functional as F
from model import Tagger


def step(model: Tagger, x, lengths, y):
    logits = model(x, lengths)
    return F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))
"""
LOSS_HELPER = """\
import torch.nn.functional as F


def tagging_loss(logits, y):
    return F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))
"""
HELPER_CALLER = MODEL + """

from losses import tagging_loss


def step(model: Tagger, x, lengths, y):
    return tagging_loss(model(x, lengths), y)
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    (tmp_path / "train.py").write_text(TRAIN, encoding="utf-8")
    (tmp_path / "unrelated.py").write_text("from torch.nn.utils.rnn import pad_sequence\ndef f(:\n", encoding="utf-8")
    return tmp_path


def test_only_the_import_connected_part_is_analysed(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    analysed: list[list[str]] = []
    real = workspace_module.lint_sources
    monkeypatch.setattr(workspace_module, "lint_sources",
                        lambda files, *a, **k: analysed.append(sorted(f.path for f in files)) or real(files, *a, **k))
    ws = Workspace([str(tree)])
    outcome = ws.lint(str(tree / "train.py"))
    assert [(f.path, f.line, f.code) for f in outcome.findings] == [("train.py", 7, "PKL001")]
    assert analysed == [["model.py", "train.py"]]  # unrelated.py (a syntax error) is never read
    assert outcome.read == {str(tree / "model.py"), str(tree / "train.py")}


def test_an_unchanged_document_reuses_its_result(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace([str(tree)])
    first = ws.lint(str(tree / "train.py"))
    monkeypatch.setattr(workspace_module, "lint_sources", lambda *a, **k: pytest.fail("analysed again"))
    assert ws.lint(str(tree / "train.py")) is first
    ws.put(str(tree / "model.py"), MODEL + "\n")  # a file it read changed: analysed again
    monkeypatch.undo()
    assert ws.lint(str(tree / "train.py")) is not first


def test_a_loss_helper_reports_in_the_caller_found_among_the_importers(tmp_path: Path) -> None:
    (tmp_path / "losses.py").write_text(LOSS_HELPER, encoding="utf-8")
    (tmp_path / "run.py").write_text(HELPER_CALLER, encoding="utf-8")
    ws = Workspace([str(tmp_path)])
    assert ws.lint(str(tmp_path / "losses.py")).read >= {str(tmp_path / "run.py")}
    assert [f.code for f in ws.lint(str(tmp_path / "run.py")).findings] == ["PKL001"]


def test_a_broken_configuration_is_one_problem(tree: Path) -> None:
    (tree / "packlint.toml").write_text("selec = []\n", encoding="utf-8")
    outcome = Workspace([str(tree)]).lint(str(tree / "train.py"))
    assert [(p.kind, "unknown key 'selec'" in p.message) for p in outcome.problems] == [("config-error", True)]


def test_an_excluded_file_shows_nothing_and_a_vanished_one_its_buffer(tree: Path) -> None:
    (tree / "packlint.toml").write_text('extend-exclude = ["train.py"]\n', encoding="utf-8")
    ws = Workspace([str(tree)])
    assert ws.lint(str(tree / "train.py")).findings == []
    (tree / "packlint.toml").unlink()
    (tree / "train.py").unlink()
    ws.forget_disk()
    assert ws.lint(str(tree / "train.py")).findings == []  # no buffer, no file: nothing
    ws.put(str(tree / "train.py"), TRAIN)
    assert [f.code for f in ws.lint(str(tree / "train.py")).findings] == ["PKL001"]


def test_noqa_action_merges_and_skips_silenced_or_stale_lines() -> None:
    text = "a = f(x)  # noqa: E501\nb = g(x)  # noqa\nc = h(x)\n"
    actions = noqa_actions(ActionRequest("t.py", text, ((1, "PKL001"), (2, "PKL001"), (9, "PKL001"), (3, "E1"))))
    assert [(a.title, a.edits[0].text) for a in actions] == [
        ("packlint: add `# noqa: PKL001`", "a = f(x)  # noqa: E501, PKL001")]


def test_a_failing_fix_provider_does_not_take_the_others_away() -> None:
    def broken(request):
        raise RuntimeError("boom")

    request = ActionRequest("t.py", "x = 1\n", ((1, "PKL001"),))
    assert [a.title for a in actions_for(request, [broken, noqa_actions])] == ["packlint: add `# noqa: PKL001`"]
