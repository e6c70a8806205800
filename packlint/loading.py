"""Files as the engine receives them: decoded text, display path, module name, and whether to report on them.

This is also the per-file failure boundary of reading: whatever a reader raises (a bug in packlint, a surprise in
an optional reader such as nbformat) becomes an ``internal-error`` problem that names the file, and every other
file is still read.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from packlint.diagnostics import FileProblem
from packlint.resolver import ModuleIndex
from packlint import source as sources


@dataclass
class SourceFile:
    """A decoded file handed to the engine: its display path, text, and whether findings in it are reported."""

    path: str
    text: str
    module: str
    is_package: bool = False
    report: bool = True
    source: object = None  # packlint.source.SourceText, for notebook relocation
    root: str = ""  # the import root the module name is relative to (its top package's parent folder)
    file: str = ""  # absolute path on disk: the module index and the import graph know the file by it
    oversize: int = 0  # bytes of code when over the run's max-file-size (read to be scanned, never to be parsed)

    @property
    def key(self) -> str:
        """Identity of the file: its absolute path (two folders of scripts may each have their own ``model.py``)."""
        return self.file or f"{self.root}::{self.module}"


def _display(path: Path) -> str:
    """A path as the user would write it: relative when under the current folder."""
    try:
        return os.fspath(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return os.fspath(path)


def load_files(paths: Iterable[Path], *, report: bool = True, max_bytes: int = 5 * 1024 * 1024,
               index: ModuleIndex | None = None, scan_bytes: int | None = None, debug: bool = False
               ) -> tuple[list[SourceFile], list[FileProblem]]:
    """Read and decode files, named by the module index; problems for those that cannot be read.

    A file over ``max_bytes`` is a ``too-large`` problem, unless ``scan_bytes`` (larger) is given: then files up
    to that size are returned with ``oversize`` set, so that the caller, which knows which files must be parsed,
    decides (a data table that padding never reaches is not a problem). ``debug`` prints the traceback of a
    reader's internal error to stderr."""
    index = index if index is not None else ModuleIndex()
    files: list[SourceFile] = []
    problems: list[FileProblem] = []
    for p in paths:
        src = _read(p, max(max_bytes, scan_bytes or 0), debug)
        if isinstance(src, FileProblem):
            problems.append(src)
            continue
        size = code_size(src, p, max_bytes)
        if size > max_bytes and scan_bytes is None:
            problems.append(too_large(os.fspath(p), size, max_bytes))
            continue
        root, name, is_pkg = index.module_of(p)
        display = os.fspath(p) if report else _display(Path(p))
        files.append(SourceFile(path=display, text=src.text, module=name, is_package=is_pkg, report=report,
                                source=src, root=root, file=os.path.abspath(p),
                                oversize=size if size > max_bytes else 0))
    return files, problems


def _read(path: Path, max_bytes: int, debug: bool):
    """``read_source`` behind the boundary: an exception it raises is an ``internal-error`` problem of this file.
    A notebook's schema is checked when its code is parsed (``Program.check``), like a Python file's syntax."""
    try:
        # through the module: tests replace the reader
        return sources.read_source(path, max_bytes=max_bytes, notebook_schema=False)
    except RecursionError:
        return FileProblem(os.fspath(path), "decode-error", "nested too deeply to read")
    except Exception as exc:  # noqa: BLE001 - one unreadable file is a problem, never a lost run
        if debug:
            traceback.print_exc()
        return FileProblem(os.fspath(path), "internal-error",
                           f"packlint failed while reading the file: {type(exc).__name__}: {exc}")


def code_size(src, path, limit: int) -> int:
    """Bytes of code to parse: a file's size, or for a notebook the UTF-8 size of its code cells (its outputs are
    never parsed). Exact whenever it could be over ``limit``; a text under a quarter of the limit in characters
    (and a BOM) is under it whatever its encoding, and its character count spares a system call per file."""
    text = src.text
    if len(text) * 4 + 4 <= limit:
        return len(text)
    if not getattr(src, "is_notebook", False):
        try:
            return os.stat(path).st_size
        except OSError:
            pass
    return len(text.encode("utf-8", errors="surrogatepass"))


def too_large(path: str, size: int, max_bytes: int) -> FileProblem:
    """The problem for a file that must be parsed and is over ``max-file-size``."""
    return FileProblem(path, "too-large", f"file is larger than max-file-size ({size} bytes of code, "
                                          f"limit {max_bytes} bytes; raise it with max-file-size)")
