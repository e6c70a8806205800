"""The command line as a user meets it: output lines, exit codes, bad input, and never importing torch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from packlint import __version__
from packlint.cli import main

BAD = """\
import torch.nn as nn
import torch.nn.functional as F
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


def step(model: Tagger, x, lengths, y):
    logits = model(x, lengths)
    return F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))
"""
BAD_LINE = 20

GOOD = BAD.replace("y.reshape(-1))", "y.reshape(-1), ignore_index=-100)")

LINE_RE = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+): (?P<code>PKL\d{3}) (?P<msg>.+)$")
PROBLEM_RE = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+): error: (?P<kind>[a-z-]+): (?P<msg>.+)$")


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "bad.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "good.py").write_text(GOOD, encoding="utf-8")
    return tmp_path


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"packlint {__version__}"


def test_finding_line_format_and_exit_1(tree: Path) -> None:
    result = run(str(tree / "bad.py"))
    assert result.exit_code == 1
    lines = [ln for ln in result.stdout.splitlines() if ln]
    assert len(lines) == 1
    m = LINE_RE.match(lines[0])
    assert m, lines[0]
    assert int(m["line"]) == BAD_LINE and m["code"] == "PKL001"
    assert "padded since" in m["msg"] and "bad.py:14" in m["msg"]
    assert "Found 1 finding in 1 file." in result.stderr


def test_clean_file_exit_0(tree: Path) -> None:
    result = run(str(tree / "good.py"))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == ""


def test_folder_is_walked(tree: Path) -> None:
    result = run(str(tree))
    assert result.exit_code == 1
    assert [LINE_RE.match(ln)["path"].endswith("bad.py") for ln in result.stdout.splitlines()] == [True]


def test_syntax_error_is_a_problem_and_other_files_still_linted(tree: Path) -> None:
    # files that cannot involve padding are never parsed; this one names the API, so it must be
    (tree / "broken.py").write_text("from torch.nn.utils.rnn import pad_packed_sequence\ndef f(:\n    pass\n",
                                    encoding="utf-8")
    result = run(str(tree))
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert any(LINE_RE.match(ln) for ln in lines)
    problems = [PROBLEM_RE.match(ln) for ln in lines if PROBLEM_RE.match(ln)]
    assert [p["kind"] for p in problems] == ["syntax-error"]
    assert problems[0]["path"].endswith("broken.py") and problems[0]["line"] == "2"
    assert "Traceback" not in result.output


def test_output_is_sorted_by_path_and_line(tree: Path) -> None:
    (tree / "a_first.py").write_text(BAD, encoding="utf-8")
    (tree / "zz.py").write_text("import torch.nn.utils.rnn\nx = (\n", encoding="utf-8")
    result = run(str(tree))
    paths = [re.match(r"^(.+?):\d+:\d+:", ln).group(1) for ln in result.stdout.splitlines()]
    assert paths == sorted(paths)


def test_missing_path_exit_2(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nope.py"))
    assert result.exit_code == 2
    m = PROBLEM_RE.match(result.stdout.strip())
    assert m and m["kind"] == "io-error"


def test_folder_without_python_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    result = run(str(tmp_path))
    assert result.exit_code == 0
    assert result.stdout.strip() == ""


def test_empty_file_is_clean(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_bytes(b"")
    assert run(str(tmp_path / "empty.py")).exit_code == 0


def test_latin1_cookie_findings_at_right_line(tmp_path: Path) -> None:
    text = "# -*- coding: latin-1 -*-\n# Größe der Ausgabe: é\n" + BAD
    (tmp_path / "latin.py").write_bytes(text.encode("latin-1"))
    result = run(str(tmp_path / "latin.py"))
    assert result.exit_code == 1
    assert int(LINE_RE.match(result.stdout.strip())["line"]) == BAD_LINE + 2


def test_utf8_bom(tmp_path: Path) -> None:
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf" + BAD.encode("utf-8"))
    result = run(str(tmp_path / "bom.py"))
    assert result.exit_code == 1
    m = LINE_RE.match(result.stdout.strip())
    assert int(m["line"]) == BAD_LINE and int(m["col"]) == 12


def test_invalid_utf8_is_decode_error(tmp_path: Path) -> None:
    (tmp_path / "bin.py").write_bytes(b"x = 1\ny = '\xff\xfe'\n")
    result = run(str(tmp_path / "bin.py"))
    assert result.exit_code == 2
    m = PROBLEM_RE.match(result.stdout.strip())
    assert m and m["kind"] == "decode-error"


def test_problem_beats_findings_in_exit_code(tree: Path) -> None:
    (tree / "bin.py").write_bytes(b"\xff\xfe\xfa")
    assert run(str(tree)).exit_code == 2


def test_noqa_silences_and_unrelated_code_does_not(tmp_path: Path) -> None:
    lines = BAD.splitlines()
    lines[BAD_LINE - 1] += "  # noqa: PKL001"
    (tmp_path / "a.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run(str(tmp_path / "a.py")).exit_code == 0
    lines[BAD_LINE - 1] = lines[BAD_LINE - 1].replace("PKL001", "PKL005")
    (tmp_path / "a.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run(str(tmp_path / "a.py")).exit_code == 1


def test_select_and_ignore(tree: Path) -> None:
    assert run("--ignore", "PKL001", str(tree / "bad.py")).exit_code == 0
    assert run("--ignore", "unmasked-loss", str(tree / "bad.py")).exit_code == 0
    assert run("--select", "PKL005", str(tree / "bad.py")).exit_code == 0
    assert run("--select", "PKL00", str(tree / "bad.py")).exit_code == 1


def test_unknown_code_in_select_is_usage_error(tree: Path) -> None:
    result = run("--select", "PKL999", str(tree / "bad.py"))
    assert result.exit_code == 2
    assert "PKL999" in result.output and "Traceback" not in result.output


def test_rules_lists_every_rule() -> None:
    from packlint.rules import registry

    result = run("rules")
    assert result.exit_code == 0
    for rule in registry():
        assert re.search(rf"^{rule.code}\s+{rule.name}\s+\S", result.stdout, re.MULTILINE)
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    starts = {lines[rule.code].index(rule.summary) for rule in registry()}
    assert len(starts) == 1, "summaries start in one column, however long the longest name"


def test_explain_by_code_and_name() -> None:
    by_code = run("explain", "PKL001")
    by_name = run("explain", "unmasked-loss")
    assert by_code.exit_code == 0 and by_code.stdout == by_name.stdout
    assert by_code.stdout.startswith("PKL001: unmasked-loss\n=====")


def test_explain_unknown_rule() -> None:
    result = run("explain", "PKL123")
    assert result.exit_code == 2 and "unknown rule" in result.stderr


def test_json_output_parses(tree: Path) -> None:
    import json

    result = run("--output-format", "json", str(tree))
    data = json.loads(result.stdout)
    assert [f["code"] for f in data["findings"]] == ["PKL001"]
    assert data["findings"][0]["trail"], "the trail travels in JSON"


def test_linting_never_imports_torch(tree: Path) -> None:
    pytest.importorskip("torch")  # the test environment has torch: prove linting still does not import it
    code = (
        "import sys\n"
        "from packlint.cli import main\n"
        "try:\n"
        f"    main([{str(tree)!r}])\n"
        "except SystemExit as e:\n"
        "    print('exit', e.code)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-2:] == ["exit 1", "False"], out.stdout + out.stderr


def test_console_script_has_no_traceback_on_bad_input(tmp_path: Path) -> None:
    deep = "from torch.nn.utils.rnn import pad_packed_sequence\nx = " + "(" * 5000 + ")" * 5000 + "\n"
    (tmp_path / "deep.py").write_text(deep, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "packlint.cli", str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_files_that_cannot_involve_padding_are_not_parsed(tmp_path: Path) -> None:
    from packlint.engine import lint_paths

    (tmp_path / "model.py").write_text(BAD.split("def step")[0], encoding="utf-8")
    (tmp_path / "train.py").write_text("from model import Tagger\n\n\ndef step(model: Tagger, x, lengths, y):\n"
                                       "    import torch.nn.functional as F\n"
                                       "    logits = model(x, lengths)\n"
                                       "    return F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))\n",
                                       encoding="utf-8")
    (tmp_path / "utils.py").write_text("def f(:\n", encoding="utf-8")  # never imported, never parsed
    result = lint_paths(sorted(tmp_path.glob("*.py")))
    assert [(Path(f.path).name, f.line) for f in result.findings] == [("train.py", 7)]
    assert result.files_checked == 3 and result.files_parsed == 2
    assert not result.problems


def test_packlint_on_its_own_repository_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    """The root config excludes the fixtures, self-check cases and the deliberately buggy example."""
    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(root)
    result = run("--no-cache", ".")
    assert result.exit_code == 0, result.output
    example = run("--no-cache", "examples/")
    assert example.exit_code == 1 and ": PKL001 " in example.stdout


def test_broken_pipe_is_quiet(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(BAD, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "packlint.cli", "--no-cache", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader goes away before packlint writes
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err
