"""Files as the engine receives them: decoded text, display path, module name, and whether to report on them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from packlint.diagnostics import FileProblem


# Files of the tree read beyond the ones being linted (imported modules), for the cache's run manifest.
READ_LOG: list[str] = []


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

    @property
    def key(self) -> str:
        """Identity of the module: two folders of scripts may each have their own ``model.py``."""
        return f"{self.root}::{self.module}"


def _display(path: Path) -> str:
    """A path as the user would write it: relative when under the current folder."""
    try:
        return os.fspath(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return os.fspath(path)


def load_files(paths: Iterable[Path], *, report: bool = True, max_bytes: int = 5 * 1024 * 1024
               ) -> tuple[list[SourceFile], list[FileProblem]]:
    """Read and decode files; problems for those that cannot be read."""
    from packlint.source import read_source

    files: list[SourceFile] = []
    problems: list[FileProblem] = []
    for p in paths:
        src = read_source(p, max_bytes=max_bytes)
        if isinstance(src, FileProblem):
            problems.append(src)
            continue
        from packlint.imports import import_root_of, module_name_for

        name, is_pkg = module_name_for(Path(p))
        display = os.fspath(p) if report else _display(Path(p))
        files.append(SourceFile(path=display, text=src.text, module=name, is_package=is_pkg, report=report,
                                source=src, root=str(import_root_of(Path(p)))))
    return files, problems
