"""Files as the engine receives them: decoded text, display path, module name, and whether to report on them."""

from __future__ import annotations

import os
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
               index: ModuleIndex | None = None) -> tuple[list[SourceFile], list[FileProblem]]:
    """Read and decode files, named by the module index; problems for those that cannot be read."""
    index = index if index is not None else ModuleIndex()
    files: list[SourceFile] = []
    problems: list[FileProblem] = []
    for p in paths:
        src = sources.read_source(p, max_bytes=max_bytes)  # through the module: tests replace the reader
        if isinstance(src, FileProblem):
            problems.append(src)
            continue
        root, name, is_pkg = index.module_of(p)
        display = os.fspath(p) if report else _display(Path(p))
        files.append(SourceFile(path=display, text=src.text, module=name, is_package=is_pkg, report=report,
                                source=src, root=root, file=os.path.abspath(p)))
    return files, problems
