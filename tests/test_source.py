"""packlint.source: bytes -> text as Python reads them, notebooks -> cells, failures -> problems."""

from __future__ import annotations

import ast
import codecs
import errno
import json
from pathlib import Path

import pytest

from packlint.diagnostics import FileProblem, Finding, TrailStep
from packlint.source import (
    SourceText,
    decode_bytes,
    neutralise_magics,
    read_file_bytes,
    read_notebook,
    read_source,
)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- decoding -------------------------------------------------------------------------------


def test_latin1_cookie_is_decoded_with_latin1(tmp_path):
    path = write(tmp_path, "l1.py", b"# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n")
    src = read_source(path)
    assert isinstance(src, SourceText)
    assert src.encoding == "iso-8859-1"
    assert src.text.splitlines()[1] == "name = 'café'"


def test_cookie_on_second_line_is_honoured():
    text = decode_bytes(b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\nx = '\x80'\n", "a.py")
    assert text.splitlines()[2] == "x = '€'"


def test_utf8_bom_is_removed(tmp_path):
    src = read_source(write(tmp_path, "bom.py", codecs.BOM_UTF8 + b"x = 1\n"))
    assert src.text == "x = 1\n"
    assert src.encoding == "utf-8-sig"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_bom(codec):
    bom = {"utf-16-be": codecs.BOM_UTF16_BE}.get(codec, b"")
    data = bom + "x = 'é'\ny = 2\n".encode(codec)
    assert decode_bytes(data, "w.py") == "x = 'é'\ny = 2\n"


def test_invalid_utf8_reports_line_and_column_of_the_first_bad_byte():
    problem = decode_bytes(b"a = 1\nb = 2\nname = '\xff\xfe'\n", "bad.py")
    assert isinstance(problem, FileProblem)
    assert (problem.kind, problem.line, problem.col) == ("decode-error", 3, 9)
    assert "0xff" in problem.message


def test_invalid_utf8_on_first_line_without_cookie_is_a_decode_error_there():
    # tokenize gives up on such a first line; we still point at the byte.
    problem = decode_bytes(b"x = '\xe9'\n", "bad.py")
    assert isinstance(problem, FileProblem)
    assert (problem.kind, problem.line, problem.col) == ("decode-error", 1, 6)


def test_latin1_bytes_without_cookie_are_not_silently_accepted():
    assert isinstance(decode_bytes(b"# comment\nx = '\xe9'\n", "a.py"), FileProblem)


def test_unknown_cookie_encoding_names_it():
    problem = decode_bytes(b"# coding: klingon\nx = 1\n", "k.py")
    assert isinstance(problem, FileProblem)
    assert problem.kind == "decode-error"
    assert "klingon" in problem.message
    assert problem.line == 1


def test_bom_with_contradicting_cookie():
    problem = decode_bytes(codecs.BOM_UTF8 + b"# coding: latin-1\n", "c.py")
    assert isinstance(problem, FileProblem) and problem.kind == "decode-error"


def test_null_byte_is_a_problem_at_its_position():
    problem = decode_bytes(b"x = 1\ny = 2\x00\n", "n.py")
    assert isinstance(problem, FileProblem)
    assert (problem.kind, problem.line, problem.col) == ("decode-error", 2, 6)
    assert "null byte" in problem.message


def test_crlf_and_cr_are_kept_and_lines_counted_right():
    assert decode_bytes(b"a = 1\r\nb = 2\r\n", "a.py") == "a = 1\r\nb = 2\r\n"
    problem = decode_bytes(b"a = 1\rb = 2\rc = '\xff'\r", "a.py")
    assert (problem.line, problem.col) == (3, 6)


def test_empty_file(tmp_path):
    src = read_source(write(tmp_path, "empty.py", b""))
    assert isinstance(src, SourceText) and src.text == ""


# --- reading failures -----------------------------------------------------------------------


def test_missing_file_is_an_io_error(tmp_path):
    problem = read_source(tmp_path / "nope.py")
    assert problem == FileProblem(str(tmp_path / "nope.py"), "io-error", "No such file or directory")


def test_directory_is_an_io_error(tmp_path):
    (tmp_path / "pkg.py").mkdir()
    problem = read_source(tmp_path / "pkg.py")
    assert isinstance(problem, FileProblem) and problem.kind == "io-error"


def test_fifo_does_not_block(tmp_path):
    import os

    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    problem = read_source(fifo)
    assert isinstance(problem, FileProblem)
    assert (problem.kind, problem.message) == ("io-error", "not a regular file")


def test_too_large_is_detected_without_reading_the_whole_file(tmp_path):
    path = write(tmp_path, "big.py", b"x = 1\n" * 1000)
    asked = []

    def reader(p, limit):
        asked.append(limit)
        return read_file_bytes(p, limit)

    problem = read_source(path, max_bytes=100, reader=reader)
    assert isinstance(problem, FileProblem) and problem.kind == "too-large"
    assert "6000 bytes" in problem.message and "100" in problem.message
    assert asked == [100]


def test_default_reader_returns_at_most_limit_plus_one_bytes(tmp_path):
    path = write(tmp_path, "big.py", b"#" * 10_000)
    assert len(read_file_bytes(path, 50)) == 51
    assert len(read_file_bytes(path, 20_000)) == 10_000


def test_file_exactly_at_the_limit_is_read(tmp_path):
    path = write(tmp_path, "edge.py", b"x = 1\n")
    assert isinstance(read_source(path, max_bytes=6), SourceText)
    assert read_source(path, max_bytes=5).kind == "too-large"


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory"), "No such file or directory"),
        (OSError(errno.EIO, "Input/output error"), "Input/output error"),
    ],
)
def test_reader_failures_become_io_errors(tmp_path, exc, message):
    # Tests run as root, so unreadable and vanished files are simulated through the seam.
    def reader(path, limit):
        raise exc

    for name in ("gone.py", "gone.ipynb"):
        problem = read_source(tmp_path / name, reader=reader)
        assert problem == FileProblem(str(tmp_path / name), "io-error", message)


