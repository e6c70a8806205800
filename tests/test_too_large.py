"""Only a file that must be parsed can be ``too-large`` (issue 19, item 2), through the CLI.

A file over ``max-file-size`` that padding cannot reach (a data table saved as ``.py``) is read and scanned like
any other and skipped like any other; one that must be parsed (it names the packing API, imports a module that
does, or is named on the command line) is one ``too-large`` problem.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from packlint.cli import main

GOOD = """\
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_packed_sequence


def step(packed, y):
    out, _ = pad_packed_sequence(packed, batch_first=True)
    return F.cross_entropy(out.flatten(0, 1), y.flatten())
"""
GOOD_LINE = "good.py:7:12: PKL001 "


def run(*args: str):
    return CliRunner().invoke(main, ["--no-cache", *args])


def table(rows: int) -> str:
    return "TABLE = [\n" + "".join(f"    ({i}, {i * 0.5!r}, 'row {i}'),\n" for i in range(rows)) + "]\n"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.py").write_text(GOOD, encoding="utf-8")
    return tmp_path


def test_a_five_megabyte_data_table_that_padding_never_reaches_is_not_a_problem(work: Path) -> None:
    (work / "table.py").write_text(table(180_000), encoding="utf-8")
    assert (work / "table.py").stat().st_size > 5_400_000
    result = run(".")
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(GOOD_LINE) and len(result.stdout.splitlines()) == 1
    assert result.stderr.strip() == "Found 1 finding in 1 file."


@pytest.fixture
def small_limit(work: Path) -> Path:
    (work / "pyproject.toml").write_text("[tool.packlint]\nmax-file-size = 2000\n", encoding="utf-8")
    (work / "table.py").write_text(table(200), encoding="utf-8")
    assert (work / "table.py").stat().st_size > 2000 > (work / "good.py").stat().st_size
    return work


def test_over_the_configured_limit_but_never_parsed(small_limit: Path) -> None:
    result = run(".")
    assert result.exit_code == 1, result.output
    assert "too-large" not in result.output


def test_a_table_outside_the_run_imported_by_a_linted_module_is_read_only_and_not_a_problem(small_limit: Path
                                                                                            ) -> None:
    (small_limit / "good.py").write_text("from table import TABLE\n" + GOOD, encoding="utf-8")
    result = run("good.py")
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("good.py:8:12: PKL001 ") and "too-large" not in result.output


@pytest.mark.parametrize("how", ["names the packing API", "imports a padding module", "named explicitly",
                                 "imported by a linted file of the run"])
def test_a_file_that_must_be_parsed_is_too_large(small_limit: Path, how: str) -> None:
    path = small_limit / "table.py"
    args = ["."]
    if how == "names the packing API":
        path.write_text("from torch.nn.utils.rnn import pad_packed_sequence\n" + path.read_text(), encoding="utf-8")
    elif how == "imports a padding module":
        path.write_text("from good import step\n" + path.read_text(), encoding="utf-8")
    elif how == "imported by a linted file of the run":  # its findings would be reported: it is analysed
        (small_limit / "good.py").write_text(GOOD + "from table import TABLE\n", encoding="utf-8")
    else:
        args = ["table.py", "good.py"]
    size = len(path.read_bytes())
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout.splitlines() == [
        f"good.py:7:12: PKL001 `F.cross_entropy` reads `out.flatten(0, 1)`, padded since good.py:6; no length mask "
        f"or ignore_index removes them",
        f"table.py:1:1: error: too-large: file is larger than max-file-size ({size} bytes of code, limit 2000 "
        f"bytes; raise it with max-file-size)"]


def test_a_notebook_is_measured_by_its_code_not_its_outputs(small_limit: Path) -> None:
    """Outputs (images, tables) are never parsed: a notebook with 3 kB of output and a few lines of code is not
    too large; the same code grown past the limit is."""
    code = GOOD.splitlines(keepends=True)
    cell = {"cell_type": "code", "id": "a", "metadata": {}, "execution_count": 1, "source": code,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": ["x" * 3000]}]}
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]}
    (small_limit / "nb.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    result = run("nb.ipynb")
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("nb.ipynb:cell 1:7:12: PKL001 ")
    cell["source"] = code + ["# " + "x" * 2000 + "\n"]
    (small_limit / "nb.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    result = run("nb.ipynb")
    assert result.exit_code == 2
    assert result.stdout.startswith("nb.ipynb:1:1: error: too-large: ")
