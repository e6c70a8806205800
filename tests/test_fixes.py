"""``--fix``, ``--unsafe-fixes`` and ``--diff`` through the command line (issue 17).

For each fix: the fixed file parses, only the intended statement changes (every other statement's AST is the
same), comments and formatting around it stay, and the finding is gone. ``--diff`` writes nothing and exits 1.
Unsafe fixes wait for ``--unsafe-fixes``. Notebooks are fixed as notebooks (magics kept, still valid), and left
alone, with a message, without nbformat.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from packlint.cli import main

HEADER = """\
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence
"""

PKL004 = HEADER + """

class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 16, batch_first=True)
        self.head = nn.Linear(16, 5)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out)  # the layout comment stays
        return self.head(out).view(-1, 5)


def train_step(model, x, tags, lengths):
    return F.cross_entropy(model(x, lengths), tags.view(-1), ignore_index=-100)


def main(x, tags, lengths):
    return train_step(Tagger(), x, tags, lengths)
"""

PKL007 = HEADER + """

def masked_loss(logits, targets, lengths):
    rnn_out, _ = pad_packed_sequence(logits, batch_first=True)
    per_step = F.cross_entropy(rnn_out.transpose(1, 2), targets, reduction="none")
    mask = (torch.arange(rnn_out.size(1))[None, :] < lengths[:, None]).float()
    return 2.0 * (per_step * mask).mean()
"""

IGNORE_INDEX = HEADER + """

def step(rnn, x, lengths, tag_lists):
    out, _ = pad_packed_sequence(rnn(pack_padded_sequence(x, lengths, batch_first=True))[0], batch_first=True)
    tags = pad_sequence(tag_lists, batch_first=True, padding_value=PAD)
    return F.cross_entropy(
        out.reshape(-1, out.size(-1)),
        tags.reshape(-1),
    )
"""

LAST_STEP = HEADER + """

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 16, batch_first=True, bidirectional=BIDIRECTIONAL)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        packed_out, (h_n, c_n) = self.lstm(packed)
        out, _ = pad_packed_sequence(packed_out, batch_first=True)
        return SINK
"""


def run(*args: str):
    return CliRunner().invoke(main, ["--no-cache", *args])


def write(tmp_path: Path, text: str, name: str = "m.py") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def statements(text: str) -> list[str]:
    """Every simple statement's AST (positions left out), in source order."""
    return [ast.dump(node) for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.stmt) and not hasattr(node, "body")]


def changed(old: str, new: str) -> list[str]:
    """The new source of the simple statements that differ; the fixed file must parse and keep every other
    statement's AST."""
    before, after = statements(old), statements(new)
    assert len(before) == len(after)
    new_lines = new.splitlines()
    out = []
    tree = [n for n in ast.walk(ast.parse(new)) if isinstance(n, ast.stmt) and not hasattr(n, "body")]
    for a, b, node in zip(before, after, tree):
        if a != b:
            out.append("\n".join(new_lines[node.lineno - 1:node.end_lineno]).strip())
    return out


def fix_and_check(tmp_path: Path, text: str, *flags: str, code: str) -> tuple[str, list[str]]:
    """Run ``--fix`` (with ``flags``) on ``text``; return the new text and the statements that changed, after
    checking that ``code`` was reported before and is gone after."""
    p = write(tmp_path, text)
    assert code in run(str(p)).stdout
    result = run("--fix", *flags, str(p))
    new = p.read_text(encoding="utf-8")
    assert code not in result.stdout, result.output
    assert code not in run(str(p)).stdout
    return new, changed(text, new)


def test_pkl004_unpack_gets_the_pack_batch_first(tmp_path: Path) -> None:
    new, diff = fix_and_check(tmp_path, PKL004, code="PKL004")
    assert diff == ["out, _ = pad_packed_sequence(out, batch_first=True)  # the layout comment stays"]


def test_diff_writes_nothing_and_exits_1(tmp_path: Path) -> None:
    p = write(tmp_path, PKL004)
    before = p.read_bytes()
    result = run("--diff", str(p))
    assert result.exit_code == 1
    assert p.read_bytes() == before
    assert result.stdout.startswith(f"--- {p}\n+++ {p}\n@@ ")
    assert "-        out, _ = pad_packed_sequence(out)  # the layout comment stays\n" in result.stdout
    assert "+        out, _ = pad_packed_sequence(out, batch_first=True)  # the layout comment stays\n" in result.stdout
    assert "Would fix 1 finding." in result.stderr
    assert run("--diff", str(p)).stdout == result.stdout  # deterministic


