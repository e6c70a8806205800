"""Bytes on disk -> text the engine can parse, or a FileProblem that says why not.

Why this is its own module: every way a file can be unreadable (gone, a folder, too big, not
text, a wrong coding cookie, a notebook that is not JSON) must become one problem line and never
a traceback, and the engine should not have to know any of them. The engine receives a
`SourceText` (text plus enough to map positions back to what the user sees) or a `FileProblem`.

Decoding follows Python's own rules (PEP 263 and PEP 3120): a UTF-8 BOM, else a coding cookie on
line 1 or 2, else UTF-8. UTF-16 and UTF-32 files with a BOM are also accepted, although CPython
itself refuses them, because editors on Windows write them and the user deserves findings rather
than a decode error. Line endings are left untouched: LibCST keeps CRLF and CR as they are, so
positions stay those of the file.

Notebooks (`.ipynb`) become the concatenation of their code cells, one after another, each ending
with a newline. IPython magics and shell escapes (`%time`, `%%bash`, `!pip`, `x = !ls`, `obj?`)
are replaced by `pass` at the same indentation so that line numbers do not move and a magic inside
a block still parses. `SourceText.locate` maps a line of that text back to (cell, line in cell).

Tests run as root, where permissions cannot make a read fail, so `read_source` and
`read_notebook` take a `reader` callable: tests pass one that raises the OSError they want.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import stat
import tokenize
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from packlint.diagnostics import FileProblem, Finding, TrailStep

#: Files above this size are a `too-large` problem, not a parse that may eat gigabytes.
#: A megabyte-long single line must still be linted, a 20 MB generated file must not.
DEFAULT_MAX_BYTES = 5 * 1024 * 1024

#: A file found by walking a folder may be over the limit and still never need parsing (a data table saved as
#: `.py`): it is read, up to this many times the limit, and scanned like any file; only one that must be parsed
#: is `too-large`. Past this size it is not read at all and is `too-large` whatever it holds.
SCAN_FACTOR = 16

#: `reader(path, limit)` returns the file's bytes, or at least `limit + 1` of them when the file
#: is larger than `limit` (so the caller can tell); it raises OSError when the file cannot be read.
Reader = Callable[[Path, int], bytes]


class _NotRegularFile(OSError):
    """Raised by the default reader for FIFOs, sockets and devices, which could block or never end."""


def read_file_bytes(path: Path, limit: int) -> bytes:
    """The default reader: at most `limit + 1` bytes of a regular file.

    Opens with O_NONBLOCK so that a FIFO named `x.py` cannot hang the run, then refuses anything
    that is not a regular file. Checks the size with fstat before reading, so a 20 GB file costs
    one system call.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with io.FileIO(fd, "rb", closefd=True) as f:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(st.st_mode):
            raise _NotRegularFile(0, "not a regular file", str(path))
        if st.st_size > limit:
            # Enough for the caller to see the file is too large; the rest is never read.
            return f.read(limit + 1)
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = f.read(min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)


@dataclass(frozen=True)
class NotebookCell:
    """One code cell of a notebook, placed in the concatenated text.

    `number` is the cell's 1-based position among all the notebook's cells (markdown included),
    which is what a user counts in Jupyter and what ruff prints as `cell N`. `first_line` is the
    1-based line of the concatenated text where the cell starts; `source` is the cell as written,
    magics included, for showing source lines in reports.
    """

    number: int
    first_line: int
    line_count: int
    source: str


