"""The rough edges a new user meets (issue 18), each through the real entry point: stdin, unknown commands, empty
runs, configuration files and patterns, settings, statistics, notebook positions, JSON ends, `explain`, `-V`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from packlint import __version__
from packlint.cli import main
from test_cli import BAD, BAD_LINE

MODEL = BAD.split("def step")[0]
TRAIN = """\
import torch.nn.functional as F
from model import Tagger


def step(model: Tagger, x, lengths, y):
    logits = model(x, lengths)
    return F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))
"""


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def console(args: list[str], cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess:
    """``packlint ARGS`` as a shell runs it: its own process, real stdin, in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "packlint.cli", "--no-cache", *args], cwd=cwd, input=stdin,
                          capture_output=True, timeout=120)


def notebook(*cells: str, indent: int | None = 1) -> str:
    """A notebook as Jupyter writes it (one JSON line per source line); a markdown cell first."""
    return json.dumps({
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# notes\n"]}] + [
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
             "source": cell.splitlines(True)} for cell in cells],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5}, indent=indent)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    (tmp_path / "train.py").write_text(TRAIN, encoding="utf-8")
    return tmp_path


# ---------------------------------------------------------------------------------------------- stdin
def test_stdin_is_a_file_of_the_current_folder(project: Path) -> None:
    out = console(["-"], project, TRAIN.encode())
    assert out.returncode == 1, out.stderr
    assert out.stdout.decode().startswith("-:7:12: PKL001 ") and "model.py:14" in out.stdout.decode()


def test_stdin_filename_alone_reads_stdin(project: Path) -> None:
    out = console(["--stdin-filename", "scratch.py"], project, TRAIN.encode())
    assert out.returncode == 1, out.stderr
    assert out.stdout.decode().startswith("scratch.py:7:12: PKL001 ")


def test_force_exclude_applies_to_the_stdin_name(project: Path) -> None:
    args = ["--extend-exclude", "scratch.py", "--stdin-filename", "scratch.py"]
    assert console(args, project, TRAIN.encode()).returncode == 1  # excludes alone never drop a named file
    out = console(["--force-exclude", *args], project, TRAIN.encode())
    assert (out.returncode, out.stdout) == (0, b"")


def test_a_notebook_on_stdin_is_read_as_a_notebook(project: Path) -> None:
    out = console(["--stdin-filename", "explore.ipynb"], project, notebook(TRAIN).encode())
    assert out.returncode == 1, out.stderr
    assert out.stdout.decode().startswith("explore.ipynb:cell 2:7:12: PKL001 ")


# ---------------------------------------------------------------------------------------------- commands
def test_an_unknown_command_is_not_linted_as_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("rule", "PKL001")
    assert result.exit_code == 2
    assert "unknown command 'rule'" in result.output and "`packlint rules`" in result.output
    assert "`packlint explain PKL001`" in result.output and "io-error" not in result.output
    # a folder of that name is linted as before
    (tmp_path / "rule").mkdir()
    assert run("rule").exit_code == 0