# --- notebooks ------------------------------------------------------------------------------


def notebook(cells, language="python"):
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"language_info": {"name": language}},
        "cells": [
            {"cell_type": kind, "id": f"c{i}", "metadata": {}, "source": source,
             **({"outputs": [], "execution_count": None} if kind == "code" else {})}
            for i, (kind, source) in enumerate(cells)
        ],
    }


def write_nb(tmp_path, nb, name="nb.ipynb"):
    path = tmp_path / name
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_notebook_code_cells_are_concatenated_and_located(tmp_path):
    nb = notebook(
        [
            ("markdown", "# Title\ntext"),
            ("code", ["import torch\n", "x = 1"]),  # list-of-lines source, no final newline
            ("raw", "not python"),
            ("code", "y = 2\nz = 3\n"),
        ]
    )
    src = read_notebook(write_nb(tmp_path, nb))
    assert isinstance(src, SourceText) and src.is_notebook
    assert src.text == "import torch\nx = 1\ny = 2\nz = 3\n"
    assert [(c.number, c.first_line, c.line_count) for c in src.cells] == [(2, 1, 2), (4, 3, 2)]
    assert [src.locate(n) for n in (1, 2, 3, 4)] == [(2, 1), (2, 2), (4, 1), (4, 2)]
    assert src.line_text(2, cell=4) == "z = 3"
    compile(src.text, "nb", "exec")


def test_read_source_dispatches_on_ipynb(tmp_path):
    src = read_source(write_nb(tmp_path, notebook([("code", "a = 1\n")])))
    assert isinstance(src, SourceText) and src.is_notebook and src.text == "a = 1\n"


def test_magics_are_neutralised_without_moving_lines(tmp_path):
    cell = "%matplotlib inline\n!pip install torch\nfor i in range(3):\n    %time f(i)\nfiles = !ls\nlen?\nz = 1\n"
    nb = notebook([("code", cell), ("code", "%%bash\necho hi\nexit 1\n"), ("code", "%%time\nw = 2\n")])
    src = read_notebook(write_nb(tmp_path, nb))
    lines = src.text.splitlines()
    assert len(lines) == 7 + 3 + 2
    assert lines[3] == "    pass" and lines[6] == "z = 1" and lines[11] == "w = 2"
    compile(src.text, "nb", "exec")  # every magic became valid Python
    assert src.locate(12) == (3, 2)
    assert src.line_text(1, cell=1) == "%matplotlib inline"  # reports show what the user wrote