@dataclass(frozen=True)
class SourceText:
    """A file decoded to text, with what is needed to report positions the way the user sees them.

    For a `.py` file `cells` is empty and lines are the file's lines. For a notebook, `text` is
    its code cells concatenated (magics neutralised) and `cells` places each cell in that text.
    """

    path: str
    text: str
    encoding: str
    cells: tuple[NotebookCell, ...] = ()
    is_notebook: bool = False
    #: a notebook read without its schema checked (``read_notebook(schema=False)``): ``notebook_schema_problem``
    #: checks it when its code is parsed
    schema_unchecked: bool = False

    def locate(self, line: int) -> tuple[int, int]:
        """Map a 1-based line of `text` to (cell number, line within the cell).

        For a plain file the cell is 0 and the line is unchanged. A line past the last cell (the
        engine may report at end-of-file) is clamped to the last cell; with no cells, (0, line).
        """
        if not self.is_notebook or not self.cells:
            return 0, line
        lo, hi = 0, len(self.cells) - 1
        while lo < hi:  # last cell whose first_line <= line
            mid = (lo + hi + 1) // 2
            if self.cells[mid].first_line <= line:
                lo = mid
            else:
                hi = mid - 1
        cell = self.cells[lo]
        return cell.number, max(1, line - cell.first_line + 1)

    def relocate(self, record: Finding | FileProblem) -> Finding | FileProblem:
        """Return `record` with notebook positions rewritten to (cell, line in cell).

        Findings also have their end line and the trail steps in this file rewritten. Records of
        plain files, or already carrying a cell, come back unchanged.
        """
        if not self.is_notebook or record.cell:
            return record
        cell, line = self.locate(record.line)
        if isinstance(record, FileProblem):
            return replace(record, cell=cell, line=line)
        end_line = record.end_line
        if end_line is not None:
            end_cell, end_in_cell = self.locate(end_line)
            end_line = end_in_cell if end_cell == cell else None
        end_col = record.end_col if end_line is not None or record.end_line is None else None
        trail = tuple(self._relocate_step(step) for step in record.trail)
        return replace(record, cell=cell, line=line, end_line=end_line, end_col=end_col, trail=trail)

    def _relocate_step(self, step: TrailStep) -> TrailStep:
        if step.path != self.path or step.cell:
            return step
        cell, line = self.locate(step.line)
        return replace(step, cell=cell, line=line)

    def line_text(self, line: int, cell: int = 0) -> str | None:
        """The source line as the user wrote it (1-based; within `cell` for notebooks), or None."""
        if self.is_notebook:
            for c in self.cells:
                if c.number == cell:
                    lines = python_lines(c.source)
                    return lines[line - 1] if 1 <= line <= len(lines) else None
            return None
        lines = python_lines(self.text)
        return lines[line - 1] if 1 <= line <= len(lines) else None


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def python_lines(text: str) -> list[str]:
    """Lines as Python's tokenizer counts them: only \\n, \\r\\n and \\r end a line (``str.splitlines`` also
    breaks at form feeds, U+2028 and other separators that Python keeps inside a line)."""
    return _LINE_BREAK.split(text)


def _line_col_of(text: str) -> tuple[int, int]:
    """1-based (line, col) of the position just after `text`, counting CRLF, CR and LF as breaks."""
    lines = text.splitlines(keepends=True)
    if not lines:
        return 1, 1
    last = lines[-1]
    if last.endswith(("\n", "\r")):
        return len(lines) + 1, 1
    return len(lines), len(last) + 1


def _cookie_line(data: bytes) -> int:
    """The line (1 or 2) that holds the coding cookie, for pointing at a bad one."""
    first, _, rest = data.partition(b"\n")
    return 1 if b"coding" in first else 2 if b"coding" in rest.partition(b"\n")[0] else 1


_UTF32_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"))
_UTF16_BOMS = ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def detect_encoding(data: bytes) -> str | tuple[str, int]:
    """The encoding Python would use for `data`, or (message, line) when the cookie is unusable.

    UTF-32 BOMs are tested before UTF-16 ones because the UTF-32-LE BOM begins with the UTF-16-LE
    one. A first line that is not valid UTF-8 and has no cookie makes `tokenize` give up; we answer
    UTF-8 so that decoding pinpoints the bad byte.
    """
    for bom, name in (*_UTF32_BOMS, *_UTF16_BOMS):
        if data.startswith(bom):
            return name
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        msg = str(exc.msg if hasattr(exc, "msg") else exc)
        if msg.startswith("unknown encoding"):
            name = msg.partition(":")[2].strip()
            return (f"unknown encoding '{name}' in the coding cookie", _cookie_line(data))
        if msg.startswith("encoding problem"):
            return ("a UTF-8 BOM with a coding cookie that is not UTF-8", _cookie_line(data))
        return "utf-8"
    return encoding


def decode_bytes(data: bytes, path: str | os.PathLike[str]) -> str | FileProblem:
    """Decode a Python file's bytes as Python would, or say where and why it cannot be.

    Returns the text (BOM removed), or a `decode-error` FileProblem: for an unknown or
    contradictory cookie (at the cookie's line), for bytes invalid in the chosen encoding (at the
    line and column of the first bad byte), and for a null byte (which CPython refuses, and which
    usually means a binary file).
    """
    result = decode_with_encoding(data, path)
    return result if isinstance(result, FileProblem) else result[0]


