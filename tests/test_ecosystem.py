"""Behaviour users of ruff and flake8 expect: noqa forms, --add-noqa, stdin, statistics, warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from packlint.cli import main

MULTI = """\
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def loss_fn(rnn: nn.GRU, x, lengths, y):
    out, _ = pad_packed_sequence(rnn(pack_padded_sequence(x, lengths, batch_first=True))[0], batch_first=True)
    return F.cross_entropy(
        out.reshape(-1, out.size(-1)),
        y.reshape(-1),
    )
"""


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def test_multiline_call_is_reported_on_first_line_and_noqa_on_last_line_works(tmp_path: Path) -> None:
    p = tmp_path / "m.py"
    p.write_text(MULTI, encoding="utf-8")
    result = run(str(p))
    assert result.exit_code == 1 and ":8:12: PKL001" in result.stdout
    p.write_text(MULTI.replace("        y.reshape(-1),\n    )", "        y.reshape(-1),\n    )  # noqa: PKL001"),
                 encoding="utf-8")
    assert run(str(p)).exit_code == 0


def test_bare_noqa_and_file_level_noqa(tmp_path: Path) -> None:
    p = tmp_path / "m.py"
    p.write_text(MULTI.replace("return F.cross_entropy(", "return F.cross_entropy(  # noqa"), encoding="utf-8")
    assert run(str(p)).exit_code == 0
    p.write_text("# packlint: noqa\n" + MULTI, encoding="utf-8")
    assert run(str(p)).exit_code == 0


def test_unknown_pkl_code_in_noqa_warns_and_silences_nothing(tmp_path: Path) -> None:
    p = tmp_path / "m.py"
    p.write_text(MULTI.replace("return F.cross_entropy(", "return F.cross_entropy(  # noqa: PKL999, E501"),
                 encoding="utf-8")
    result = run(str(p))
    assert result.exit_code == 1
    assert "unknown code PKL999" in result.stderr and "E501" not in result.stderr


def test_unknown_pkl_codes_are_told_only_from_noqa_comments() -> None:
    """The check tokenizes only files with a line holding both ``noqa`` and ``pkl`` (a code in any case); what it
    finds there is what the tokenizer says: a code in a string is no comment."""
    from packlint.suppressions import noqa_warnings

    known = {"PKL001"}
    text = ("x = 1  # noqa: pkl999, E501\n"
            "y = 2  # noqa: F401\n"
            "s = '# noqa: PKL998'  # a string, not a comment\n"
            "z = 3  # noqa:PKL001\n")
    assert noqa_warnings("m.py", text, known) == ["m.py:1: unknown code PKL999 in `# noqa` comment; it silences nothing"]
    assert noqa_warnings("m.py", "y = 2  # noqa: F401\nPKL = 1\n", known) == []


def test_the_file_level_noqa_is_found_in_any_case_and_any_alphabet() -> None:
    """``file_noqa`` skips the line-by-line pattern only where it cannot match: what it says is the pattern's."""
    from packlint.suppressions import FILE_NOQA, file_noqa

    texts = ["x = 1\n#  PackLint:  NoQA\n", "# packlint: noqa\n", "x = 1  # packlint: noqa\n",
             "s = 'packlint'\n", "x = 1\n", "# \u00e9t\u00e9\n# packlint: noqa\n", "# PACKL\u0130NT: noqa\n"]
    for text in texts:
        assert file_noqa(text) == (FILE_NOQA.search(text) is not None), text
    assert [file_noqa(t) for t in texts[:5]] == [True, True, False, False, False]


def test_add_noqa_then_clean(tmp_path: Path) -> None:
    p = tmp_path / "m.py"
    p.write_text(MULTI, encoding="utf-8")
    result = run("--add-noqa", str(p))
    assert result.exit_code == 0 and "Added 1 noqa directive." in result.stderr
    assert "return F.cross_entropy(  # noqa: PKL001" in p.read_text(encoding="utf-8")
    assert run(str(p)).exit_code == 0


BIDIRECTIONAL = """\
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def sentence_vectors(x, lengths):
    rnn = nn.GRU(8, 8, batch_first=True, bidirectional=True)
    out, _ = pad_packed_sequence(rnn(pack_padded_sequence(x, lengths, batch_first=True))[0], batch_first=True)
    return out[torch.arange(out.size(0)), lengths - 1], out[:, -1]
"""


