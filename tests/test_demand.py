"""Roots on demand (issue 16, ``packlint/demand.py``): a function is analysed as a root only when padding can reach
it, and what escapes decides the next wave. Each test watches which functions the engine really analysed as roots
(``Project.root_analysis``, recorded), and the findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from packlint.analysis.project import Project
from packlint.engine import Options, lint_paths

MODEL = """\
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 16, batch_first=True)
        self.head = nn.Linear(16, 5)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return self.head(out)

    def describe(self):
        return "a tagger"


def tokenize(text):
    return text.split()
"""

TRAIN = """\
import torch.nn.functional as F
from model import Tagger


def step(x, lengths, y):
    logits = Tagger()(x, lengths)
    return F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))


def report(rows):
    return ", ".join(str(r) for r in rows)
"""

TRAINER = """\
import torch.nn.functional as F


class Trainer:
    def __init__(self, model):
        self.model = model

    def fit(self, x, lengths, y):
        logits = self.model(x, lengths)
        return F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))

    def name(self):
        return "trainer"
"""

USES_TRAINER = """\
from model import Tagger
from trainer import Trainer


def main():
    return Trainer(Tagger())
"""


@pytest.fixture()
def roots(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The qualified names of the functions analysed as roots during the test."""
    seen: set[str] = set()
    real = Project.root_analysis

    def record(self, func_id):
        seen.add(self.functions[func_id].qualname)
        return real(self, func_id)

    monkeypatch.setattr(Project, "root_analysis", record)
    return seen


def _lint(tmp_path: Path, files: dict[str, str]):
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return lint_paths(sorted(tmp_path.glob("*.py")), Options(jobs=1))


def _found(result) -> list[tuple[str, int, str]]:
    return sorted((Path(f.path).name, f.line, f.code) for f in result.findings)


def test_only_what_padding_reaches_runs_as_a_root(tmp_path: Path, roots: set[str]) -> None:
    result = _lint(tmp_path, {"model.py": MODEL, "train.py": TRAIN})
    assert _found(result) == [("train.py", 7, "PKL001")]
    assert {"Tagger.forward", "step"} <= roots
    # a helper beside the model, a method that never touches the output, a function of the importer that names
    # nothing padded: none of them can see padding as a root
    assert not roots & {"tokenize", "Tagger.describe", "report"}, roots


def test_a_model_held_by_another_class_reaches_its_methods(tmp_path: Path, roots: set[str]) -> None:
    """``Trainer(Tagger())`` in a third file: the trainer's ``model`` attribute holds a model whose forward pads,
    so the trainer's methods that read it are analysed (and the loss in ``fit`` is found); ``name`` is not."""
    result = _lint(tmp_path, {"model.py": MODEL, "trainer.py": TRAINER, "main.py": USES_TRAINER})
    assert _found(result) == [("trainer.py", 10, "PKL001")]
    assert "Trainer.fit" in roots and "Trainer.name" not in roots, roots


def test_a_callable_handed_padding_makes_its_callers_roots(tmp_path: Path, roots: set[str]) -> None:
    """``run`` pads a batch and hands it to the model it was given: only ``build`` knows which model that is."""
    runner = (
        "import torch\n"
        "from torch.nn.utils.rnn import pad_sequence\n\n\n"
        "def run(model, rows, lengths):\n"
        "    return model(pad_sequence([torch.tensor(r) for r in rows], batch_first=True), lengths)[:, -1]\n")
    build = "from model import Tagger\nfrom runner import run\n\n\ndef build(rows, lengths):\n" \
            "    return run(Tagger(), rows, lengths)\n"
    _lint(tmp_path, {"model.py": MODEL, "runner.py": runner, "build.py": build})
    assert "build" in roots, roots


def test_the_selected_run_finds_what_analysing_everything_finds(tmp_path: Path) -> None:
    files = {"model.py": MODEL, "train.py": TRAIN, "trainer.py": TRAINER, "main.py": USES_TRAINER}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    paths = sorted(tmp_path.glob("*.py"))
    everything = lint_paths(paths, Options(jobs=1, select_all=True))
    assert _found(lint_paths(paths, Options(jobs=1))) == _found(everything) != []


def test_a_script_that_names_a_hot_class_at_top_level_runs(tmp_path: Path) -> None:
    """A training script with no function: its body runs because its top-level code names the model."""
    script = ("import torch.nn.functional as F\nfrom model import Tagger\n\nmodel = Tagger()\n"
              "for x, lengths, y in batches:\n"
              "    loss = F.cross_entropy(model(x, lengths).reshape(-1, 5), y.reshape(-1))\n")
    result = _lint(tmp_path, {"model.py": MODEL, "script.py": script})
    assert _found(result) == [("script.py", 6, "PKL001")]