def decode_with_encoding(data: bytes, path: str | os.PathLike[str]) -> tuple[str, str] | FileProblem:
    """Like `decode_bytes`, also returning the encoding used (for `SourceText.encoding`)."""
    spath = os.fspath(path)
    detected = detect_encoding(data)
    if isinstance(detected, tuple):
        message, line = detected
        return FileProblem(spath, "decode-error", message, line=line, col=1)
    encoding = detected
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        prefix = data[: exc.start].decode(encoding, errors="replace")
        line, col = _line_col_of(prefix.lstrip("\ufeff"))
        bad = data[exc.start : exc.start + 1]
        return FileProblem(
            spath,
            "decode-error",
            f"invalid {encoding} byte 0x{bad.hex()} ({exc.reason})" if bad else f"invalid {encoding} data",
            line=line,
            col=col,
        )
    except LookupError:  # pragma: no cover - detect_encoding already validated the name
        return FileProblem(spath, "decode-error", f"unknown encoding '{encoding}'")
    if text.startswith("\ufeff"):
        text = text[1:]  # UTF-16/32 decoders keep the BOM as U+FEFF; utf-8-sig already removed it
    nul = text.find("\0")
    if nul >= 0:
        line, col = _line_col_of(text[:nul])
        return FileProblem(
            spath, "decode-error", "source contains a null byte (binary file?)", line=line, col=col
        )
    return text, encoding


def _read_bytes(path: Path, max_bytes: int, reader: Reader) -> bytes | FileProblem:
    """Read through the seam, turning every OS failure and an over-large file into a problem."""
    spath = os.fspath(path)
    try:
        data = reader(path, max_bytes)
    except _NotRegularFile:
        return FileProblem(spath, "io-error", "not a regular file")
    except OSError as exc:
        return FileProblem(spath, "io-error", exc.strerror or str(exc) or type(exc).__name__)
    if len(data) > max_bytes:
        return FileProblem(spath, "too-large", _too_large_message(path, max_bytes))
    return data


def _too_large_message(path: Path, max_bytes: int) -> str:
    try:
        size = f"{os.stat(path).st_size} bytes, "
    except OSError:
        size = ""
    return f"file is larger than max-file-size ({size}limit {max_bytes} bytes)"


def read_source(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    reader: Reader = read_file_bytes,
    notebook_schema: bool = True,
) -> SourceText | FileProblem:
    """Read and decode a file; a `.ipynb` path is read as a notebook (its schema checked unless
    ``notebook_schema`` is False, see `read_notebook`).

    Returns a `SourceText`, or a FileProblem: `io-error` (missing, vanished, unreadable, a folder,
    not a regular file; the message is the OS's, e.g. "No such file or directory"), `too-large`
    (over `max_bytes`, detected without reading the rest), `decode-error` (see `decode_bytes`).
    """
    p = Path(path)
    if p.suffix == ".ipynb":
        return read_notebook(p, max_bytes=max_bytes, reader=reader, schema=notebook_schema)
    data = _read_bytes(p, max_bytes, reader)
    if isinstance(data, FileProblem):
        return data
    decoded = decode_with_encoding(data, path)
    if isinstance(decoded, FileProblem):
        return decoded
    text, encoding = decoded
    return SourceText(path=os.fspath(path), text=text, encoding=encoding)


# --- notebooks -----------------------------------------------------------------------------

#: Cell magics whose body is still Python; any other `%%magic` cell (bash, html, writefile...) is
#: not Python and is blanked whole.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "memit", "profile"})

_HELP_LINE = re.compile(r"^\s*(?:\?\??[\w.]+|[\w.]+\?\??)\s*$")
_MAGIC_ASSIGN = re.compile(r"^\s*[\w.,\s()\[\]]+=\s*[%!]")


def _is_magic_line(line: str) -> bool:
    """True for a line IPython rewrites before Python sees it: `%x`, `!x`, `x = !ls`, `obj?`."""
    stripped = line.lstrip()
    if stripped.startswith(("%", "!")):
        return True
    if _HELP_LINE.match(line):
        return True
    return bool(_MAGIC_ASSIGN.match(line)) and not stripped.startswith("#")


