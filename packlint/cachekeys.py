"""What a cached result depends on, as keys and stamps: the one place that decides when a cache entry is stale.

A cached answer is valid only for exactly the inputs that produced it, so a key covers:

* packlint's version, the cache format and the Python that runs it (``ast`` differs between versions);
* the run's configuration (its parsed settings) and the content of every ``pyproject.toml`` that can apply to a
  reported file (each one from the file's folder up: nested configurations select rules per file);
* the optional readers present (nbformat reads and validates notebooks; without it they are read as JSON), for
  keys that cover a notebook;
* for a group of files analysed together, every file of the analysis: its path, the name it is imported by, and
  the text (for a notebook, its cells) exactly as the analysis receives it.

Why a group and not a file: a file's findings depend on its callees and on its importers too (instance attributes
come from every construction site; a loss helper's finding moves to its caller), so the unit of caching is the
import-connected group of linted files plus every module they import, which is also the unit the analysis
already runs on. The trade-off: editing one file re-checks its whole group, never more, never less.

The whole-run manifest is checked by content, never by modification time: every file it read is hashed again and
every folder it listed is listed again (a new module changes what an import finds). Only its recording looks at
times: a run whose files may have changed while it ran (modified at or after its start, by the file system's own
clock) records no manifest.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable

from packlint import __version__
from packlint.cache import FORMAT

CONFIG_NAMES = ("pyproject.toml",)


def digest(*parts: str) -> str:
    """One hex key over ``parts`` (each part delimited, so ("ab", "c") and ("a", "bc") differ)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", errors="surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def readers() -> str:
    """The optional readers present, with their versions: results of notebooks depend on them."""
    import importlib.util  # noqa: PLC0415 - only runs that hold a notebook need this

    try:
        present = importlib.util.find_spec("nbformat") is not None
    except (ImportError, ValueError):
        present = False
    if not present:
        return "nbformat=absent"
    try:
        from importlib.metadata import version  # noqa: PLC0415

        return f"nbformat={version('nbformat')}"
    except Exception:  # noqa: BLE001 - present but without metadata: still not the same as absent
        return "nbformat=unknown-version"


def environment(fingerprint: str, notebooks: bool) -> tuple[str, ...]:
    """The parts of every key that do not depend on files: version, format, Python, configuration, readers."""
    parts = (f"packlint {__version__}", f"cache format {FORMAT}", sys.version, fingerprint)
    return parts + (readers(),) if notebooks else parts


class ConfigChains:
    """The ``pyproject.toml`` files that can apply to files in a folder (the folder's and every parent's), as
    (path, content digest or absent), read once per folder. Adding, editing or deleting any of them changes it."""

    def __init__(self) -> None:
        self._folders: dict[str, tuple[str, ...]] = {}
        self.seen: dict[str, str | None] = {}  # every candidate looked at, as found: the run manifest records them

    def of(self, folder: str) -> tuple[str, ...]:
        found = self._folders.get(folder)
        if found is None:
            parent = os.path.dirname(folder)
            above = self.of(parent) if parent != folder else ()
            own = []
            for name in CONFIG_NAMES:
                path = os.path.join(folder, name)
                self.seen[path] = stamp(path)
                own.append(f"{path}\0{self.seen[path]}")
            found = self._folders[folder] = tuple(own) + above
        return found

    def for_files(self, files: Iterable[str]) -> list[str]:
        """The chains of the folders of ``files`` (absolute paths), each distinct candidate once, sorted. A file
        reached through a link has the chain of its real folder too (the per-file configuration is looked up
        from there)."""
        out: set[str] = set()
        for f in files:
            out.update(self.of(os.path.dirname(os.path.abspath(f))))
            real = os.path.dirname(os.path.realpath(f))
            if real != os.path.dirname(os.path.abspath(f)):
                out.update(self.of(real))
        return sorted(out)


def group_key(env: tuple[str, ...], inputs: list, configs: ConfigChains) -> str:
    """The key of one group's results: ``inputs`` are the SourceFiles analysed together (reported or read only),
    the configurations those of the reported files."""
    parts = [*env]
    for f in sorted(inputs, key=lambda f: (f.file, f.path)):
        parts.extend((f.file, f.path, f.module, f.root, str(f.is_package), str(f.report), f.text))
        for cell in getattr(f.source, "cells", ()) or ():
            parts.append(f"cell {cell.number} {cell.first_line} {cell.line_count}\0{cell.source}")
    parts.extend(configs.for_files(f.file for f in inputs if f.report and f.file))
    return digest(*parts)


def stamp(path: str) -> str | None:
    """What a path holds now: a digest of a file's bytes, of a folder's listing, or None when it is missing."""
    try:
        if os.path.isdir(path):
            return _listing_stamp(*_listing(path))
        with open(path, "rb") as f:
            return "file:" + hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _listing(folder: str) -> tuple[list[str], list[str]]:
    """(files, sub-folders) of a folder, as the module index lists them (an entry that cannot be examined is
    left out, a link to a folder is a folder)."""
    files: list[str] = []
    dirs: list[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                (dirs if entry.is_dir() else files).append(entry.name)
            except OSError:
                continue
    return files, dirs


def _listing_stamp(files: Iterable[str], dirs: Iterable[str]) -> str:
    return "dir:" + digest(*sorted([*files, *(f"{d}/" for d in dirs)]))


def folder_stamp(folder: str, files: Iterable[str], dirs: Iterable[str]) -> str | None:
    """The stamp of a folder as the run saw it (the module index's own listing, not a new one: a module created
    while the run went on must not be recorded as seen); None for a folder that was missing and still is."""
    files, dirs = list(files), list(dirs)
    if not files and not dirs and not os.path.isdir(folder):
        return None
    return _listing_stamp(files, dirs)


def unchanged(recorded: object) -> bool:
    """True when every path of a manifest still holds what it held (by content, not by modification time)."""
    if not isinstance(recorded, dict):
        return False
    return all(stamp(path) == value for path, value in recorded.items())


def settled(files: Iterable[str], started_ns: int | None) -> bool:
    """True when every one of ``files`` was last modified before the run began (``started_ns``, read from the file
    system's own clock, see ``ResultCache.clock``): then their content now is what the run read, and a manifest of
    it can be recorded. Without a clock nothing is settled."""
    if started_ns is None:
        return False
    for p in files:
        try:
            if os.stat(p).st_mtime_ns >= started_ns:
                return False
        except OSError:
            continue  # missing: its stamp says so
    return True