def test_what_escapes_in_one_group_never_decides_another(tmp_path: Path, roots: set[str]) -> None:
    """Two trees that import nothing of each other, linted together: a function of the second that happens to
    call something named like the first's hot method is no root (each group is a project of its own)."""
    other = "def forward(batch):\n    return batch\n\n\ndef caller(batch):\n    return forward(batch)\n"
    _lint(tmp_path, {"model.py": MODEL, "train.py": TRAIN, "other.py": other})
    assert "caller" not in roots, roots


ENCODER_ONLY = """\
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class CharEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 16, batch_first=True)

    def encode(self, chars, lengths):
        packed = pack_padded_sequence(chars, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return out


def load_encoder(path):
    return CharEncoder()
"""


def test_a_factory_of_a_class_that_pads_reaches_code_that_never_names_the_class(tmp_path: Path) -> None:
    """``load_encoder`` returns an encoder whose ``encode`` unpacks; the caller names neither the class nor a
    padding source, only the factory and the method."""
    use = ("from model import load_encoder\n\n\n"
           "def last_states(chars, lengths):\n"
           "    states = load_encoder('x.pt').encode(chars, lengths)\n"
           "    return states[:, -1]\n")
    result = _lint(tmp_path, {"model.py": ENCODER_ONLY, "use.py": use})
    assert _found(result) == [("use.py", 6, "PKL003")]


ATTENTION = """\
import torch


def attend(states, query):
    scores = torch.bmm(states, query.transpose(1, 2))
    weights = torch.softmax(scores, dim=1)
    return torch.bmm(weights.transpose(1, 2), states)
"""

DIRECT = """\
from torch.nn.utils.rnn import pad_packed_sequence
from attention import attend


def decode(packed, query):
    states, _ = pad_packed_sequence(packed, batch_first=True)
    return attend(states, query)
"""

THROUGH_LAYERS = """\
import torch
from torch.nn.utils.rnn import pad_packed_sequence
from attention import attend


def decode_projected(packed, query, proj):
    states, _ = pad_packed_sequence(packed, batch_first=True)
    states = torch.tanh(states.contiguous()).float()
    return attend(states, query)
"""


@pytest.mark.order_sensitive
def test_one_bug_reached_on_two_paths_is_told_the_same_whatever_runs_first(tmp_path: Path) -> None:
    """An attention helper that never masks, reached from two callers whose paths to the padding differ: one
    finding at its softmax, told with the shorter trail, whichever caller's file comes first."""
    told = []
    for first, second in (("aa_direct.py", "zz_layers.py"), ("aa_layers.py", "zz_direct.py")):
        root = tmp_path / first.split("_")[1]
        root.mkdir()
        sources = {"attention.py": ATTENTION, first: DIRECT if "direct" in first else THROUGH_LAYERS,
                   second: DIRECT if "direct" in second else THROUGH_LAYERS}
        result = _lint(root, sources)
        # the same words but for the folder and the callers' prefixes, which differ by construction
        told.append([(Path(f.path).name, f.line, f.code, len(f.trail),
                      f.message.replace(f"{root}/", "").replace("aa_", "").replace("zz_", ""))
                     for f in result.findings])
    assert told[0] == told[1] and [t[:3] for t in told[0]] == [("attention.py", 6, "PKL006")], told


COLLATE = """\
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_packed_sequence


class Unpacked:
    def __init__(self, packed):
        self.batch_first = True
        self.out = self._unpack(packed)

    def _unpack(self, packed):
        out, _ = pad_packed_sequence(packed, batch_first=self.batch_first)
        return out


def loss(packed, y):
    return F.cross_entropy(Unpacked(packed).out.flatten(0, 1), y.flatten())
"""


def test_a_constructor_reading_what_it_just_stored_settles_in_one_round(tmp_path: Path, monkeypatch) -> None:
    """``__init__`` stores ``self.batch_first`` and calls a method that reads it: the first round reads what the
    running constructor holds (the table has nothing yet), which is what the table ends with, so no second round
    analyses everything that read it again. The finding is the same either way."""
    (tmp_path / "collate.py").write_text(COLLATE, encoding="utf-8")
    rounds: list[int] = []
    real = Project.rounds

    def counted(self):
        for number in real(self):
            rounds.append(number)
            yield number

    monkeypatch.setattr(Project, "rounds", counted)
    result = lint_paths([tmp_path / "collate.py"], Options())
    assert [(f.code, f.line) for f in result.findings] == [("PKL001", 16)], result.findings
    assert rounds == [1]