def test_diff_on_a_clean_file_exits_0(tmp_path: Path) -> None:
    p = write(tmp_path, PKL004.replace("pad_packed_sequence(out)", "pad_packed_sequence(out, batch_first=True)"))
    result = run("--diff", str(p))
    assert result.exit_code == 0 and result.stdout == ""


def test_pkl007_is_unsafe_and_keeps_precedence(tmp_path: Path) -> None:
    p = write(tmp_path, PKL007)
    result = run("--fix", str(p))
    assert result.exit_code == 1 and p.read_text(encoding="utf-8") == PKL007
    assert "Fixed 0 findings. 1 more fix available with --unsafe-fixes." in result.stderr
    new, diff = fix_and_check(tmp_path, PKL007, "--unsafe-fixes", code="PKL007")
    # inside an operation the quotient is parenthesised (it must be under a `/`, see below)
    assert diff == ["return 2.0 * ((per_step * mask).sum() / mask.sum())"]


def test_pkl007_fix_under_a_division_keeps_its_meaning(tmp_path: Path) -> None:
    text = PKL007.replace("return 2.0 * (per_step * mask).mean()", "return 1.0 / (per_step * mask).mean()")
    new, diff = fix_and_check(tmp_path, text, "--unsafe-fixes", code="PKL007")
    assert diff == ["return 1.0 / ((per_step * mask).sum() / mask.sum())"]


def test_ignore_index_negative_pad_is_safe_and_keeps_the_call_layout(tmp_path: Path) -> None:
    new, diff = fix_and_check(tmp_path, IGNORE_INDEX.replace("PAD", "-1"), code="PKL001")
    assert diff == ["return F.cross_entropy(\n        out.reshape(-1, out.size(-1)),\n        tags.reshape(-1),\n"
                    "        ignore_index=-1,\n    )"]


def test_ignore_index_goes_to_the_loss_not_to_a_call_on_its_result(tmp_path: Path) -> None:
    loss = "F.cross_entropy(out.reshape(-1, out.size(-1)), tags.reshape(-1))"
    text = IGNORE_INDEX.replace("PAD", "-1").replace(
        "F.cross_entropy(\n        out.reshape(-1, out.size(-1)),\n        tags.reshape(-1),\n    )", f"{loss}.mean()")
    assert f"{loss}.mean()" in text
    new, diff = fix_and_check(tmp_path, text, code="PKL001")
    assert diff == [f"return {loss[:-1]}, ignore_index=-1).mean()"]


def test_ignore_index_zero_pad_is_unsafe(tmp_path: Path) -> None:
    text = IGNORE_INDEX.replace("PAD", "0")
    p = write(tmp_path, text)
    assert "1 more fix available with --unsafe-fixes" in run("--fix", str(p)).stderr
    assert p.read_text(encoding="utf-8") == text
    new, diff = fix_and_check(tmp_path, text, "--unsafe-fixes", code="PKL001")
    assert "ignore_index=0," in diff[0]


def test_pkl003_uses_h_n(tmp_path: Path) -> None:
    text = LAST_STEP.replace("BIDIRECTIONAL", "False").replace("SINK", "out[:, -1]")
    new, diff = fix_and_check(tmp_path, text, code="PKL003")
    assert diff == ["return h_n[-1]"]


def test_pkl009_concatenates_both_directions_as_an_unsafe_fix(tmp_path: Path) -> None:
    text = LAST_STEP.replace("BIDIRECTIONAL", "True").replace(
        "SINK", "out[torch.arange(out.size(0)), lengths - 1]")
    p = write(tmp_path, text)
    assert "1 more fix available" in run("--fix", str(p)).stderr
    new, diff = fix_and_check(tmp_path, text, "--unsafe-fixes", code="PKL009")
    assert diff == ["return torch.cat([h_n[-2], h_n[-1]], 1)"]


POOLING = HEADER + """

def pool(gru, x, lengths):
    out, _ = pad_packed_sequence(gru(pack_padded_sequence(x, lengths, batch_first=True))[0], batch_first=True)
    return POOL
"""