def test_noqa_and_ignore_written_for_pkl003_do_not_follow_the_finding_to_pkl009(tmp_path: Path) -> None:
    """The moved part of PKL003 (docs/rules/PKL009.md, "Moved from PKL003"): a suppression written for the old
    code stops matching and the finding shows, under its new code, without an unknown-code warning; PKL003's own
    finding on the line is still silenced by it."""
    p = tmp_path / "m.py"
    p.write_text(BIDIRECTIONAL.replace("out[:, -1]\n", "out[:, -1]  # noqa: PKL003\n"), encoding="utf-8")
    result = run("--no-cache", str(p))
    assert result.exit_code == 1
    assert [line.split()[1] for line in result.stdout.splitlines()] == ["PKL009"]
    assert "noqa" not in result.stderr
    result = run("--no-cache", "--ignore", "PKL003", str(p))
    assert result.exit_code == 1 and ":9:12: PKL009" in result.stdout
    assert run("--no-cache", "--add-noqa", str(p)).exit_code == 0
    assert "  # noqa: PKL003, PKL009\n" in p.read_text(encoding="utf-8")
    assert run("--no-cache", str(p)).exit_code == 0


def test_stdin_with_filename(tmp_path: Path) -> None:
    result = run("-", "--stdin-filename", "train.py", input=MULTI)
    assert result.exit_code == 1
    assert result.stdout.startswith("train.py:8:12: PKL001")


def test_statistics_counts_per_code(tmp_path: Path) -> None:
    p = tmp_path / "m.py"
    p.write_text(MULTI, encoding="utf-8")
    result = run("--statistics", str(p))
    assert result.exit_code == 1
    assert any(line.split()[:3] == ["1", "PKL001", "unmasked-loss"] for line in result.stdout.splitlines())


