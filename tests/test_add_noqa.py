"""``--add-noqa`` never changes code (issue 17), and a ``# noqa`` anywhere in the finding's statement counts.

Through the command line: after a trailing backslash, on a line that opens a multi-line string, on a line whose
string holds ``"# noqa"``, in a notebook cell; each time the AST is unchanged and the next run is clean. A
property test runs the placement over generated programs and asserts an unchanged AST.
"""

from __future__ import annotations

import ast
import collections
import io
import tokenize
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from packlint.cli import main
from packlint.fixes.noqa import add_noqa_to

PROGRAM = """\
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def loss_fn(rnn: nn.GRU, x, lengths, y):
    out, _ = pad_packed_sequence(rnn(pack_padded_sequence(x, lengths, batch_first=True))[0], batch_first=True)
    SINK
"""
CALL = "F.cross_entropy(out.reshape(-1, out.size(-1)), y.reshape(-1))"


def run(*args: str):
    return CliRunner().invoke(main, ["--no-cache", *args])


def add_noqa_and_check(tmp_path: Path, sink: str, expected_lines: list[str]) -> str:
    text = PROGRAM.replace("SINK", sink)
    p = tmp_path / "m.py"
    p.write_text(text, encoding="utf-8")
    assert run(str(p)).exit_code == 1
    result = run("--add-noqa", str(p))
    assert result.exit_code == 0 and "Added 1 noqa directive." in result.stderr, result.output
    new = p.read_text(encoding="utf-8")
    assert ast.dump(ast.parse(new)) == ast.dump(ast.parse(text))
    for line in expected_lines:
        assert line in new.splitlines(), new
    assert run(str(p)).exit_code == 0
    assert "Added 0 noqa directives." in run("--add-noqa", str(p)).stderr and p.read_text(encoding="utf-8") == new
    return new


def test_after_a_backslash_the_comment_goes_to_the_statement_end(tmp_path: Path) -> None:
    add_noqa_and_check(tmp_path, f"loss = \\\n        {CALL}",
                       ["    loss = \\", f"        {CALL}  # noqa: PKL001"])


def test_never_inside_a_string_opening_on_the_line(tmp_path: Path) -> None:
    add_noqa_and_check(tmp_path, f'loss = {CALL}; note = """padded\n    steps"""',
                       [f'    loss = {CALL}; note = """padded', '    steps"""  # noqa: PKL001'])


def test_a_string_holding_noqa_is_not_a_directive(tmp_path: Path) -> None:
    add_noqa_and_check(tmp_path, f'loss = {CALL}; tag = "# noqa"',
                       [f'    loss = {CALL}; tag = "# noqa"  # noqa: PKL001'])


def test_merged_into_an_existing_noqa_and_after_another_comment(tmp_path: Path) -> None:
    add_noqa_and_check(tmp_path, f"loss = {CALL}  # noqa: E501",
                       [f"    loss = {CALL}  # noqa: E501, PKL001"])
    add_noqa_and_check(tmp_path, f"loss = {CALL}  # the loss",
                       [f"    loss = {CALL}  # the loss  # noqa: PKL001"])


MULTI_LINE = """loss = F.cross_entropy(
        out.reshape(-1, out.size(-1)),COMMENT
        y.reshape(-1),
    )"""


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_noqa_anywhere_in_the_statement_suppresses(tmp_path: Path, where: str) -> None:
    lines = MULTI_LINE.replace("COMMENT", "").splitlines()
    at = {"first": 0, "middle": 1, "last": 3}[where]
    lines[at] += "  # noqa: PKL001"
    p = tmp_path / "m.py"
    p.write_text(PROGRAM.replace("SINK", "\n".join(lines)), encoding="utf-8")
    assert run(str(p)).exit_code == 0
    p.write_text(PROGRAM.replace("SINK", "\n".join(lines) + "\n    # noqa: PKL001 on its own line: not this one's"),
                 encoding="utf-8")
    assert run(str(p)).exit_code == 0
    p.write_text(PROGRAM.replace("SINK", "# noqa: PKL001 above\n    " + MULTI_LINE.replace("COMMENT", "")),
                 encoding="utf-8")
    assert run(str(p)).exit_code == 1  # a comment line above the statement is not in it


try:
    import nbformat
except ImportError:  # pragma: no cover - pinned in requirements-test.txt
    nbformat = None


@pytest.mark.skipif(nbformat is None, reason="pip install nbformat")
def test_notebook_cells_are_edited_as_cells(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    head, body = PROGRAM.split("\n\n\n")
    nb.cells = [nbformat.v4.new_markdown_cell("# losses"), nbformat.v4.new_code_cell("%load_ext autoreload\n" + head),
                nbformat.v4.new_code_cell(body.replace("SINK", f"return \\\n        {CALL}"))]
    nb.metadata["language_info"] = {"name": "python"}
    p = tmp_path / "nb.ipynb"
    p.write_text(nbformat.writes(nb), encoding="utf-8")
    assert run(str(p)).exit_code == 1
    result = run("--add-noqa", str(p))
    assert result.exit_code == 0 and "Added 1 noqa directive." in result.stderr
    after = nbformat.read(str(p), as_version=4)
    nbformat.validate(after)
    assert after.cells[1].source == nb.cells[1].source
    assert after.cells[2].source.rstrip("\n").endswith(f"        {CALL}  # noqa: PKL001")
    assert ast.dump(ast.parse(after.cells[2].source)) == ast.dump(ast.parse(nb.cells[2].source))
    assert run(str(p)).exit_code == 0


# --- property: generated programs ------------------------------------------------------------------------------

try:
    import hypothesmith
except ImportError:  # pragma: no cover - pinned in requirements-test.txt
    hypothesmith = None


def _dump(text: str) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.dump(ast.parse(text))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None


def code_lines(source: str) -> list[int]:
    """The lines on which a token of code starts (not a comment, a line break or indentation)."""
    skip = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    return sorted({tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                   if tok.type not in skip})


@pytest.mark.skipif(hypothesmith is None, reason="pip install hypothesmith==0.3.3")
def test_add_noqa_never_changes_the_ast_of_generated_programs() -> None:
    """Any line of any program ``ast`` accepts gets its directive without the program's AST changing, and the
    directive is then found by the suppression reader for that line."""
    from packlint.diagnostics import Finding
    from packlint.suppressions import comments, suppressed

    stats: collections.Counter = collections.Counter()

    @settings(max_examples=25, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(source=hypothesmith.from_grammar(), picks=st.lists(st.integers(min_value=0), min_size=1, max_size=4))
    def check(source: str, picks: list[int]) -> None:
        before = _dump(source)
        assume(before is not None)
        lines = code_lines(source)  # a finding points at code
        assume(lines)
        wanted = {lines[p % len(lines)]: {"PKL001"} for p in picks}
        new, added = add_noqa_to(source, source, wanted)
        assert _dump(new) == before, f"--- program ---\n{source}\n--- after ---\n{new}"
        found = comments(new)
        for line in wanted:
            finding = Finding("p.py", line, 1, "PKL001", "unmasked-loss", "m")
            assert suppressed(found, finding), f"line {line} not suppressed\n--- after ---\n{new}"
        stats["programs"] += 1
        stats["added"] += added

    check()
    print(f"\n[noqa] {dict(sorted(stats.items()))}")
    assert stats["programs"] >= 12 and stats["added"] > 0