@pytest.mark.parametrize("pool, expected", [
    ("out.mean(1)", "return out.masked_fill(torch.arange(out.size(1), device=out.device)[None, :, None] >= "
                    "torch.as_tensor(lengths, device=out.device)[:, None, None], 0.0).sum(1) / "
                    "torch.as_tensor(lengths, device=out.device)[:, None]"),
    ("2 * torch.mean(out, dim=1)", "return 2 * (out.masked_fill(torch.arange(out.size(1), device=out.device)"
                                   "[None, :, None] >= torch.as_tensor(lengths, device=out.device)[:, None, None], "
                                   "0.0).sum(1) / torch.as_tensor(lengths, device=out.device)[:, None])"),
    ("out.max(dim=1).values", "return out.masked_fill(torch.arange(out.size(1), device=out.device)[None, :, None] "
                              ">= torch.as_tensor(lengths, device=out.device)[:, None, None], "
                              'float("-inf")).max(dim=1).values'),
])
def test_pkl005_masked_mean_and_max(tmp_path: Path, pool: str, expected: str) -> None:
    new, diff = fix_and_check(tmp_path, POOLING.replace("POOL", pool), code="PKL005")
    assert diff == [expected]


ATTENTION = HEADER + """

def attend(gru, x, lengths, query):
    out, _ = pad_packed_sequence(gru(pack_padded_sequence(x, lengths, batch_first=True))[0], batch_first=True)
    scores = torch.bmm(out, query.unsqueeze(2)).squeeze(2)  # (B, T)
    weights = F.softmax(scores, dim=1)
    return (weights.unsqueeze(-1) * out).sum(1)
"""


def test_pkl006_masks_the_scores_from_the_lengths(tmp_path: Path) -> None:
    new, diff = fix_and_check(tmp_path, ATTENTION, code="PKL006")
    assert diff == ['weights = F.softmax(scores.masked_fill(torch.arange(scores.size(1), device=scores.device)'
                    '[None, :] >= torch.as_tensor(lengths, device=scores.device)[:, None], float("-inf")), dim=1)']


def test_pkl006_no_fix_without_lengths_in_scope_or_for_an_expression(tmp_path: Path) -> None:
    for text in (ATTENTION.replace("F.softmax(scores, dim=1)", "F.softmax(scores * 2, dim=1)"),
                 ATTENTION.replace("x, lengths, query", "x, batch, query").replace(
                     "pack_padded_sequence(x, lengths", "pack_padded_sequence(x, batch['lengths']")):
        p = write(tmp_path, text)
        assert "PKL006" in run(str(p)).stdout
        run("--fix", str(p))
        assert p.read_text(encoding="utf-8") == text


def test_pkl003_gathers_at_lengths_minus_1_without_h_n(tmp_path: Path) -> None:
    text = LAST_STEP.replace("BIDIRECTIONAL", "False").replace("SINK", "out[:, -1]").replace("(h_n, c_n)", "_")
    new, diff = fix_and_check(tmp_path, text, code="PKL003")
    assert diff == ["return out[torch.arange(out.size(0), device=out.device), "
                    "torch.as_tensor(lengths, device=out.device) - 1]"]


def test_no_fix_where_neither_h_n_nor_the_lengths_are_bound(tmp_path: Path) -> None:
    text = LAST_STEP.replace("BIDIRECTIONAL", "False").replace("SINK", "out[:, -1]").replace(
        "(h_n, c_n)", "_").replace("x, lengths):", "x, batch):").replace(
        "pack_padded_sequence(x, lengths", "pack_padded_sequence(x, batch['lengths']")
    p = write(tmp_path, text)
    assert "PKL003" in run(str(p)).stdout
    result = run("--fix", "--unsafe-fixes", str(p))
    assert result.exit_code == 1 and "PKL003" in result.stdout and "Fixed 0 findings." in result.stderr
    assert p.read_text(encoding="utf-8") == text


GATHER = ("return out[torch.arange(out.size(0), device=out.device), "
          "torch.as_tensor(lengths, device=out.device) - 1]")


def test_no_h_n_where_the_output_is_rebound(tmp_path: Path) -> None:
    """``out = torch.relu(out)`` between: ``h_n`` is no longer the value read; the gather still is."""
    text = LAST_STEP.replace("BIDIRECTIONAL", "False").replace("SINK", "out[:, -1]").replace(
        "        return out[:, -1]", "        out = torch.relu(out)\n        return out[:, -1]")
    new, diff = fix_and_check(tmp_path, text, code="PKL003")
    assert diff == [GATHER]