def test_config_ignore_and_bad_key(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(MULTI, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[tool.packlint]\nignore = ["unmasked-loss"]\n', encoding="utf-8")
    assert run(str(tmp_path / "m.py")).exit_code == 0
    (tmp_path / "pyproject.toml").write_text('[tool.packlint]\nselec = ["PKL001"]\n', encoding="utf-8")
    result = run(str(tmp_path / "m.py"))
    assert result.exit_code == 2 and "selec" in result.stderr


def test_user_source_from_config(tmp_path: Path) -> None:
    code = """\
import torch.nn.functional as F
from myproj.data import unpad_batch


def loss_fn(batch, head, y):
    out = unpad_batch(batch, batch_first=True)
    return F.cross_entropy(head(out).flatten(0, 1), y.flatten())
"""
    (tmp_path / "m.py").write_text(code, encoding="utf-8")
    # without the table entry the helper is an unresolved free function: its result is clean
    assert run(str(tmp_path / "m.py")).exit_code == 0
    (tmp_path / "pyproject.toml").write_text(
        '[tool.packlint.api]\nsources = ["myproj.data.unpad_batch"]\n', encoding="utf-8")
    result = run(str(tmp_path / "m.py"))
    assert result.exit_code == 1 and ":7:12: PKL001" in result.stdout


def test_pre_commit_hook_manifest_names_the_cli() -> None:
    root = Path(__file__).resolve().parent.parent
    text = (root / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert "id: packlint" in text and "entry: packlint" in text


def test_module_entry_point_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "packlint.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("packlint ")


def test_notebook_positions_are_cell_relative(tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Tagger"),
        nbformat.v4.new_code_cell("%matplotlib inline\nimport torch.nn.functional as F\n"
                                  "from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence"),
        nbformat.v4.new_code_cell("!nvidia-smi\ndef loss_fn(rnn, x, lengths, y):\n"
                                  "    out, _ = pad_packed_sequence(rnn(pack_padded_sequence(x, lengths, "
                                  "batch_first=True))[0], batch_first=True)\n"
                                  "    return F.cross_entropy(out.flatten(0, 1), y.flatten())"),
    ]
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    result = run(str(tmp_path / "nb.ipynb"))
    assert result.exit_code == 1
    line = result.stdout.strip()
    assert line.startswith(f"{tmp_path / 'nb.ipynb'}:cell 3:4:12: PKL001"), line
    assert "padded since" in line and "nb.ipynb:cell 3:3" in line
    (tmp_path / "bad.ipynb").write_text("{bad json", encoding="utf-8")
    result = run(str(tmp_path / "bad.ipynb"))
    assert result.exit_code == 2 and "error: decode-error" in result.stdout


def test_github_format_escapes_and_names_rule(tmp_path: Path) -> None:
    p = tmp_path / "m.py"
    p.write_text(MULTI, encoding="utf-8")
    result = run("--output-format", "github", str(p))
    assert result.exit_code == 1
    assert result.stdout.startswith(f"::error file={p},line=8,")
    assert "title=PKL001 unmasked-loss::" in result.stdout


def test_closest_pyproject_applies_to_each_file(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.packlint]\n", encoding="utf-8")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "m.py").write_text(MULTI, encoding="utf-8")
    (tmp_path / "b" / "m.py").write_text(MULTI, encoding="utf-8")
    (tmp_path / "b" / "pyproject.toml").write_text('[tool.packlint]\nignore = ["PKL001"]\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = run("--no-cache", ".")
    assert result.exit_code == 1
    assert [ln.split(":")[0] for ln in result.stdout.splitlines()] == [str(Path("a") / "m.py")]


def test_exit_zero_quiet_output_file_and_sarif(tmp_path: Path) -> None:
    import json

    p = tmp_path / "m.py"
    p.write_text(MULTI, encoding="utf-8")
    result = run("--exit-zero", str(p))
    assert result.exit_code == 0 and ": PKL001 " in result.stdout
    quiet = run("--quiet", str(p))
    assert quiet.exit_code == 1 and quiet.stderr == ""
    out = tmp_path / "report.sarif"
    result = run("--output-format", "sarif", "--output-file", str(out), str(p))
    assert result.exit_code == 1 and result.stdout == ""
    sarif = json.loads(out.read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0"
    (res,) = sarif["runs"][0]["results"]
    assert res["ruleId"] == "PKL001" and res["codeFlows"]


def test_show_files_and_show_settings(tmp_path: Path, monkeypatch) -> None:
    import json

    (tmp_path / "a.py").write_text(MULTI, encoding="utf-8")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "gen.py").write_text(MULTI, encoding="utf-8")
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / "s.py").write_text(MULTI, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[tool.packlint]\nextend-exclude = ["skip"]\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    files = run("--show-files", ".")
    assert files.exit_code == 0 and files.stdout.split() == ["a.py"]
    settings = json.loads(run("--show-settings", ".").stdout)
    assert "skip" in settings["extend-exclude"]
    # pre-commit passes excluded files explicitly: --force-exclude keeps them out
    assert run("--no-cache", "skip/s.py").exit_code == 1
    assert run("--no-cache", "--force-exclude", "skip/s.py").exit_code == 0


def test_extend_exclude_flag_and_per_file_ignores(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "g.py").write_text(MULTI, encoding="utf-8")
    (tmp_path / "legacy.py").write_text(MULTI, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[tool.packlint]\n[tool.packlint.per-file-ignores]\n'
                                             '"legacy.py" = ["PKL001"]\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert run("--no-cache", ".").stdout.startswith(str(Path("gen") / "g.py"))
    assert run("--no-cache", "--extend-exclude", "gen", ".").exit_code == 0


def test_subfolder_imports_resolve_against_the_project_root(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.packlint]\n", encoding="utf-8")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "models" / "net.py").write_text(
        "import torch.nn as nn\nfrom torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence\n\n\n"
        "class Net(nn.Module):\n    def forward(self, x, lengths):\n"
        "        out, _ = pad_packed_sequence(self.rnn(pack_padded_sequence(x, lengths, batch_first=True))[0],"
        " batch_first=True)\n        return self.head(out)\n", encoding="utf-8")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "train.py").write_text(
        "import torch.nn.functional as F\n\nfrom models.net import Net\n\n\n"
        "def step(model: Net, x, lengths, y):\n    return F.cross_entropy(model(x, lengths).flatten(0, 1), y.flatten())\n",
        encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = run("--no-cache", "scripts/")
    assert result.exit_code == 1
    assert result.stdout.startswith(str(Path("scripts") / "train.py") + ":7:12: PKL001")
    assert "models/net.py" not in result.stdout.split(":")[0]
