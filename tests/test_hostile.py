"""Hostile input, fault isolation and determinism, through the real CLI (issue 9).

Every hostile file gives either a correct lint result or exactly one ``path:line:col: error: <kind>: message``
line; any file that could not be checked makes the exit code 2; a well-behaved neighbour file is still linted
beside it; no output ever holds a traceback. Small inputs live in ``tests/hostile/`` (each stored as
``NAME.in`` so that no tool walking the repository meets a broken ``.py`` or ``.ipynb``); big ones are written
at test time. Cases that could take the interpreter down (deep nesting, FIFOs) run the CLI in a child process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import packlint.files
import packlint.source
from packlint.cli import main

HOSTILE = Path(__file__).parent / "hostile"

IMPORT = "from torch.nn.utils.rnn import pad_packed_sequence\n"

# The neighbour every case is linted beside: one PKL001 finding at a known place.
NEIGHBOUR = """\
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
NEIGHBOUR_LINE = "neighbour.py:20:12: PKL001 "

# A second rule (PKL003: last step of a padded output) for the fault-isolation tests.
LAST_STEP = """\
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 16, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return self.head(out[:, -1])
"""

RECORD = re.compile(
    r"^(?P<path>[^:]+):(?:cell (?P<cell>\d+):)?(?P<line>\d+):(?P<col>\d+): "
    r"(?:error: (?P<kind>[a-z-]+): |(?P<code>PKL\d{3}) )(?P<msg>.+)$"
)


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--quiet", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def cli_subprocess(*args: str, cwd: Path, timeout: float = 120, env: dict | None = None) -> tuple[int, str, str]:
    """The CLI in a child process: a segfault or a hang fails this test, not the whole suite."""
    proc = subprocess.run([sys.executable, "-m", "packlint.cli", "--quiet", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def records(stdout: str) -> dict[str, list[re.Match]]:
    """Output lines by path; every line must be a well-formed record."""
    out: dict[str, list[re.Match]] = {}
    for line in stdout.splitlines():
        m = RECORD.match(line)
        assert m, f"malformed output line: {line!r}"
        out.setdefault(m["path"], []).append(m)
    return out


def assert_no_traceback(*streams: str) -> None:
    for s in streams:
        assert "Traceback" not in s and not re.search(r'^\s*File "', s, re.MULTILINE), s


def assert_one_problem(recs: dict[str, list[re.Match]], path: str, kind: str, line: int | None = None,
                       col: int | None = None) -> re.Match:
    got = recs.get(path, [])
    assert len(got) == 1, [m.group(0) for m in got]
    m = got[0]
    assert m["kind"] == kind, m.group(0)
    if line is not None:
        assert int(m["line"]) == line, m.group(0)
    if col is not None:
        assert int(m["col"]) == col, m.group(0)
    return m


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (cwd) holding the neighbour file, so output paths are short and relative."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "neighbour.py").write_text(NEIGHBOUR, encoding="utf-8")
    return tmp_path


def check_neighbour(stdout: str) -> None:
    assert [ln for ln in stdout.splitlines() if ln.startswith("neighbour.py:")] == [
        ln for ln in stdout.splitlines() if ln.startswith(NEIGHBOUR_LINE)], stdout
    assert NEIGHBOUR_LINE in stdout, stdout


# --- the committed hostile files --------------------------------------------------------------------------------

def _stored(name: str) -> bytes:
    return (HOSTILE / f"{name}.in").read_bytes()


def _syntax_oracle(name: str) -> tuple[int, int]:
    """Where CPython itself puts the syntax error: packlint must agree."""
    try:
        compile(_stored(name), name, "exec")
    except SyntaxError as exc:
        return exc.lineno, exc.offset
    raise AssertionError(f"{name} compiles")


def python_lines(text: str) -> list[str]:
    """Lines as Python's tokenizer sees them: only CRLF, CR and LF end a line (``str.splitlines`` also breaks at
    form feeds, U+2028 and other separators, which Python leaves inside a line)."""
    return re.split(r"\r\n|\r|\n", text)


def _finding_oracle(name: str, encoding: str) -> tuple[int, int]:
    """Line and column (1-based, in characters) of the loss call in a decoded variant of the bad program."""
    text = _stored(name).decode(encoding).lstrip("\ufeff")
    for number, line in enumerate(python_lines(text), start=1):
        if "F.cross_entropy(" in line:
            return number, line.index("F.cross_entropy(") + 1
    raise AssertionError(name)


def _json_oracle(name: str) -> tuple[int, int]:
    try:
        json.loads(_stored(name))
    except json.JSONDecodeError as exc:
        return exc.lineno, exc.colno
    raise AssertionError(f"{name} is valid JSON")


SYNTAX = ["syntax_py2_print.py", "syntax_py2_except.py", "syntax_unclosed_paren.py", "syntax_bad_indent.py",
          "syntax_bad_def.py", "syntax_bad_string.py"]

# name -> (kind, line, col, message fragment) for files that cannot be checked
PROBLEMS = {
    **{name: ("syntax-error", *_syntax_oracle(name), "") for name in SYNTAX},
    "null_byte.py": ("decode-error", 2, 6, "null byte"),
    "invalid_utf8.py": ("decode-error", 2, 6, "0xff"),
    "unknown_cookie.py": ("decode-error", 1, 1, "klingon"),
    "bom_latin1_cookie.py": ("decode-error", 1, 1, "BOM"),
    "notebook_bad_json.ipynb": ("decode-error", *_json_oracle("notebook_bad_json.ipynb"), "JSON"),
    "notebook_not_a_notebook.ipynb": ("decode-error", 1, 1, "not a notebook"),
}

# name -> encoding for variants of the bad program that must give the one PKL001 finding at the right place
FINDINGS = {
    "utf16_bom.py": "utf-16",
    "latin1_cookie.py": "latin-1",
    "crlf.py": "utf-8",
    "cr_only.py": "utf-8",
    "tabs.py": "utf-8",
    "page_break.py": "utf-8",
    "unicode_separator.py": "utf-8",
}

def test_every_stored_file_has_an_expectation() -> None:
    stored = {p.name[: -len(".in")] for p in HOSTILE.glob("*.in")}
    assert stored == set(PROBLEMS) | set(FINDINGS) | {"empty.py", "notebook_cells.ipynb"}


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_unusable_file_is_one_problem_line(work: Path, name: str) -> None:
    kind, line, col, fragment = PROBLEMS[name]
    (work / name).write_bytes(_stored(name))
    code, out, err = cli(name, "neighbour.py")
    assert code == 2, out + err
    m = assert_one_problem(records(out), name, kind, line, col)
    assert fragment in m["msg"]
    check_neighbour(out)
    assert_no_traceback(out, err)


def test_python2_print_names_the_fix(work: Path) -> None:
    (work / "p.py").write_bytes(_stored("syntax_py2_print.py"))
    code, out, _ = cli("p.py")
    assert code == 2 and "print(" in out


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_encoding_and_line_ending_variants_are_linted_at_the_right_column(work: Path, name: str) -> None:
    (work / name).write_bytes(_stored(name))
    line, col = _finding_oracle(name, FINDINGS[name])
    code, out, err = cli(name, "neighbour.py")
    assert code == 1, out + err
    got = records(out)[name]
    assert [(m["code"], int(m["line"]), int(m["col"])) for m in got] == [("PKL001", line, col)]
    # the trail's origin is the pad_packed_sequence line of the same file, whatever the line endings
    assert f"padded since {name}:{line - 6}" in got[0]["msg"]
    assert got[0]["msg"].startswith("`F.cross_entropy` reads `logits.reshape(-1, 5)`"), got[0]["msg"]
    check_neighbour(out)
    assert_no_traceback(out, err)


def test_latin1_column_counts_characters_not_bytes(work: Path) -> None:
    # the finding's line holds a non-ASCII character before the call: 2 bytes in UTF-8, 1 in latin-1, 1 column
    text = _stored("latin1_cookie.py").decode("latin-1")
    flagged = next(ln for ln in text.splitlines() if "F.cross_entropy(" in ln)
    assert "é" in flagged.split("F.cross_entropy")[0]
    (work / "l.py").write_bytes(_stored("latin1_cookie.py"))
    (work / "u.py").write_bytes(text.replace("latin-1", "utf-8").encode("utf-8"))
    _, out, _ = cli("l.py", "u.py")
    cols = {m["path"]: m["col"] for ms in records(out).values() for m in ms}
    assert cols["l.py"] == cols["u.py"] == str(flagged.index("F.cross_entropy(") + 1)


def test_empty_file_is_clean(work: Path) -> None:
    (work / "empty.py").write_bytes(_stored("empty.py"))
    (work / "only_import.py").write_text(IMPORT, encoding="utf-8")
    code, out, err = cli("empty.py", "only_import.py")
    assert (code, out) == (0, "")
    assert_no_traceback(out, err)


def test_notebook_lints_code_cells_only_at_cell_positions(work: Path) -> None:
    # cells: code, markdown, code (model), raw, %%bash, unknown cell type, code (loss with a %magic first)
    (work / "nb.ipynb").write_bytes(_stored("notebook_cells.ipynb"))
    code, out, err = cli("nb.ipynb", "neighbour.py")
    assert code == 1, out + err
    (m,) = records(out)["nb.ipynb"]
    cell = json.loads(_stored("notebook_cells.ipynb"))["cells"][6]["source"]
    line = next(i for i, ln in enumerate(cell, start=1) if "F.cross_entropy(" in ln)
    assert (m["code"], m["cell"], int(m["line"]), int(m["col"])) == (
        "PKL001", "7", line, cell[line - 1].index("F.cross_entropy(") + 1)
    check_neighbour(out)
    assert_no_traceback(out, err)


def test_notebook_message_cites_the_origin_by_cell(work: Path) -> None:
    (work / "nb.ipynb").write_bytes(_stored("notebook_cells.ipynb"))
    _, out, _ = cli("nb.ipynb")
    assert "padded since nb.ipynb:cell 3:14" in out, out


# --- big files --------------------------------------------------------------------------------------------------

def test_one_megabyte_single_line_is_linted(work: Path) -> None:
    (work / "wide.py").write_text(NEIGHBOUR + 'BLOB = "' + "a" * (1 << 20) + '"\n', encoding="utf-8")
    (work / "wide_list.py").write_text(NEIGHBOUR + "TABLE = [" + "1, " * (350_000) + "]\n", encoding="utf-8")
    assert (work / "wide_list.py").stat().st_size > 1 << 20
    code, out, err = cli("wide.py", "wide_list.py")
    assert code == 1, out + err
    recs = records(out)
    for name in ("wide.py", "wide_list.py"):
        assert [(m["code"], m["line"], m["col"]) for m in recs[name]] == [("PKL001", "20", "12")]


def test_twenty_megabyte_file_is_too_large_without_parsing(work: Path) -> None:
    with open(work / "generated.py", "w", encoding="utf-8") as f:
        f.write(NEIGHBOUR)
        f.write("x = 1\n" * ((20 << 20) // 6 + 1))
    assert (work / "generated.py").stat().st_size > 20 << 20
    code, out, err = cli("generated.py", "neighbour.py")
    assert code == 2
    m = assert_one_problem(records(out), "generated.py", "too-large", 1, 1)
    assert "max-file-size" in m["msg"]
    check_neighbour(out)
    assert_no_traceback(out, err)


def test_max_file_size_from_config(work: Path) -> None:
    (work / "pyproject.toml").write_text("[tool.packlint]\nmax-file-size = 2000\n", encoding="utf-8")
    (work / "long.py").write_text(NEIGHBOUR + "#" * 3000 + "\n", encoding="utf-8")
    code, out, _ = cli("long.py", "neighbour.py")
    assert code == 2
    assert_one_problem(records(out), "long.py", "too-large", 1, 1)
    check_neighbour(out)


# --- deep nesting: run in a child process, a native crash must fail only this test ------------------------------

def _nested_in_function(expr: str) -> str:
    return IMPORT + "\n\ndef f(a, b):\n    x = " + expr + "\n    return x\n"


DEEP = {
    # name -> source; each must be refused with one syntax-error line (CPython cannot compile them either)
    "parens.py": IMPORT + "x = " + "(" * 10_000 + ")" * 10_000 + "\n",
    "lists.py": IMPORT + "x = " + "[" * 10_000 + "]" * 10_000 + "\n",
    "mixed_brackets.py": IMPORT + "x = " + "({[" * 4_000 + "]})" * 4_000 + "\n",
    "plus_chain.py": IMPORT + "x = " + "+".join(["a"] * 100_000) + "\n",
    "plus_chain_in_function.py": _nested_in_function("+".join(["a"] * 100_000)),
    "not_chain.py": _nested_in_function("not " * 100_000 + "a"),
    "unary_minus_chain.py": _nested_in_function("-" * 100_000 + "a"),
    "attribute_chain.py": _nested_in_function("a" + ".b" * 100_000),
    "call_chain.py": _nested_in_function("a" + "()" * 100_000),
    "lambda_chain.py": _nested_in_function("lambda: " * 20_000 + "a"),
    "ifexp_chain.py": _nested_in_function("a if b else " * 20_000 + "a"),
    "deep_indentation.py": IMPORT + "".join(" " * i + "if a:\n" for i in range(120)) + " " * 120 + "pass\n",
}


def test_deep_nesting_never_crashes_the_run(tmp_path: Path) -> None:
    for name, text in DEEP.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "neighbour.py").write_text(NEIGHBOUR, encoding="utf-8")
    code, out, err = cli_subprocess(".", cwd=tmp_path)
    assert code == 2, (code, out, err)
    recs = records(out)
    for name, text in DEEP.items():
        m = assert_one_problem(recs, name, "syntax-error")
        with pytest.raises((SyntaxError, RecursionError, MemoryError)):
            compile(text, name, "exec")
        if "brackets" in name or name in ("parens.py", "lists.py"):
            assert (m["line"], m["col"]) == ("2", "1") and "nested" in m["msg"], m.group(0)
    check_neighbour(out)
    assert_no_traceback(out, err)


MODERATE = {
    # programs CPython compiles: packlint must lint them (a problem line is tolerated, never a crash)
    "plus_1000.py": _nested_in_function("+".join(["a"] * 1000)),
    "not_1000.py": _nested_in_function("not " * 1000 + "a"),
    "attribute_1000.py": _nested_in_function("a" + ".b" * 1000),
    "elif_1000.py": IMPORT + "\n\ndef f(a):\n    if a:\n        pass\n" + "    elif a:\n        pass\n" * 1000,
    "parens_100.py": _nested_in_function("(" * 100 + "a" + ")" * 100),
    "nested_defs_60.py": IMPORT + "".join(" " * i + "def f(a):\n" for i in range(60)) + " " * 60 + "return a\n",
    "and_chain_30000.py": _nested_in_function(" and ".join(["a"] * 30_000)),
    "compare_chain_30000.py": _nested_in_function(" < ".join(["a"] * 30_000)),
    "string_concat_30000.py": _nested_in_function(" ".join(['"s"'] * 30_000)),
}


def test_deep_but_valid_programs_never_crash(tmp_path: Path) -> None:
    for name, text in MODERATE.items():
        compile(text, name, "exec")
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "neighbour.py").write_text(NEIGHBOUR, encoding="utf-8")
    code, out, err = cli_subprocess(".", cwd=tmp_path)
    assert code in (1, 2), (code, out, err)
    recs = records(out)
    for name in MODERATE:
        assert len(recs.get(name, [])) <= 1, recs[name]
    check_neighbour(out)
    assert_no_traceback(out, err)


def test_deep_but_valid_programs_are_not_internal_errors(work: Path) -> None:
    for name in ("plus_1000.py", "not_1000.py", "attribute_1000.py", "elif_1000.py"):
        (work / name).write_text(MODERATE[name], encoding="utf-8")
    code, out, _ = cli(".")
    assert code == 1 and "internal-error" not in out, out


# --- the file system --------------------------------------------------------------------------------------------

def test_directory_named_like_a_python_file_is_walked(work: Path) -> None:
    (work / "x.py").mkdir()
    (work / "x.py" / "inner.py").write_text(NEIGHBOUR, encoding="utf-8")
    (work / "book.ipynb").mkdir()
    code, out, err = cli("x.py", "book.ipynb", "neighbour.py")
    assert code == 1, out + err
    recs = records(out)
    assert set(recs) == {"neighbour.py", os.path.join("x.py", "inner.py")}
    code, out, _ = cli(".")
    assert code == 1 and set(records(out)) == {"neighbour.py", os.path.join("x.py", "inner.py")}


def test_symlink_loop(work: Path) -> None:
    os.symlink("loop_b.py", work / "loop_a.py")
    os.symlink("loop_a.py", work / "loop_b.py")
    code, out, err = cli("loop_a.py", "neighbour.py")
    assert code == 2
    m = assert_one_problem(records(out), "loop_a.py", "io-error", 1, 1)
    assert "symbolic links" in m["msg"]
    check_neighbour(out)
    # met while walking a folder, a loop is nothing to lint
    code, out, err = cli(".")
    assert code == 1 and set(records(out)) == {"neighbour.py"}
    assert_no_traceback(out, err)


def test_folder_symlink_loop_is_not_followed(work: Path) -> None:
    (work / "pkg").mkdir()
    os.symlink("..", work / "pkg" / "up")
    os.symlink(".", work / "pkg" / "self")
    code, out, err = cli(".")
    assert code == 1 and set(records(out)) == {"neighbour.py"}
    assert_no_traceback(out, err)


def test_broken_symlink(work: Path) -> None:
    os.symlink("nowhere.py", work / "dangling.py")
    code, out, err = cli("dangling.py", "neighbour.py")
    assert code == 2
    m = assert_one_problem(records(out), "dangling.py", "io-error", 1, 1)
    assert "broken symbolic link" in m["msg"] or "No such file" in m["msg"]
    check_neighbour(out)
    code, out, err = cli(".")
    assert code == 1 and set(records(out)) == {"neighbour.py"}
    assert_no_traceback(out, err)


def test_file_name_with_a_newline_stays_one_record(work: Path) -> None:
    (work / "two\nlines.py").write_text(NEIGHBOUR, encoding="utf-8")
    code, out, _ = cli(".")
    assert code == 1
    records(out)  # every line is a well-formed record


def test_missing_argument(work: Path) -> None:
    code, out, err = cli("not_there.py", "neighbour.py")
    assert code == 2
    assert_one_problem(records(out), "not_there.py", "io-error", 1, 1)
    check_neighbour(out)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_named_like_a_python_file_never_blocks(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "neighbour.py").write_text(NEIGHBOUR, encoding="utf-8")
    code, out, err = cli_subprocess("pipe.py", "neighbour.py", cwd=tmp_path, timeout=60)
    assert code == 2
    assert_one_problem(records(out), "pipe.py", "io-error", 1, 1)
    check_neighbour(out)
    code, out, err = cli_subprocess(".", cwd=tmp_path, timeout=60)
    assert code == 1 and set(records(out)) == {"neighbour.py"}


# --- failures injected through the reader seam (tests run as root: permissions cannot make a read fail) ---------

@pytest.fixture
def failing_reader(monkeypatch: pytest.MonkeyPatch):
    """Make reads of chosen file names raise the given OSError, through ``read_source``'s ``reader`` seam."""
    failures: dict[str, OSError] = {}
    real = packlint.source.read_source

    def reader(path: Path, limit: int) -> bytes:
        if Path(path).name in failures:
            raise failures[Path(path).name]
        return packlint.source.read_file_bytes(path, limit)

    def read_source(path, **kwargs):
        kwargs.setdefault("reader", reader)
        return real(path, **kwargs)

    monkeypatch.setattr(packlint.source, "read_source", read_source)
    return failures


@pytest.mark.parametrize("name,error,message", [
    ("locked.py", PermissionError(13, "Permission denied"), "Permission denied"),
    ("vanished.py", FileNotFoundError(2, "No such file or directory"), "No such file or directory"),
    ("bad_disk.py", OSError(5, "Input/output error"), "Input/output error"),
    ("locked.ipynb", PermissionError(13, "Permission denied"), "Permission denied"),
])
def test_unreadable_file(work: Path, failing_reader: dict, name: str, error: OSError, message: str) -> None:
    (work / name).write_text(NEIGHBOUR if name.endswith(".py") else "{}", encoding="utf-8")
    failing_reader[name] = error
    code, out, err = cli(".")
    assert code == 2, out + err
    m = assert_one_problem(records(out), name, "io-error", 1, 1)
    assert m["msg"] == message
    check_neighbour(out)
    assert_no_traceback(out, err)


def test_file_deleted_between_discovery_and_reading(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (work / "gone.py").write_text(NEIGHBOUR, encoding="utf-8")
    real = packlint.files.discover

    def discover_then_delete(*args, **kwargs):
        found = real(*args, **kwargs)
        (work / "gone.py").unlink()
        return found

    monkeypatch.setattr(packlint.files, "discover", discover_then_delete)
    code, out, err = cli(".")
    assert code == 2, out + err
    m = assert_one_problem(records(out), "gone.py", "io-error", 1, 1)
    assert "No such file" in m["msg"]
    check_neighbour(out)
    assert_no_traceback(out, err)


def test_file_replaced_by_a_folder_between_discovery_and_reading(work: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    (work / "swapped.py").write_text(NEIGHBOUR, encoding="utf-8")
    real = packlint.files.discover

    def discover_then_swap(*args, **kwargs):
        found = real(*args, **kwargs)
        (work / "swapped.py").unlink()
        (work / "swapped.py").mkdir()
        return found

    monkeypatch.setattr(packlint.files, "discover", discover_then_swap)
    code, out, err = cli(".")
    assert code == 2
    assert_one_problem(records(out), "swapped.py", "io-error", 1, 1)
    check_neighbour(out)


# --- fault isolation: a crash in a rule or in the analysis of one function -------------------------------------

def _break_rule(monkeypatch: pytest.MonkeyPatch, module: str, error: BaseException) -> None:
    import importlib

    mod = importlib.import_module(module)

    def boom(event):
        raise error

    monkeypatch.setattr(mod, "RULE", dataclasses.replace(mod.RULE, check=boom))


@pytest.mark.parametrize("error", [ValueError("injected fault"), RecursionError("maximum recursion depth")])
def test_rule_that_raises_is_an_internal_error_naming_rule_and_file(work: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    error: BaseException) -> None:
    _break_rule(monkeypatch, "packlint.rules.pkl001_unmasked_loss", error)
    (work / "also_bad.py").write_text(NEIGHBOUR, encoding="utf-8")
    (work / "last_step.py").write_text(LAST_STEP, encoding="utf-8")
    code, out, err = cli(".")
    assert code == 2, out + err
    recs = records(out)
    for name in ("neighbour.py", "also_bad.py"):
        m = assert_one_problem(recs, name, "internal-error")
        assert "PKL001" in m["msg"] and "unmasked-loss" in m["msg"] and type(error).__name__ in m["msg"]
        assert (m["line"], m["col"]) == ("20", "12")  # where the rule was looking
    # the other rules still ran, on the same files and the others
    assert [m["code"] for m in recs["last_step.py"]] == ["PKL003"]
    assert_no_traceback(out, err)


def test_rule_crash_is_an_error_in_json_with_pkl900(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _break_rule(monkeypatch, "packlint.rules.pkl001_unmasked_loss", KeyError("x"))
    code, out, _ = cli("--output-format", "json", "neighbour.py")
    assert code == 2
    doc = json.loads(out)
    assert doc["findings"] == []
    (error,) = doc["errors"]
    assert error.get("code") == "PKL900" and "PKL001" in error["message"], error


def test_exception_in_the_analysis_of_one_function(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault deep in the interpreter, on one call in one function of one file."""
    from packlint.analysis.expressions import Expressions
    import ast

    real = Expressions.eval_Call

    def eval_call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id == "kaboom":
            raise ZeroDivisionError("injected fault")
        return real(self, node)

    monkeypatch.setattr(Expressions, "eval_Call", eval_call)
    # a function padding reaches (it unpacks), so it is analysed
    (work / "exploding.py").write_text(NEIGHBOUR + "\n\ndef explode(x):\n    return kaboom(pad_packed_sequence(x)[0])\n",
                                       encoding="utf-8")
    (work / "last_step.py").write_text(LAST_STEP, encoding="utf-8")
    code, out, err = cli(".")
    assert code == 2, out + err
    recs = records(out)
    m = assert_one_problem(recs, "exploding.py", "internal-error")
    assert "explode" in m["msg"] and "ZeroDivisionError" in m["msg"]
    check_neighbour(out)
    assert [m["code"] for m in recs["last_step.py"]] == ["PKL003"]
    assert_no_traceback(out, err)


def test_exception_in_a_module_body(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from packlint.analysis.expressions import Expressions
    import ast

    real = Expressions.eval_Call

    def eval_call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id == "kaboom":
            raise AttributeError("injected fault")
        return real(self, node)

    monkeypatch.setattr(Expressions, "eval_Call", eval_call)
    # a body whose own top-level code uses the packing API runs (one that only imports it need not)
    (work / "top.py").write_text(IMPORT + "CONFIG = kaboom(pad_packed_sequence)\n", encoding="utf-8")
    code, out, err = cli(".")
    assert code == 2
    m = assert_one_problem(records(out), "top.py", "internal-error")
    assert "AttributeError" in m["msg"]
    check_neighbour(out)
    assert_no_traceback(out, err)


def test_internal_errors_are_not_silenced_by_noqa_or_ignore(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _break_rule(monkeypatch, "packlint.rules.pkl001_unmasked_loss", ValueError("injected"))
    (work / "neighbour.py").write_text(NEIGHBOUR.replace("y.reshape(-1))", "y.reshape(-1))  # noqa"),
                                       encoding="utf-8")
    code, out, _ = cli("--ignore", "PKL900", "--ignore", "PKL001", "neighbour.py")
    assert code == 2
    assert_one_problem(records(out), "neighbour.py", "internal-error")


# --- determinism ------------------------------------------------------------------------------------------------

def _tree(root: Path, order: list[str]) -> None:
    """The same mixed tree, its files created in the given order."""
    contents = {
        "a/__init__.py": "",
        "a/model.py": NEIGHBOUR.split("\n\n\ndef step")[0] + "\n",
        "a/train.py": "import torch.nn.functional as F\nfrom a.model import Tagger\n\n\n"
                      "def step(model: Tagger, x, lengths, y):\n    logits = model(x, lengths)\n"
                      "    return F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))\n",
        "b/bad.py": NEIGHBOUR,
        "b/last.py": LAST_STEP,
        "b/syntax.py": IMPORT + "print x\n",
        "c/latin.py": _stored("latin1_cookie.py"),
        "c/crlf.py": _stored("crlf.py"),
        "c/nb.ipynb": _stored("notebook_cells.ipynb"),
        "c/broken.ipynb": _stored("notebook_bad_json.ipynb"),
        "c/nul.py": _stored("null_byte.py"),
        "z.py": NEIGHBOUR.replace("Tagger", "Tagger2"),
        "m.py": IMPORT + "def f(x):\n    out, n = pad_packed_sequence(x)\n    return out[:, -1]\n",
    }
    for name in order or sorted(contents):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = contents[name]
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return sorted(contents)


FORMATS = ("concise", "full", "json", "sarif", "github")


@pytest.mark.order_sensitive
def test_same_tree_gives_byte_identical_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever order the files are named or were created in (the cache is off: this isolates ordering)."""
    names = _tree(tmp_path / "one", [])
    _tree(tmp_path / "two", list(reversed(names)))
    monkeypatch.chdir(tmp_path / "one")
    runs = {}
    for fmt in FORMATS:
        first = cli("--no-cache", "--output-format", fmt, ".")
        again = cli("--no-cache", "--output-format", fmt, ".")
        forward = cli("--no-cache", "--output-format", fmt, *names)
        backward = cli("--no-cache", "--output-format", fmt, *reversed(names))
        shuffled = cli("--no-cache", "--output-format", fmt, *names[1::2], *names[::2])
        assert first == again and forward == backward == shuffled, fmt
        # files named explicitly are always parsed, walked ones only when they can matter: only that count differs
        assert _without_parse_count(first) == _without_parse_count(forward), fmt
        assert first[0] == 2
        runs[fmt] = first
    monkeypatch.chdir(tmp_path / "two")
    for fmt, expected in runs.items():
        code, out, err = cli("--no-cache", "--output-format", fmt, ".")  # the same tree, created in the other order
        # SARIF names the project root as an absolute URI: the only place the two locations may differ
        assert (code, out.replace(str(tmp_path / "two"), str(tmp_path / "one")), err) == expected, fmt
    assert "PKL001" in runs["concise"][1] and "PKL003" in runs["concise"][1]


def _without_parse_count(run: tuple[int, str, str]) -> tuple[int, str, str]:
    return run[0], re.sub(r'"files_parsed": \d+', '"files_parsed": N', run[1]), run[2]


def _cache_and_jobs_runs(root: Path, fmt: str) -> dict[str, tuple[int, str, str]]:
    shutil.rmtree(root / ".packlint_cache", ignore_errors=True)
    runs = {}
    for label, extra in (("cold cache", ()), ("warm cache", ()), ("no cache", ("--no-cache",)),
                         ("-j 1", ("--no-cache", "-j", "1")), ("-j 4", ("--no-cache", "-j", "4")),
                         ("-j 4, warm cache", ("-j", "4"))):
        runs[label] = cli_subprocess("--output-format", fmt, *extra, ".", cwd=root)
    return runs


@pytest.mark.order_sensitive
@pytest.mark.parametrize("fmt", ["full", "sarif"])
def test_identical_output_with_and_without_cache_and_jobs(tmp_path: Path, fmt: str) -> None:
    _tree(tmp_path, [])
    runs = _cache_and_jobs_runs(tmp_path, fmt)
    assert len(set(runs.values())) == 1, {k: v[1][-300:] for k, v in runs.items()}
    assert runs["cold cache"][0] == 2


@pytest.mark.order_sensitive
def test_identical_json_with_and_without_cache(tmp_path: Path) -> None:
    _tree(tmp_path, [])
    runs = _cache_and_jobs_runs(tmp_path, "json")
    # files_parsed is the one figure that must differ: a warm cache parses nothing
    runs = {k: (code, re.sub(r'"files_parsed": \d+', '"files_parsed": N', out), err)
            for k, (code, out, err) in runs.items()}
    assert len(set(runs.values())) == 1, {k: v[1][-120:] for k, v in runs.items()}


@pytest.mark.order_sensitive
def test_output_does_not_depend_on_hash_seed(tmp_path: Path) -> None:
    _tree(tmp_path, [])
    outs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        code, out, err = cli_subprocess("--no-cache", "--output-format", "full", ".", cwd=tmp_path, env=env)
        assert code == 2, err
        outs.add((out, err))
    assert len(outs) == 1