def test_no_python_files_warns(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    result = run(str(tmp_path))
    assert result.exit_code == 0
    assert "warning: No Python files found" in result.stderr


def test_short_version_flag() -> None:
    assert run("-V").output.strip() == f"packlint {__version__}"


# ---------------------------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("own", ["packlint.toml", ".packlint.toml"])
def test_packlint_toml_is_found_and_wins_over_pyproject(project: Path, own: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    (project / "pyproject.toml").write_text('[tool.packlint]\nselect = ["PKL001"]\n', encoding="utf-8")
    assert run("--no-cache", ".").exit_code == 1
    (project / own).write_text('select = ["PKL005"]\n', encoding="utf-8")
    assert run("--no-cache", ".").exit_code == 0
    settings = json.loads(run("--show-settings", ".").stdout)
    assert Path(settings["config"]).name == own and settings["rules"] == ["PKL005"]


def test_dot_packlint_toml_wins_over_packlint_toml(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    (project / "packlint.toml").write_text('select = ["PKL005"]\n', encoding="utf-8")
    (project / ".packlint.toml").write_text('select = ["PKL001"]\n', encoding="utf-8")
    assert json.loads(run("--show-settings", ".").stdout)["rules"] == ["PKL001"]
    (project / ".packlint.toml").write_text('selec = ["PKL001"]\n', encoding="utf-8")
    broken = run(".")
    assert broken.exit_code == 2 and ".packlint.toml: unknown key 'selec'" in broken.stderr


def test_dot_slash_and_absolute_paths_in_exclude(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    (project / "sub").mkdir()
    (project / "sub" / "train.py").write_text(TRAIN, encoding="utf-8")
    listed = lambda *a: run("--show-files", *a, ".").stdout.split()  # noqa: E731
    assert listed() == ["model.py", "sub/train.py", "train.py"]
    assert listed("--extend-exclude", "./train.py") == ["model.py", "sub/train.py"]
    assert listed("--extend-exclude", str(project / "sub" / "train.py")) == ["model.py", "train.py"]
    assert listed("--extend-exclude", str(project / "sub")) == ["model.py", "train.py"]


def test_show_settings_expands_the_selection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from packlint.rules import registry

    monkeypatch.chdir(tmp_path)
    settings = json.loads(run("--select", "PKL00", "--ignore", "pooling-over-padding", "--show-settings").stdout)
    assert settings["rules"] == [r.code for r in registry() if r.code.startswith("PKL00") and r.code != "PKL005"]
    assert ".venv" in settings["exclude"]


def test_pkl900_is_never_selected_nor_suggested(tmp_path: Path) -> None:
    refused = run("--select", "PKL900", str(tmp_path))
    assert refused.exit_code == 2 and "PKL900 (internal-error)" in refused.stderr
    assert "cannot be selected" in refused.stderr
    for typo in ("PKL901", "PKL90", "internal-eror"):
        result = run("--select", typo, str(tmp_path))
        assert result.exit_code == 2 and "PKL900" not in result.stderr and "internal-error" not in result.stderr


# ---------------------------------------------------------------------------------------------- statistics
def test_statistics_as_json_with_the_unresolved_calls(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    (project / "odd.py").write_text(
        "import mystery\nfrom torch.nn.utils.rnn import pad_packed_sequence\n\n\ndef f(packed):\n"
        "    out, _ = pad_packed_sequence(packed)\n    return mystery.squash(out) + helper(out)\n", encoding="utf-8")
    doc = json.loads(run("--statistics", "--output-format", "json", ".").stdout)
    assert doc["rules"] == [{"code": "PKL001", "name": "unmasked-loss", "count": 1}]
    assert doc["unresolved_calls"] == 2 and "unresolved" not in doc
    listed = json.loads(run("--statistics", "--list-unresolved", "--output-format", "json", ".").stdout)
    assert listed["unresolved"] == [{"path": "odd.py", "line": 7, "col": 12, "call": "mystery.squash"},
                                    {"path": "odd.py", "line": 7, "col": 34, "call": "helper"}]
    text = run("--statistics", "--list-unresolved", ".").stdout
    assert "odd.py:7:12: `mystery.squash`" in text and "2  info   calls packlint could not resolve" in text


# ---------------------------------------------------------------------------------------------- output
def test_notebook_syntax_error_names_its_cell(tmp_path: Path) -> None:
    nb = tmp_path / "nb.ipynb"
    nb.write_text(notebook("from torch.nn.utils.rnn import pad_packed_sequence\n", "x = 1\ndef f(:\n"),
                  encoding="utf-8")
    result = run("--no-cache", str(nb))
    assert result.exit_code == 2
    assert result.stdout.strip().endswith("nb.ipynb:cell 3:2:7: error: syntax-error: invalid syntax")


def test_sarif_results_in_notebooks_have_a_region_on_the_cell_line(project: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    text = notebook("import torch\n", TRAIN)
    (project / "explore.ipynb").write_text(text, encoding="utf-8")
    doc = json.loads(run("--no-cache", "--output-format", "sarif", "explore.ipynb").stdout)
    (res,) = doc["runs"][0]["results"]
    location = res["locations"][0]
    assert location["properties"] == {"cell": 3, "line": 7, "column": 12}
    line = location["physicalLocation"]["region"]["startLine"]
    assert "F.cross_entropy(logits.reshape" in text.splitlines()[line - 1]


def test_json_carries_the_end_line_and_end_column(project: Path) -> None:
    doc = json.loads(run("--no-cache", "--output-format", "json", str(project / "train.py")).stdout)
    (finding,) = doc["findings"]
    call = "F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))"
    start = TRAIN.splitlines()[6].index(call) + 1
    assert (finding["line"], finding["col"], finding["end_line"], finding["end_col"]) == (7, start, 7,
                                                                                         start + len(call))


def test_explain_renders_for_the_terminal() -> None:
    result = run("explain", "PKL001")
    assert result.exit_code == 0
    assert "<!--" not in result.stdout and "```" not in result.stdout and "| --- |" not in result.stdout
    assert result.stdout.startswith("PKL001: unmasked-loss\n=====")


def test_explain_pages_when_long_at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    import packlint.cli as cli

    paged: list[str] = []
    monkeypatch.setattr(click, "echo_via_pager", lambda text, *a, **k: paged.append(text))
    assert run("explain", "PKL001").exit_code == 0 and paged == []  # not a terminal: printed as is
    monkeypatch.setattr(cli, "_paging", lambda text: True)
    result = run("explain", "PKL001")
    assert result.exit_code == 0 and result.stdout == "" and paged[0].startswith("PKL001: unmasked-loss")


def test_the_pager_is_for_a_terminal_and_a_page_taller_than_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import shutil

    import packlint.cli as cli

    class Stdout:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback=None: os.terminal_size((80, 10)))
    monkeypatch.setattr(sys, "stdout", Stdout(True))
    assert cli._paging("line\n" * 10) and not cli._paging("line\n" * 9)
    monkeypatch.setattr(sys, "stdout", Stdout(False))
    assert not cli._paging("line\n" * 100)
