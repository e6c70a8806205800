"""A bad notebook is one ``decode-error`` for that file and the run goes on (issue 19, item 1), through the CLI.

Every case is linted beside a good file with one known finding: that finding, the exit code 2 and, in JSON and
SARIF, the complete report must all be there. nbformat is installed in the test environment; its absence is
simulated by making ``import nbformat`` fail, as it does where the package is not installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import packlint.source
from packlint.cli import main

GOOD = """\
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_packed_sequence


def step(packed, y):
    out, _ = pad_packed_sequence(packed, batch_first=True)
    return F.cross_entropy(out.flatten(0, 1), y.flatten())
"""
GOOD_LINE = "good.py:7:12: PKL001 "

CODE = ["from torch.nn.utils.rnn import pad_packed_sequence\n", "import torch.nn.functional as F\n",
        "out, _ = pad_packed_sequence(packed, batch_first=True)\n",
        "loss = F.cross_entropy(out.flatten(0, 1), y.flatten())\n"]


def v4(cells: list[dict]) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {"language_info": {"name": "python"}},
                       "cells": cells})


def code_cell(source: list[str], **extra) -> dict:
    return {"cell_type": "code", "id": f"c{len(source)}", "metadata": {}, "outputs": [], "execution_count": None,
            "source": source, **extra}


NO_METADATA = v4([{"cell_type": "markdown", "id": "m", "metadata": {}, "source": "# title"},
                  {k: v for k, v in code_cell(CODE).items() if k != "metadata"}])

V3 = json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"}, "worksheets": [{"metadata": {}, "cells": [
    {"cell_type": "heading", "level": 1, "metadata": {}, "source": "Old notebook"},
    {"cell_type": "code", "language": "python", "collapsed": False, "metadata": {}, "outputs": [], "input": CODE[:2]},
    {"cell_type": "markdown", "metadata": {}, "source": "text"},
    {"cell_type": "code", "language": "python", "collapsed": False, "metadata": {}, "outputs": [], "input": CODE[2:]},
]}]})


def run(*args: str):
    return CliRunner().invoke(main, ["--no-cache", *args])


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.py").write_text(GOOD, encoding="utf-8")
    return tmp_path


@pytest.fixture
def without_nbformat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nbformat", None)  # `import nbformat` raises ImportError, as when absent


def test_nbformat_is_installed_here() -> None:
    """The cases below test the installed reader; they mean nothing if it is missing."""
    import nbformat  # noqa: F401


@pytest.mark.parametrize("args", [(".",), ("bad.ipynb", "good.py")])
def test_a_cell_without_metadata_is_one_decode_error_and_the_run_goes_on(work: Path, args) -> None:
    (work / "bad.ipynb").write_text(NO_METADATA, encoding="utf-8")
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "bad.ipynb:1:1: error: decode-error: not a notebook: " \
        "The notebook is invalid and is missing an expected key: metadata", result.output
    assert lines[1].startswith(GOOD_LINE) and len(lines) == 2, result.output
    assert "Traceback" not in result.output


def test_a_cell_without_metadata_is_linted_when_nbformat_is_absent(work: Path, without_nbformat) -> None:
    """Without nbformat nothing validates the schema: the code cells are read as they are."""
    (work / "bad.ipynb").write_text(NO_METADATA, encoding="utf-8")
    result = run(".")
    assert result.exit_code == 1, result.output
    assert [line.split(" PKL")[0] for line in result.stdout.splitlines()] == ["bad.ipynb:cell 2:4:8:", "good.py:7:12:"]


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_and_sarif_stay_complete(work: Path, fmt: str) -> None:
    (work / "bad.ipynb").write_text(NO_METADATA, encoding="utf-8")
    (work / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    result = run("--output-format", fmt, ".")
    assert result.exit_code == 2, result.output
    data = json.loads(result.stdout)
    if fmt == "json":
        assert [(e["path"], e["kind"]) for e in data["errors"]] == [("bad.ipynb", "decode-error"),
                                                                     ("broken.ipynb", "decode-error")]
        assert [(f["path"], f["code"]) for f in data["findings"]] == [("good.py", "PKL001")]
    else:
        (sarif_run,) = data["runs"]
        assert [r["ruleId"] for r in sarif_run["results"]] == ["PKL001"]
        notes = sarif_run["invocations"][0]["toolExecutionNotifications"]
        assert sorted(n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for n in notes) == [
            "bad.ipynb", "broken.ipynb"]


def test_invalid_json_is_a_decode_error_at_its_position(work: Path) -> None:
    (work / "broken.ipynb").write_text('{\n  "cells": [,]\n}\n', encoding="utf-8")
    result = run(".")
    assert result.exit_code == 2
    assert result.stdout.splitlines()[0].startswith("broken.ipynb:2:13: error: decode-error: invalid notebook JSON")
    assert GOOD_LINE in result.stdout


@pytest.mark.parametrize("nbformat_present", [True, False])
def test_a_v3_notebook_gives_the_same_result_with_and_without_nbformat(work: Path, monkeypatch,
                                                                       nbformat_present: bool) -> None:
    if not nbformat_present:
        monkeypatch.setitem(sys.modules, "nbformat", None)
    (work / "old.ipynb").write_text(V3, encoding="utf-8")
    result = run(".")
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        "good.py:7:12: PKL001 `F.cross_entropy` reads `out.flatten(0, 1)`, padded since good.py:6; "
        "no length mask or ignore_index removes them",
        "old.ipynb:cell 4:2:8: PKL001 `F.cross_entropy` reads `out.flatten(0, 1)`, padded since "
        "old.ipynb:cell 4:1; no length mask or ignore_index removes them"]


def test_a_reader_that_crashes_is_one_internal_error_and_debug_prints_its_traceback(work: Path, monkeypatch
                                                                                     ) -> None:
    """Whatever a reader raises stays a problem of that file; --debug shows where it came from."""
    real = packlint.source.read_source

    def flaky(path, **kw):
        if Path(path).name == "bad.ipynb":
            raise LookupError("injected reader failure")
        return real(path, **kw)

    monkeypatch.setattr(packlint.source, "read_source", flaky)
    (work / "bad.ipynb").write_text(V3, encoding="utf-8")
    quiet, loud = run("."), run("--debug", ".")
    for result in (quiet, loud):
        assert result.exit_code == 2
        assert result.stdout.splitlines()[0] == ("bad.ipynb:1:1: error: internal-error: packlint failed while "
                                                 "reading the file: LookupError: injected reader failure")
        assert GOOD_LINE in result.stdout
    assert "Traceback" not in quiet.output
    assert "Traceback (most recent call last)" in loud.stderr and "LookupError: injected" in loud.stderr


def test_debug_prints_the_traceback_of_a_failure_outside_any_file(work: Path, monkeypatch) -> None:
    import packlint.cli

    def broken(*args, **kwargs):
        raise RuntimeError("injected engine failure")

    monkeypatch.setattr(packlint.cli, "lint_paths", broken)
    quiet, loud = run("."), run("--debug", ".")
    assert quiet.exit_code == loud.exit_code == 2
    assert quiet.stderr.strip() == "error: internal-error: RuntimeError: injected engine failure"
    assert "Traceback (most recent call last)" in loud.stderr and "RuntimeError: injected" in loud.stderr


def test_a_notebook_schema_is_checked_when_its_code_is_parsed(work: Path) -> None:
    """Like a Python file's syntax: a notebook whose code names nothing that pads is never parsed in a folder run,
    so its schema is not checked (nbformat's import and validators cost 0.2 s on a folder of notebooks); parsed
    (``--select-all-files``, or named on the command line), the same notebook is the same decode error."""
    quiet_code = ["import os\n", "print(os.getcwd())\n"]
    (work / "plain.ipynb").write_text(v4([{k: v for k, v in code_cell(quiet_code).items() if k != "metadata"}]),
                                      encoding="utf-8")
    folder = run(".")
    assert folder.exit_code == 1 and folder.stdout.splitlines()[0].startswith(GOOD_LINE), folder.output
    assert len(folder.stdout.splitlines()) == 1, folder.output
    error = ("plain.ipynb:1:1: error: decode-error: not a notebook: "
             "The notebook is invalid and is missing an expected key: metadata")
    for args in (("--select-all-files", "."), ("plain.ipynb", "good.py")):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert result.stdout.splitlines()[1] == error, result.output  # after good.py's finding: by path