def neutralise_magics(source: str) -> str:
    """Replace IPython-only lines with `pass` at the same indentation, keeping the line count.

    `pass` rather than a blank line because a magic can be the only statement of a block. A magic
    continued with a trailing backslash takes its continuation lines with it. A cell that starts
    with a cell magic other than the timing/capture ones is not Python and becomes all `pass`.
    """
    lines = python_lines(source)
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return ""
    lead = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
    if lead and lines[0].strip():
        # IPython removes the first line's indentation from every line of the cell (` !tts ...` runs)
        lines = [ln[len(lead):] if ln.startswith(lead) else ln for ln in lines]
    first = lines[0].lstrip()
    if first.startswith("%%"):
        name = first[2:].split(maxsplit=1)[0] if first[2:].split() else ""
        if name not in _PYTHON_CELL_MAGICS:
            return "\n".join("pass" for _ in lines) + "\n"
        lines[0] = "pass"
    out: list[str] = []
    continuing = False
    inside = _Inside()
    for line in lines:
        if continuing or (inside.at_statement_start() and _is_magic_line(line)):
            indent = line[: len(line) - len(line.lstrip())] if not continuing else ""
            out.append(f"{indent}pass" if not continuing else "")
            continuing = line.rstrip().endswith("\\")
        else:
            out.append(line)
            inside.feed(line)
    return "\n".join(out) + "\n"