def test_magic_line_continuation_takes_its_tail():
    assert neutralise_magics("!echo a \\\n  b\nx = 1") == "pass\n\nx = 1\n"


def test_modulo_and_not_equal_are_not_magics():
    code = "a = b % c\nd = a != b\ne = '%s' % a\n"
    assert neutralise_magics(code) == code


def test_invalid_notebook_json_is_a_decode_error_with_position(tmp_path):
    path = tmp_path / "bad.ipynb"
    path.write_text('{\n  "cells": [\n    {"cell_type": "code",,}\n', encoding="utf-8")
    problem = read_notebook(path)
    assert isinstance(problem, FileProblem)
    assert problem.kind == "decode-error"
    assert problem.line == 3
    assert "JSON" in problem.message


@pytest.mark.parametrize("doc", ["[1, 2]", '{"cells": 3}', '"text"'])
def test_json_that_is_not_a_notebook(tmp_path, doc):
    path = tmp_path / "odd.ipynb"
    path.write_text(doc, encoding="utf-8")
    problem = read_notebook(path)
    assert isinstance(problem, FileProblem) and problem.kind == "decode-error"


def test_non_python_notebook_has_nothing_to_lint(tmp_path):
    src = read_notebook(write_nb(tmp_path, notebook([("code", "x <- c(1, 2)\n")], language="R")))
    assert isinstance(src, SourceText) and src.text == ""


def test_notebook_without_nbformat_falls_back_to_json(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_nbformat(name, *args, **kwargs):
        if name == "nbformat":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_nbformat)
    nb = notebook([("markdown", "m"), ("code", ["a = 1\n", "b = 2\n"])])
    src = read_notebook(write_nb(tmp_path, nb))
    assert src.text == "a = 1\nb = 2\n" and src.locate(2) == (2, 2)
    (tmp_path / "bad.ipynb").write_text("{", encoding="utf-8")
    assert read_notebook(tmp_path / "bad.ipynb").kind == "decode-error"


def test_relocate_maps_findings_trails_and_problems_into_cells(tmp_path):
    path = write_nb(tmp_path, notebook([("code", "a = 1\nb = 2\n"), ("markdown", "x"), ("code", "c = 3\nd = 4\n")]))
    src = read_notebook(path)
    p = str(path)
    finding = Finding(
        p, 4, 5, "PKL001", "unmasked-loss", "m", trail=(TrailStep(p, 2, 1, "padded"), TrailStep("other.py", 9, 1, "x")),
        end_line=4,
    )
    moved = src.relocate(finding)
    assert (moved.cell, moved.line, moved.col, moved.end_line) == (3, 2, 5, 2)
    assert [(s.cell, s.line) for s in moved.trail] == [(1, 2), (0, 9)]
    assert src.relocate(moved) == moved  # idempotent
    problem = src.relocate(FileProblem(p, "syntax-error", "bad", line=3, col=2))
    assert (problem.cell, problem.line) == (3, 1)


def test_relocate_leaves_plain_files_alone(tmp_path):
    src = read_source(write(tmp_path, "a.py", b"x = 1\n"))
    finding = Finding("a.py", 1, 1, "PKL001", "unmasked-loss", "m")
    assert src.relocate(finding) is finding
    assert src.locate(7) == (0, 7)


def test_percent_and_bang_inside_brackets_strings_or_continuations_are_python_not_magics() -> None:
    """IPython reads `%`/`!` as a magic only where a statement starts: `% (a, b)` continuing an open call is string
    formatting, a `!=` continuing a condition is a comparison, a `%` line in a triple-quoted string is text."""
    source = (
        "msg = ('shape %s'\n"
        "       % (shape,))\n"
        "ok = (a\n"
        "      != b)\n"
        "doc = '''\n"
        "%not a magic\n"
        "'''\n"
        "total = 1 + \\\n"
        "    2\n"
        "%time run()\n"
    )
    out = neutralise_magics(source).splitlines()
    assert out[:9] == source.splitlines()[:9]
    assert out[9] == "pass"
    ast.parse("\n".join(out))


def test_a_cell_indented_from_its_first_line_is_dedented_as_ipython_does() -> None:
    out = neutralise_magics(" !tts --text hi \\\n      --out x.wav\n x = 1\n")
    assert out.splitlines()[0] == "pass"
    ast.parse(out)
