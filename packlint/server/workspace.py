"""What the language server lints: the open buffers laid over the files on disk, one import-connected part at a time.

Why a module of its own, free of any LSP type: this is the part that decides what an edit re-analyses, and it must be
testable without a client. An editor's unsaved buffer takes the place of its file everywhere the CLI would read that
file: as the linted module, as a module another file imports, and in the folder listings the import resolver reads
(so a new, never-saved ``model.py`` is importable). Everything else comes from disk.

Linting one document analyses the part of the tree its findings can depend on, as ``packlint .`` would see it:
the document, the modules it imports (transitively), and the modules of the project that import it (transitively,
bounded by ``MAX_IMPORTERS``; a loss helper's finding moves to the caller that passes padding in, and a sink in a
method may only be reached from another file). Only the document's own findings are reported. The import edges of
files on disk are kept between lints and re-scanned only when a file's size or modification time changes, and a
document's result is reused while the text of every file it read, and its configuration, are unchanged.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from packlint import __version__
from packlint.config import Config, ConfigError, find_config, load_config
from packlint.diagnostics import FileProblem, Finding
from packlint.engine import Options, discover, lint_sources
from packlint.imports import ImportGraph, dependencies, prefilter_for, select_needed
from packlint.loading import SourceFile
from packlint.resolver import FolderTree, ModuleIndex
from packlint.rules import known_rules

#: Importers of a document analysed beside it, at most (closest first): the bound that keeps an edit of a module
#: imported everywhere from re-analysing the whole tree.
MAX_IMPORTERS = 200


@dataclass
class Outcome:
    """One document's lint: its findings and problems (paths relative to ``root``), the absolute paths of every
    file the analysis read (so an edit of one of them re-lints this document), and the warnings for its lines."""

    findings: list[Finding] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    root: str = ""
    read: frozenset[str] = frozenset()

    def file_of(self, shown: str) -> str:
        """The absolute path behind a path as the records show it."""
        return absolute(shown, self.root)


class Workspace:
    """The open buffers (absolute path -> text) and what lints need to find and reuse."""

    def __init__(self, folders: list[str] | None = None) -> None:
        #: the editor's workspace folders: the project root of a file under no configuration of its own
        self.folders = [os.path.abspath(f) for f in folders or ()]
        self.buffers: dict[str, str] = {}
        self._edges: dict[str, tuple[tuple[int, int], frozenset[str]]] = {}  # file -> (stamp, files it imports)
        self._configs: dict[str, tuple[tuple, Config | ConfigError]] = {}
        self._results: dict[str, tuple[str, Outcome]] = {}  # document -> (key of its inputs, outcome)
        self._listings: dict[str, list[str]] = {}  # project root -> its Python files (walked once)

    # ------------------------------------------------------------------ buffers
    def put(self, path: str, text: str) -> None:
        self.buffers[os.path.abspath(path)] = text

    def drop(self, path: str) -> None:
        path = os.path.abspath(path)
        self.buffers.pop(path, None)
        self._results.pop(path, None)

    def forget_disk(self) -> None:
        """Files were created, changed or deleted behind the editor's back: read the disk afresh next time."""
        self._edges.clear()
        self._configs.clear()
        self._listings.clear()

    def forget_listings(self) -> None:
        """A file was saved (perhaps a new one): walk the project again for importers next time."""
        self._listings.clear()

    # ------------------------------------------------------------------ configuration
    def config_for(self, path: str) -> Config:
        """The configuration that applies to ``path`` (closest ``pyproject.toml`` with ``[tool.packlint]``,
        as for the CLI); raises ConfigError for a broken one. Cached per folder while the file is unchanged."""
        folder = os.path.dirname(os.path.abspath(path))
        found = find_config(folder)
        stamp = (str(found), _stamp(str(found)) if found else None)
        cached = self._configs.get(folder)
        if cached is None or cached[0] != stamp:
            try:
                value: Config | ConfigError = load_config(folder, known_rules=known_rules)
            except ConfigError as exc:
                value = exc
            else:
                if found is None:
                    home = max((f for f in self.folders if _under(folder, f)), key=len, default=None)
                    value = replace(value, root=Path(home)) if home else value
            self._configs[folder] = cached = (stamp, value)
        if isinstance(cached[1], ConfigError):
            raise cached[1]
        return cached[1]

    def excluded(self, path: str, config: Config) -> bool:
        """Whether the configuration's excludes (or a .gitignore) cover ``path``: then, as with
        ``--force-exclude``, the editor shows nothing for it. A file only in a buffer is never excluded."""
        if not os.path.isfile(path):
            return False
        files, problems = discover([Path(path)], exclude=config.exclude, extend_exclude=config.extend_exclude,
                                   force_exclude=True, root=config.root)
        return not files and not problems

    # ------------------------------------------------------------------ linting
    def lint(self, path: str) -> Outcome:
        """Lint the document at ``path`` (its buffer, else its file) with the part of the tree it connects to.

        A broken configuration is one problem at 1:1; a file excluded by the configuration gives an empty
        outcome. Never raises for a file that vanished: its buffer, or nothing, is linted."""
        path = os.path.abspath(path)
        try:
            config = self.config_for(path)
        except ConfigError as exc:
            return Outcome(problems=[FileProblem(path, "config-error", str(exc))], root=os.path.dirname(path))
        root = str(config.root)
        if self.excluded(path, config):
            return Outcome(root=root)
        text = self.buffers.get(path)
        if text is None:
            text = _read(path)
            if text is None:
                return Outcome(root=root)
        index = ModuleIndex([config.root / s for s in config.src] + [config.root], tree=self._tree())
        graph = ImportGraph(index)
        for other, other_text in self.buffers.items():
            if other != path:
                graph.texts[other] = other_text
                graph.handed[other] = self._source(index, other, other_text, root, report=False)
        target = self._source(index, path, text, root, report=True)
        graph.texts[path] = text
        api = config.describe()["api"]
        importers = self._importers(path, text, config, index, graph)
        # of the importers, only those padding can reach are analysed (the CLI's selection, over the same graph)
        needed, _ = select_needed(importers, graph, prefilter_for(api))
        files = [target, *needed]
        files += dependencies(files, graph, config.max_file_size or Options().max_bytes)
        for f in files:  # messages name every file as the target's does: relative to the project root
            if f.file:
                f.path = _shown(f.file, root)
        settings = repr(sorted(config.describe().items()))
        key = hashlib.sha256("\0".join([__version__, settings, path, *(f"{f.file}\0{f.text}" for f in files)])
                             .encode("utf-8", "surrogatepass")).hexdigest()
        cached = self._results.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        options = Options(enabled=lambda code, shown: config.is_enabled(code, absolute(shown, root)), user_api=api,
                          jobs=1, time_budget=30.0)
        result = lint_sources(files, options, index=index)
        shown = target.path
        warnings = []
        for warning in result.warnings:  # `path:line: message`, for this document's lines only
            head, _, message = warning.partition(": ")
            where, _, line = head.rpartition(":")
            if where == shown and line.isdigit():
                warnings.append((int(line), message))
        outcome = Outcome(findings=[f for f in result.findings if f.path == shown],
                          problems=[p for p in result.problems if p.path == shown], warnings=warnings, root=root,
                          read=frozenset(f.file for f in files if f.file))
        self._results[path] = (key, outcome)
        return outcome

    def _source(self, index: ModuleIndex, path: str, text: str, root: str, report: bool) -> SourceFile:
        import_root, name, is_package = index.module_of(path)
        return SourceFile(path=_shown(path, root), text=text, module=name, is_package=is_package, report=report,
                          root=import_root, file=path)

    def _tree(self) -> FolderTree:
        """Folder listings from disk, with every open buffer's file added (a file not yet saved is importable)."""
        disk = FolderTree()
        extra: dict[str, set[str]] = {}
        for path in self.buffers:
            folder, name = os.path.split(path)
            extra.setdefault(folder, set()).add(name)

        def listing(folder: str) -> tuple[frozenset[str], frozenset[str]]:
            files, dirs = disk.listing(folder)
            return (files | extra[folder], dirs) if folder in extra else (files, dirs)

        return FolderTree(listing)

    def _importers(self, path: str, text: str, config: Config, index: ModuleIndex, graph: ImportGraph
                   ) -> list[SourceFile]:
        """The project's files that import ``path``, directly or not, closest first (at most ``MAX_IMPORTERS``),
        as SourceFiles that are read, not reported. Import edges of unchanged files on disk are reused."""
        root = str(config.root)
        if root not in self._listings:
            project, _ = discover([config.root], exclude=config.exclude, extend_exclude=config.extend_exclude,
                                  root=config.root)
            self._listings[root] = [os.path.abspath(p) for p in project if p.suffix == ".py"]
        candidates = set(self._listings[root]) | {p for p in self.buffers if p.endswith(".py")}
        candidates.discard(path)
        importers_of: dict[str, set[str]] = {}
        for file in sorted(candidates):
            for target in self._imports(file, index, graph):
                importers_of.setdefault(target, set()).add(file)
        order: list[str] = []
        frontier = [path]
        seen = {path}
        while frontier and len(order) < MAX_IMPORTERS:
            nxt = []
            for mod in frontier:
                for importer in sorted(importers_of.get(mod, ())):
                    if importer not in seen:
                        seen.add(importer)
                        nxt.append(importer)
            order.extend(nxt)
            frontier = nxt
        out = []
        for file in order[:MAX_IMPORTERS]:
            handed = graph.handed.get(file)
            if handed is not None:
                out.append(handed)
                continue
            text = graph.text_of(file)
            if text is not None:
                out.append(self._source(index, file, text, root, report=False))
        return out

    def _imports(self, file: str, index: ModuleIndex, graph: ImportGraph) -> frozenset[str]:
        """The files of the tree ``file`` imports: from its buffer (always scanned, it is cheap and changes), or
        from disk, re-scanned only when the file's stamp changed."""
        if file in self.buffers:
            return frozenset(graph.imports_of(file, self.buffers[file]))
        stamp = _stamp(file)
        cached = self._edges.get(file)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        text = graph.text_of(file)
        found = frozenset(graph.imports_of(file, text)) if text is not None else frozenset()
        self._edges[file] = (stamp, found)
        return found


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _shown(path: str, root: str) -> str:
    """A path as messages show it: relative to the project root when under it (`padded since model.py:41`)."""
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


def absolute(shown: str, root: str) -> str:
    """The absolute path behind a path shown by ``_shown`` (trail steps name other files this way)."""
    return os.path.normpath(os.path.join(root, shown))


__all__ = ["MAX_IMPORTERS", "Outcome", "Workspace", "absolute"]