class _Inside:
    """Whether the next line starts a statement: IPython reads `%` and `!` as magics only there. Inside open
    brackets, a triple-quoted string or after a backslash, `% (a, b)` is string formatting and `!=` a comparison.
    A light scan of brackets, strings and comments; a line it misjudges is left to Python's own error."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote = ""  # the open triple quote, if a string spans lines
        self.backslash = False

    def at_statement_start(self) -> bool:
        return self.depth == 0 and not self.quote and not self.backslash

    def feed(self, line: str) -> None:
        i, n = 0, len(line)
        while i < n:
            if self.quote:
                end = line.find(self.quote, i)
                if end < 0:
                    break
                i, self.quote = end + 3, ""
                continue
            ch = line[i]
            if ch == "#":
                break
            if ch in "\"'":
                if line.startswith(ch * 3, i):
                    self.quote, i = ch * 3, i + 3
                    continue
                i += 1
                while i < n and line[i] != ch:
                    i += 2 if line[i] == "\\" else 1
                i += 1
                continue
            if ch in "([{":
                self.depth += 1
            elif ch in ")]}" and self.depth:
                self.depth -= 1
            i += 1
        self.backslash = not self.quote and line.rstrip().endswith("\\")


def _cell_source(cell: object) -> str:
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def _load_notebook(text: str, schema: bool = True) -> dict:
    """Parse notebook JSON into the v4 shape (a list of ``cells``), or raise ValueError saying why it is not one.

    With nbformat installed it reads and validates the notebook (a schema violation, such as a cell without
    ``metadata``, is a ValueError like any other unreadable notebook); without it, ``json`` reads it and v3
    worksheets are flattened here, the way nbformat upgrades them, so a v3 notebook gives the same cells either
    way. JSON that does not parse raises JSONDecodeError, which carries the position. ``schema=False`` reads
    it the way it is read without nbformat (the check is left to ``notebook_schema_problem``)."""
    nbformat = None
    if schema:
        try:
            import nbformat  # noqa: PLC0415 - optional, and costly to import for plain .py runs
        except ImportError:
            pass
    if nbformat is None:
        return _upgrade_v3(json.loads(text))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing cell ids and the like are not our business
        try:
            return nbformat.reads(text, as_version=4)  # converts v3 worksheets to v4 cells
        except nbformat.reader.NotJSONError:
            json.loads(text)  # re-raise as JSONDecodeError, which carries the position
            raise
        except RecursionError:
            raise
        except Exception as exc:  # noqa: BLE001 - nbformat raises schema, key and type errors of its own
            raise ValueError(f"not a notebook: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (schema errors append the whole offending document)."""
    text = str(getattr(exc, "message", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _upgrade_v3(nb: object) -> object:
    """A v3 (or older) notebook's worksheets as one v4-style list of cells: code cells' ``input`` becomes their
    ``source``, every other cell keeps its place, so cell numbers are those nbformat's upgrade gives. Anything
    that is not a v3 notebook comes back unchanged."""
    if not isinstance(nb, dict) or "cells" in nb or not isinstance(nb.get("worksheets"), list):
        return nb
    cells: list[object] = []
    for sheet in nb["worksheets"]:
        found = sheet.get("cells") if isinstance(sheet, dict) else None
        if not isinstance(found, list):
            raise ValueError("not a notebook: a worksheet without a list of cells")
        for cell in found:
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                cell = {**cell, "source": cell.get("input", "")}
            cells.append(cell)
    return {**nb, "cells": cells}


def read_notebook(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    reader: Reader = read_file_bytes,
    schema: bool = True,
) -> SourceText | FileProblem:
    """Read a `.ipynb` file into its concatenated code cells, or a FileProblem.

    Returns a SourceText with `is_notebook=True`: `text` holds the code cells (markdown and raw
    cells skipped, magics neutralised), `cells` places them. A notebook whose kernel language is
    not Python gives empty text (nothing to lint). Invalid JSON or a JSON document that is not a
    notebook is a `decode-error` (at the JSON error's line and column when known).

    ``schema=False`` leaves nbformat's schema check (and its import, and the compiling of a validator per format
    version: 0.2 s on a folder of notebooks) to when the code is parsed (``notebook_schema_problem``), as a
    Python file's syntax is checked only when it is parsed; the text is the same either way.
    """
    spath = os.fspath(path)
    p = Path(path)
    data = _read_bytes(p, max_bytes, reader)
    if isinstance(data, FileProblem):
        return data
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _line_col_of(data[: exc.start].decode("utf-8", errors="replace"))
        return FileProblem(spath, "decode-error", "notebook is not valid UTF-8", line=line, col=col)
    try:
        nb = _load_notebook(raw, schema)
    except json.JSONDecodeError as exc:
        return FileProblem(
            spath, "decode-error", f"invalid notebook JSON: {exc.msg}", line=exc.lineno, col=exc.colno
        )
    except (ValueError, RecursionError) as exc:
        return FileProblem(spath, "decode-error", str(exc) or "invalid notebook")
    if not isinstance(nb, dict) or not isinstance(nb.get("cells", []), list):
        return FileProblem(spath, "decode-error", "not a notebook: no list of cells")
    metadata = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    language = (metadata.get("language_info") or {}).get("name") if isinstance(
        metadata.get("language_info"), dict
    ) else None
    if isinstance(language, str) and language.lower() not in ("python", "python3", "ipython"):
        return SourceText(path=spath, text="", encoding="utf-8", is_notebook=True)

    parts: list[str] = []
    cells: list[NotebookCell] = []
    next_line = 1
    for number, cell in enumerate(nb.get("cells", []), start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = _cell_source(cell)
        code = neutralise_magics(source)
        count = code.count("\n")
        if count == 0:
            continue
        cells.append(NotebookCell(number=number, first_line=next_line, line_count=count, source=source))
        parts.append(code)
        next_line += count
    text = "".join(parts)
    if "\0" in text:
        line, col = _line_col_of(text[: text.index("\0")])
        return FileProblem(spath, "decode-error", "notebook source contains a null byte", line=line, col=col)
    return SourceText(path=spath, text=text, encoding="utf-8", cells=tuple(cells), is_notebook=True,
                      schema_unchecked=not schema)


def notebook_schema_problem(path: str | os.PathLike[str], *, reader: Reader = read_file_bytes) -> FileProblem | None:
    """The problem a notebook read with ``schema=False`` has once its schema is checked (nbformat's, where it is
    installed), or None: read again, whole, as ``read_notebook`` reads it by default."""
    found = read_notebook(path, max_bytes=2**62, reader=reader)
    return found if isinstance(found, FileProblem) else None


__all__ = [
    "DEFAULT_MAX_BYTES",
    "SCAN_FACTOR",
    "NotebookCell",
    "Reader",
    "SourceText",
    "decode_bytes",
    "decode_with_encoding",
    "detect_encoding",
    "neutralise_magics",
    "notebook_schema_problem",
    "read_file_bytes",
    "read_notebook",
    "read_source",
]
