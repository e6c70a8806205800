"""The import graph, from a cheap scan of import lines (never a parse): module names, import roots, which files
can matter (padding can reach them), and which modules of the tree a file depends on."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from packlint.loading import READ_LOG, SourceFile, load_files

# A module can matter only if it names the packing API (or a user-declared source), or imports one that does.
PREFILTER = re.compile(r"pad_packed_sequence|pack_padded_sequence|pad_sequence|PackedSequence")
_IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+(?P<from>\.*[\w.]*)[ \t]+import[ \t]+(?P<names>[^#\n]+)"
                          r"|import[ \t]+(?P<mods>[^#\n]+))", re.MULTILINE)
@lru_cache(maxsize=None)
def _package_chain(folder: str) -> tuple[str, tuple[str, ...]]:
    """(import root, package names from the root down) for a folder: walks up while ``__init__.py`` exists.
    Cached per folder, so a tree of 1,000 files costs one walk per folder, not per file."""
    here = Path(folder)
    if (here / "__init__.py").exists() and here.parent != here:
        root, names = _package_chain(str(here.parent))
        return root, names + (here.name,)
    return folder, ()


def module_name_for(path: Path) -> tuple[str, bool]:
    """Dotted module name of a file, from the top package's parent (a script's folder is an import root)."""
    path = Path(os.path.realpath(path))
    is_package = path.name == "__init__.py"
    _, packages = _package_chain(str(path.parent))
    parts = list(packages) + ([] if is_package else [path.stem])
    if not parts:
        parts = [path.parent.name]
    return ".".join(p for p in parts if p), is_package


def imported_modules(text: str, module: str, is_package: bool) -> set[str]:
    """Absolute module names a file may import, from a cheap scan of its import lines (no parse)."""
    from packlint.analysis.names import resolve_relative

    out: set[str] = set()
    for m in _IMPORT_LINE.finditer(text):
        if m.group("from") is not None:
            target = m.group("from")
            level = len(target) - len(target.lstrip("."))
            base = resolve_relative(module, is_package, level, target.lstrip(".") or None) if level else target
            if base:
                out.add(base)
                for name in re.split(r"[,\s()]+", m.group("names")):
                    if name and name.isidentifier() and name != "as":
                        out.add(f"{base}.{name}")
        else:
            for part in m.group("mods").split(","):
                name = part.strip().split(" ")[0]
                if name:
                    out.add(name)
    return out


def import_root_of(path: Path) -> Path:
    """The folder a file's module name is relative to: its top package's parent (a script's own folder)."""
    return Path(_package_chain(os.path.dirname(os.path.realpath(path)))[0])


def import_roots(paths: Iterable[Path], extra: Iterable[Path] = ()) -> list[Path]:
    """Folders imports resolve against: each file's top-package parent (a script's own folder), then ``src``."""
    roots: list[Path] = []
    for p in paths:
        folder = import_root_of(Path(p))
        if folder not in roots:
            roots.append(folder)
    for e in extra:
        e = Path(e).resolve()
        if e not in roots:
            roots.append(e)
    return roots


def locate(name: str, roots: list[Path], own_root: str = "") -> tuple[str, Path] | None:
    """(root, file) of module ``name``, searching the importing file's own root first (as Python puts a script's
    folder first on sys.path), then the other roots; None when it is not in the tree."""
    key = (name, own_root, tuple(roots))
    if key in _LOCATED:
        return _LOCATED[key]
    head = name.split(".", 1)[0]
    order = tuple([Path(own_root)] if own_root else []) + tuple(r for r in roots if str(r) != own_root)
    if not any(head in _top_level_names(str(r)) for r in order):
        _LOCATED[key] = None  # torch, os, numpy...: not a module of the tree, no file system probing
    else:
        _LOCATED[key] = _find_module_file(name, order)
    return _LOCATED[key]


@lru_cache(maxsize=None)
def _top_level_names(root: str) -> frozenset[str]:
    """Module and package names directly under an import root (one listdir per root)."""
    try:
        entries = os.listdir(root)
    except OSError:
        return frozenset()
    return frozenset(e[:-3] if e.endswith(".py") else e for e in entries)


_LOCATED: dict[tuple, tuple[str, Path] | None] = {}


def _find_module_file(name: str, roots: tuple[Path, ...]) -> tuple[str, Path] | None:
    rel = Path(*name.split("."))
    for root in roots:
        for cand in (root / rel.with_suffix(".py"), root / rel / "__init__.py"):
            if cand.is_file():
                return str(root), cand
    return None


def dependencies(files: list[SourceFile], roots: list[Path], max_bytes: int, limit: int = 2000,
                 given: dict[Path, SourceFile] | None = None) -> list[SourceFile]:
    """Modules of the tree that the given files import, transitively. Files in ``given`` (the linted set) keep
    being reported; others are read but not reported (pre-commit passes only changed files)."""
    seen = {Path(f.path).resolve() for f in files}
    queue = list(files)
    out: list[SourceFile] = []
    while queue and len(out) < limit:
        f = queue.pop()
        for name in sorted(imported_modules(f.text, f.module, f.is_package)):
            found = locate(name, roots, f.root)
            path = found[1] if found else None
            if path is None or path.resolve() in seen:
                continue
            seen.add(path.resolve())
            if given is not None and path.resolve() in given:
                loaded = [given[path.resolve()]]
            else:
                loaded, _ = load_files([path], report=False, max_bytes=max_bytes)
            out.extend(loaded)
            queue.extend(loaded)
    return out


def prefilter_for(user_api: dict[str, list[str]] | None) -> re.Pattern:
    """The text scan that decides which files name a padding source, with the user's own sources added."""
    names = [q.rsplit(".", 1)[-1] for q in (user_api or {}).get("sources", [])]
    if not names:
        return PREFILTER
    return re.compile(PREFILTER.pattern + "|" + "|".join(re.escape(n) for n in names))


class ImportGraph:
    """Module texts and import edges of the tree, from the import-line scan."""

    def __init__(self, texts: dict[str, str], edges: dict[str, set[str]]):
        self.texts, self.edges = texts, edges

    def closure(self, module: str) -> set[str]:
        """Every module of the tree ``module`` imports, directly or not."""
        seen: set[str] = set()
        stack = list(self.edges.get(module, ()))
        while stack:
            m = stack.pop()
            if m in seen:
                continue
            seen.add(m)
            stack.extend(self.edges.get(m, ()))
        seen.discard(module)
        return seen

    def components(self, modules: list[str]) -> list[list[str]]:
        """Groups of ``modules`` connected by imports (through any module of the tree): each group can be
        analysed on its own."""
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for m in modules:
            find(m)
            for t in self.closure(m):
                parent[find(t)] = find(m)
        groups: dict[str, list[str]] = {}
        for m in modules:
            groups.setdefault(find(m), []).append(m)
        return list(groups.values())


def select_needed(files: list[SourceFile], roots: list[Path], prefilter: re.Pattern, limit: int = 20000
                  ) -> tuple[list[SourceFile], int, ImportGraph]:
    """The files that can matter, and how many were skipped without parsing.

    A file can only report a finding if padding can reach it: it names the packing API (cheap text scan), or it
    imports, directly or through any chain of modules of the tree (linted or not), a module that does. The import
    graph comes from a scan of import lines, never from parsing. Other files are counted as checked and never
    parsed; everything a needed file imports is read later by ``dependencies``."""
    texts: dict[str, str] = {}  # module key (root::name) -> text
    info: dict[str, tuple[str, str, bool]] = {}  # key -> (root, dotted name, is package)
    for f in files:
        texts.setdefault(f.key, f.text)
        info.setdefault(f.key, (f.root, f.module, f.is_package))
    edges: dict[str, set[str]] = {}  # module -> modules of the tree it imports
    queue = list(texts)
    while queue and len(texts) < limit:
        mod = queue.pop()
        if mod in edges:
            continue
        root, name_of, is_pkg = info[mod]
        targets: set[str] = set()
        for name in imported_modules(texts[mod], name_of, is_pkg):
            parts = name.split(".")
            for cut in range(len(parts), 0, -1):
                target = ".".join(parts[:cut])
                found = locate(target, roots, root)
                if found is None:
                    continue
                key = f"{found[0]}::{target}"
                if key not in texts:
                    try:
                        texts[key] = found[1].read_text(encoding="utf-8", errors="replace")
                        READ_LOG.append(os.path.abspath(found[1]))
                    except OSError:
                        break
                    info[key] = (found[0], target, found[1].name == "__init__.py")
                    queue.append(key)
                targets.add(key)
                break
        edges[mod] = targets - {mod}
    relevant = {m for m, text in texts.items() if prefilter.search(text)}
    importers: dict[str, set[str]] = {}
    for mod, targets in edges.items():
        for t in targets:
            importers.setdefault(t, set()).add(mod)
    reached = set(relevant)
    frontier = list(relevant)
    while frontier:
        mod = frontier.pop()
        for importer in importers.get(mod, ()):
            if importer not in reached:
                reached.add(importer)
                frontier.append(importer)
    needed = [f for f in files if f.key in reached]
    return needed, len(files) - len(needed), ImportGraph(texts, edges)