def test_lstm_state_tuple_bound_as_one_name_is_not_taken_for_h_n(tmp_path: Path) -> None:
    """``y, h = lstm(...)`` binds the (h_n, c_n) pair: ``h[-1]`` would be c_n."""
    text = LAST_STEP.replace("BIDIRECTIONAL", "False").replace("SINK", "out[:, -1]").replace("(h_n, c_n)", "h_n")
    new, diff = fix_and_check(tmp_path, text, code="PKL003")
    assert diff == [GATHER]


def test_encoding_bom_and_crlf_are_kept(tmp_path: Path) -> None:
    p = tmp_path / "m.py"
    p.write_bytes(b"\xef\xbb\xbf" + PKL004.replace("\n", "\r\n").encode("utf-8"))
    assert run("--fix", str(p)).exit_code == 0
    data = p.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\r\n") == PKL004.count("\n")
    assert b"pad_packed_sequence(out, batch_first=True)" in data


def test_editing_flags_refuse_stdin_and_each_other(tmp_path: Path) -> None:
    p = write(tmp_path, PKL004)
    alone = run("--unsafe-fixes", str(p))
    assert alone.exit_code == 1 and "--unsafe-fixes does nothing without --fix or --diff" in alone.stderr
    for args in (["--fix", "--diff", str(p)], ["--fix", "--add-noqa", str(p)], ["--fix", "-"]):
        result = run(*args)
        assert result.exit_code == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.output
    assert p.read_text(encoding="utf-8") == PKL004


# --- notebooks ------------------------------------------------------------------------------------------------

try:
    import nbformat
except ImportError:  # pragma: no cover - pinned in requirements-test.txt
    nbformat = None
needs_nbformat = pytest.mark.skipif(nbformat is None, reason="pip install nbformat")


def notebook(tmp_path: Path, cells: list[tuple[str, str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source) if kind == "code" else
                        nbformat.v4.new_markdown_cell(source))
    nb.metadata["language_info"] = {"name": "python"}
    p = tmp_path / "nb.ipynb"
    p.write_text(nbformat.writes(nb), encoding="utf-8")
    return p


@needs_nbformat
def test_notebook_is_fixed_as_a_notebook(tmp_path: Path) -> None:
    body = PKL004.split("\n\nclass", 1)[1]
    p = notebook(tmp_path, [("markdown", "# a tagger"), ("code", "%matplotlib inline\n" + HEADER),
                            ("code", "class" + body)])
    assert "cell 3" in run(str(p)).stdout
    result = run("--fix", str(p))
    assert result.exit_code == 0, result.output
    nb = nbformat.read(str(p), as_version=4)
    nbformat.validate(nb)
    assert nb.cells[1].source.startswith("%matplotlib inline\n")  # magics are kept
    assert "pad_packed_sequence(out, batch_first=True)  # the layout comment stays" in nb.cells[2].source
    assert changed("class" + body, nb.cells[2].source) == [
        "out, _ = pad_packed_sequence(out, batch_first=True)  # the layout comment stays"]


@needs_nbformat
def test_notebook_diff_names_the_cell(tmp_path: Path) -> None:
    body = PKL004.split("\n\nclass", 1)[1]
    p = notebook(tmp_path, [("code", HEADER), ("code", "class" + body)])
    before = p.read_bytes()
    result = run("--diff", str(p))
    assert result.exit_code == 1 and result.stdout.startswith(f"--- {p}:cell 2\n") and p.read_bytes() == before


@needs_nbformat
def test_without_nbformat_notebooks_are_left_alone(tmp_path: Path, monkeypatch) -> None:
    body = PKL004.split("\n\nclass", 1)[1]
    p = notebook(tmp_path, [("code", HEADER), ("code", "class" + body)])
    before = p.read_bytes()
    monkeypatch.setitem(sys.modules, "nbformat", None)  # import nbformat now raises ImportError
    for flag in ("--fix", "--add-noqa"):
        result = run(flag, str(p))
        assert result.exit_code == 2 and "nbformat, which is not installed" in result.stderr
        assert "Traceback" not in result.output and p.read_bytes() == before
    json.loads(before)


# --- fixed code on real tensors ---------------------------------------------------------------------------------


def test_fixed_forms_match_the_reference_on_tensors() -> None:
    """The fixes' claims, on tensors: ``h_n[-1]`` is each sequence's last real step (PKL003), the bidirectional
    ``cat`` is the forward state at ``lengths - 1`` and the backward one at step 0 (PKL009), ``sum / mask.sum``
    is the mean over real steps (PKL007)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    x, lengths = torch.randn(3, 5, 4), torch.tensor([5, 2, 3])
    rows = torch.arange(3)
    for bidirectional in (False, True):
        lstm = torch.nn.LSTM(4, 6, batch_first=True, num_layers=2, bidirectional=bidirectional)
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        packed_out, (h_n, _) = lstm(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True)
        if not bidirectional:
            assert torch.allclose(h_n[-1], out[rows, lengths - 1], atol=1e-6)
            assert not torch.allclose(h_n[-1], out[:, -1], atol=1e-6)  # what PKL003's fix replaces
        else:
            reference = torch.cat([out[rows, lengths - 1, :6], out[:, 0, 6:]], 1)
            assert torch.allclose(torch.cat([h_n[-2], h_n[-1]], 1), reference, atol=1e-6)
    out = torch.randn(3, 5, 4)
    padded_steps = torch.arange(out.size(1), device=out.device)[None, :, None] >= torch.as_tensor(
        lengths, device=out.device)[:, None, None]
    mean = out.masked_fill(padded_steps, 0.0).sum(1) / torch.as_tensor(lengths, device=out.device)[:, None]
    peak = out.masked_fill(padded_steps, float("-inf")).max(dim=1).values
    for i, n in enumerate(lengths.tolist()):  # PKL005's fix: mean and max over the real steps
        assert torch.allclose(mean[i], out[i, :n].mean(0)) and torch.equal(peak[i], out[i, :n].max(0).values)
    gathered = out[torch.arange(out.size(0), device=out.device), torch.as_tensor(lengths, device=out.device) - 1]
    assert torch.equal(gathered, torch.stack([out[i, n - 1] for i, n in enumerate(lengths.tolist())]))  # PKL003
    scores = torch.randn(3, 5)
    fixed = torch.softmax(scores.masked_fill(torch.arange(scores.size(1), device=scores.device)[None, :]
                                             >= torch.as_tensor(lengths, device=scores.device)[:, None],
                                             float("-inf")), dim=1)
    for i, n in enumerate(lengths.tolist()):  # PKL006's fix: a softmax over the real steps, 0 on padding
        assert torch.allclose(fixed[i, :n], torch.softmax(scores[i, :n], 0)) and not fixed[i, n:].any()
    loss = torch.rand(3, 5)
    mask = (torch.arange(5)[None, :] < lengths[:, None]).float()
    real_mean = torch.cat([loss[i, :n] for i, n in enumerate(lengths.tolist())]).mean()
    assert torch.allclose((loss * mask).sum() / mask.sum(), real_mean)
    assert not torch.allclose((loss * mask).mean(), real_mean)


# --- docs -------------------------------------------------------------------------------------------------------


def test_rules_offering_a_fix_have_a_fixer_and_a_labelled_fix_section() -> None:
    from packlint.docs_pages import page_for
    from packlint.fixes.apply import FIXERS
    from packlint.rules import registry

    offering = {r.code for r in registry() if r.fix is not None}
    assert offering == set(FIXERS)
    for rule in registry():
        page = page_for(rule.code)
        section = page.split("\n## Fix\n", 1)[1].split("\n## ", 1)[0]
        if rule.code in FIXERS:
            assert "**safe**" in section or "**unsafe**" in section, rule.code
        else:
            assert "No automatic fix" in section, rule.code


def test_fixes_survive_the_cache(tmp_path: Path) -> None:
    p = write(tmp_path, PKL004)
    cold = CliRunner().invoke(main, ["--diff", str(p)])
    assert (tmp_path / ".packlint_cache").is_dir()
    warm = CliRunner().invoke(main, ["--diff", str(p)])
    assert cold.exit_code == warm.exit_code == 1 and warm.stdout == cold.stdout and "batch_first=True" in warm.stdout


def test_fixing_the_fixture_tree_removes_exactly_the_fixed_findings(tmp_path: Path) -> None:
    """Every fix offered on the fixtures, applied at once: each file still parses, each fixed finding is gone, and
    no finding appears that was not there before (compared per file and code: a fix may move lines)."""
    import collections
    import shutil

    from packlint.fixes.apply import FIXERS

    root = Path(__file__).resolve().parent.parent / "fixtures"
    tree = tmp_path / "fixtures"
    for code in FIXERS:  # the folders of the rules that have fixes
        shutil.copytree(root / code, tree / code)

    def per_file_and_code(stdout: str) -> collections.Counter:
        return collections.Counter((line.split(":")[0], line.split()[1]) for line in stdout.splitlines())

    before = per_file_and_code(run(str(tree)).stdout)
    result = run("--fix", "--unsafe-fixes", str(tree))
    fixed = int(result.stderr.split("Fixed ", 1)[1].split()[0])
    after = per_file_and_code(result.stdout)
    assert fixed >= 20, result.stderr
    assert not after - before, after - before
    assert sum(before.values()) - sum(after.values()) == fixed
    for path in tree.rglob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"))


# --- the self-check's cases, fixed, on real tensors ---------------------------------------------------------------


def _changed_functions(old: str, new: str) -> set[str]:
    def functions(text: str) -> dict[str, str]:
        return {node.name: ast.dump(node) for node in ast.walk(ast.parse(text))
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}

    before, after = functions(old), functions(new)
    return {name for name in before if before[name] != after.get(name)}


#: the PKL003 and PKL005 cases train and compare many variants (about 20 s each): run them with this set
_ALL_CASES = bool(os.environ.get("PACKLINT_FIXED_SELFCHECK_ALL"))
_SLOW_CASE = pytest.mark.skipif(not _ALL_CASES, reason="slow (about 20 s): set PACKLINT_FIXED_SELFCHECK_ALL=1")


@pytest.mark.parametrize("code", [pytest.param("PKL003", marks=_SLOW_CASE), "PKL004",
                                  pytest.param("PKL005", marks=_SLOW_CASE), "PKL006", "PKL007"])
def test_fixed_selfcheck_case_matches_the_reference(tmp_path: Path, code: str) -> None:
    """The self-check's own case for the rule, with ``--fix --unsafe-fixes`` applied: every bad variant the fix
    changed now agrees with the reference (each sequence run alone) as closely as the good variants must."""
    pytest.importorskip("torch")
    import importlib.util

    from packlint.selfcheck.cases import CASE_MODULES
    from packlint.selfcheck.lab import Lab

    source = Path(__file__).resolve().parent.parent / "packlint" / "selfcheck" / "cases" / f"{CASE_MODULES[code]}.py"
    p = tmp_path / source.name
    text = source.read_text(encoding="utf-8")
    p.write_text(text, encoding="utf-8")
    result = run("--fix", "--unsafe-fixes", "--select", code, str(p))
    assert "Fixed 0 findings" not in result.stderr, result.output
    fixed = _changed_functions(text, p.read_text(encoding="utf-8"))
    assert fixed
    spec = importlib.util.spec_from_file_location(f"fixed_{code.lower()}", p)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = [row for row in module.evaluate(Lab("cpu")) if row.bad is not None and row.bad.name in fixed]
    assert rows
    for row in rows:
        assert not row.error and row.bad.deviation <= row.good_tolerance, (row.case, row.quantity, row.bad)


def test_json_output_says_which_fix_is_offered_and_reads_back(tmp_path: Path) -> None:
    from packlint.report.json_format import load

    p = write(tmp_path, PKL007)
    result = run("--output-format", "json", str(p))
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["fix"] == {"applicability": "unsafe", "message": finding["fix"]["message"],
                              "facts": {"mask": "mask"}}
    assert "rescales" in finding["fix"]["message"]
    (back,) = load(result.stdout).findings
    assert back.fix is not None and not back.fix.safe and back.fix.fact("mask") == "mask"


def test_a_file_that_cannot_be_written_is_reported_not_counted(tmp_path: Path, monkeypatch) -> None:
    p = write(tmp_path, PKL004)

    def refuse(self, data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_bytes", refuse)
    result = run("--fix", str(p))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"error: {p}: not edited: cannot write: Permission denied" in result.stderr
    assert "Fixed 0 findings." in result.stderr and "PKL004" in result.stdout
    assert p.read_text(encoding="utf-8") == PKL004
