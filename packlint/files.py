"""Which files to lint: command-line paths -> a sorted list of `.py` / `.ipynb` files.

Why this is its own module: discovery decides what the user sees as "checked", and the rules for
it are the ones ruff and git have taught people, which are easy to get subtly wrong:

- Folders are walked for `*.py` and `*.ipynb`; a folder named `x.py` is still a folder.
- Default excludes (`DEFAULT_EXCLUDE`) keep virtualenvs, builds and caches out. `exclude` replaces
  them, `extend_exclude` adds to them. Patterns use gitignore syntax, relative to `root` (the
  project root, where the config lives): `fixtures` matches any folder or file of that name,
  `pkg/cases` only that path under the root.
- `.gitignore` files are honoured with a real gitignore matcher (pathspec), nested ones included,
  and those of parent folders up to the repository root (the nearest folder holding `.git`), plus
  `.git/info/exclude`. Outside a repository only the `.gitignore` files inside the walked folder
  count, so a stray file in a parent folder cannot hide code.
- A path given explicitly is linted even when excluded or gitignored (pre-commit passes exactly
  the files it wants), unless `force_exclude` is set.
- Walks never follow symbolic links to folders (no loops, no escape from the tree); a linked
  file is linted when it resolves to a file inside the walked folder; a broken link met in a walk
  is skipped. An explicit
  path that is missing, a broken link or a link loop is an `io-error` problem naming the OS's
  reason. A file reached twice (`a.py` and `.`) is linted once.
- The result is sorted by path, so output never depends on argument or directory order.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

import pathspec

from packlint.diagnostics import FileProblem

#: Never worth linting, and often huge. `exclude` replaces this list, `extend_exclude` adds to it.
DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".venv",
    "venv",
    "build",
    "dist",
    ".git",
    "__pycache__",
    "site-packages",
    ".packlint_cache",
    ".tox",
    ".mypy_cache",
    "node_modules",
)

#: Suffixes linted when a folder is walked. Explicit files are linted whatever their suffix.
LINTED_SUFFIXES = (".py", ".ipynb")


def _spec(patterns: Iterable[str]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(list(patterns))


def _parents(folder: str) -> list[str]:
    """`folder` and every folder above it, deepest first (absolute, normalised paths)."""
    out = [folder]
    while True:
        parent = os.path.dirname(out[-1])
        if parent == out[-1]:
            return out
        out.append(parent)


def _rel_posix(path: str, base: str) -> str | None:
    """Absolute `path` relative to absolute folder `base`, posix form; None when not under it."""
    if path == base:
        return ""
    prefix = base if base.endswith(os.sep) else base + os.sep
    if not path.startswith(prefix):
        return None
    rel = path[len(prefix) :]
    return rel.replace(os.sep, "/") if os.sep != "/" else rel


class _GitIgnores:
    """The .gitignore matchers that apply to a folder, loaded once per folder.

    A path is ignored according to the deepest .gitignore with a matching pattern (a deeper
    `!keep.py` re-includes what a shallower file ignored), which is git's rule. Paths here are
    absolute strings: discovery visits every file, and Path objects cost several times more.
    """

    def __init__(self) -> None:
        self._per_dir: dict[str, pathspec.GitIgnoreSpec | None] = {}
        self._repo_root: dict[str, str | None] = {}
        self._chains: dict[tuple, list[tuple[str, pathspec.GitIgnoreSpec]]] = {}

    def _load(self, folder: str) -> pathspec.GitIgnoreSpec | None:
        if folder not in self._per_dir:
            lines: list[str] = []
            sources = [os.path.join(folder, ".gitignore")]
            if os.path.isdir(os.path.join(folder, ".git")):
                sources.append(os.path.join(folder, ".git", "info", "exclude"))
            for source in sources:
                try:
                    with open(source, encoding="utf-8", errors="replace") as f:
                        lines += f.read().splitlines()
                except OSError:
                    pass
            self._per_dir[folder] = _spec(lines) if any(line.strip() for line in lines) else None
        return self._per_dir[folder]

    def repo_root(self, folder: str) -> str | None:
        """The nearest folder at or above `folder` that holds `.git` (a folder or a worktree file)."""
        if folder not in self._repo_root:
            self._repo_root[folder] = next(
                (f for f in _parents(folder) if os.path.exists(os.path.join(f, ".git"))), None
            )
        return self._repo_root[folder]

    def chain(
        self, folder: str, walk_root: str, *, above: bool = True
    ) -> list[tuple[str, pathspec.GitIgnoreSpec]]:
        """The (base folder, matcher) pairs for `folder`, shallowest first.

        Inside a repository, from the repository root down; outside one (or with `above=False`),
        from `walk_root` down.
        """
        key = (folder, walk_root, above)
        cached = self._chains.get(key)
        if cached is None:
            top = (self.repo_root(folder) if above else None) or walk_root
            cached = []
            for f in reversed(_parents(folder)):
                if _rel_posix(f, top) is None:
                    continue  # above the top: not ours to read
                spec = self._load(f)
                if spec is not None:
                    cached.append((f, spec))
            self._chains[key] = cached
        return cached

    def ignored(self, path: str, is_dir: bool, walk_root: str, *, above: bool = True) -> bool:
        """Whether git would ignore `path` (absolute), by the .gitignore files `chain` selects."""
        for base, spec in reversed(self.chain(os.path.dirname(path), walk_root, above=above)):
            rel = _rel_posix(path, base)
            if not rel:
                continue
            result = spec.check_file(rel + "/" if is_dir else rel)
            if result.include is not None:
                return result.include
        return False


_BARE_NAME = re.compile(r"^[\w.-]+$")


class _Excludes:
    """The exclude patterns, matched relative to the project root (or, for paths outside it,
    against the path without its anchor, so unanchored patterns like `.venv` still work)."""

    def __init__(self, patterns: Sequence[str], root: str) -> None:
        self.patterns = [_anchored(p, root) for p in patterns]
        self.spec = _spec(self.patterns)
        self.root = root
        # The defaults and most user patterns are bare names (`.venv`, `build`): those match a path exactly when
        # one of its components is that name, which a set answers without running every pattern on every file.
        bare = [p.rstrip("/") for p in self.patterns]
        self.names = frozenset(bare) if all(_BARE_NAME.match(p) for p in bare) else None

    def excluded(self, absolute: str, is_dir: bool) -> bool:
        """Whether absolute path `absolute` matches an exclude pattern."""
        if self.names is not None:
            rel = _rel_posix(absolute, self.root)
            parts = (rel if rel else absolute.replace(os.sep, "/")).split("/")
            if not is_dir:
                return any(part in self.names for part in parts[:-1]) or (
                    parts[-1] in self.names and not any(p.endswith("/") for p in self.patterns))
            return any(part in self.names for part in parts)
        rel = _rel_posix(absolute, self.root)
        if rel is None:
            rel = absolute.replace(os.sep, "/").lstrip("/")
        elif rel == "":
            rel = os.path.basename(absolute)
        if not rel:
            return False
        return self.spec.match_file(rel + "/" if is_dir else rel)


def _anchored(pattern: str, root: str) -> str:
    """A pattern as written in a configuration, in gitignore terms: ``./x.py`` (relative to the project root, as
    in ruff) becomes ``/x.py``, and an absolute path under the root becomes anchored at the root; gitignore itself
    would read both as names that never match."""
    if pattern.startswith("./"):
        rest = pattern[2:].lstrip("/")
        return "/" + rest if rest else pattern
    if os.path.isabs(pattern):
        rel = _rel_posix(os.path.normpath(pattern), root)
        if rel:
            return "/" + rel + ("/" if pattern.endswith(("/", os.sep)) else "")
    return pattern


def _os_problem(path: str, exc: OSError) -> FileProblem:
    if exc.errno == errno.ENOENT:
        return FileProblem(path, "io-error", "No such file or directory")
    return FileProblem(path, "io-error", exc.strerror or str(exc))


def discover(
    paths: Iterable[str | os.PathLike[str]],
    *,
    exclude: Sequence[str] | None = None,
    extend_exclude: Sequence[str] = (),
    respect_gitignore: bool = True,
    force_exclude: bool = False,
    root: str | os.PathLike[str] | None = None,
) -> tuple[list[Path], list[FileProblem]]:
    """Expand `paths` into the files to lint, and the problems met on the way.

    `exclude=None` means `DEFAULT_EXCLUDE`; a sequence (even empty) replaces it. `root` is where
    relative exclude patterns are anchored (default: the current folder). Returns the files sorted
    by their posix path, each once, spelled as the user's argument plus the walked names, and the
    problems (`io-error` for a missing or unreadable argument or folder) sorted the same way.
    """
    base = os.path.abspath(root if root is not None else os.getcwd())
    patterns = list(DEFAULT_EXCLUDE if exclude is None else exclude) + list(extend_exclude)
    walk = _Walk(_Excludes(patterns, base), _GitIgnores() if respect_gitignore else None)

    for arg in paths:
        shown = os.fspath(arg)
        path = Path(arg)
        absolute = os.path.abspath(path)
        try:
            st = os.stat(path)  # follows links: an explicit link to a folder is walked
        except OSError as exc:
            if os.path.islink(path) and exc.errno == errno.ENOENT:
                walk.problems.append(FileProblem(shown, "io-error", "broken symbolic link"))
            else:
                walk.problems.append(_os_problem(shown, exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            if not (force_exclude and walk.excluded_explicitly(absolute, True)):
                walk.folder(path)
        elif stat.S_ISREG(st.st_mode):
            if not (force_exclude and walk.excluded_explicitly(absolute, False)):
                walk.add(path, os.path.realpath(path))
        else:
            walk.problems.append(FileProblem(shown, "io-error", "not a regular file"))

    files = sorted(walk.found.values(), key=lambda p: p.as_posix())
    problems = sorted(walk.problems, key=lambda p: p.sort_key())
    return files, problems


class _Walk:
    """One discovery: the files found so far (keyed by real path, so each is listed once) and the
    problems met."""

    def __init__(self, excludes: _Excludes, gitignores: _GitIgnores | None) -> None:
        self.excludes = excludes
        self.gitignores = gitignores
        self.found: dict[str, Path] = {}
        self.problems: list[FileProblem] = []
        self._real_dirs: dict[str, str] = {}

    def add(self, path: Path, key: str) -> None:
        shown = self.found.get(key)
        # The simplest spelling wins (fewest parts, then alphabetical): independent of order.
        if shown is None or (len(path.parts), path.as_posix()) < (len(shown.parts), shown.as_posix()):
            self.found[key] = path

    def excluded_explicitly(self, absolute: str, is_dir: bool) -> bool:
        """For `force_exclude`: does an exclude pattern or a .gitignore cover this argument?"""
        if self.excludes.excluded(absolute, is_dir):
            return True
        return bool(self.gitignores) and self.gitignores.ignored(absolute, is_dir, os.path.dirname(absolute))

    def folder(self, top: Path) -> None:
        """Walk one folder argument, pruning excluded and ignored folders before descending.

        A folder given explicitly is walked even if it is excluded or gitignored itself; then the
        pattern that matched it is not held against its contents: exclude patterns are
        re-anchored at the folder and only the .gitignore files inside it count.
        """
        walk_root = os.path.abspath(top)
        real_root = os.path.realpath(top)
        self._real_dirs[os.fspath(top)] = real_root
        excludes = self.excludes
        if excludes.excluded(walk_root, True):
            excludes = _Excludes(excludes.patterns, walk_root)
        gitignores = self.gitignores
        above = not (gitignores and gitignores.ignored(walk_root, True, os.path.dirname(walk_root)))

        def on_error(exc: OSError) -> None:
            self.problems.append(_os_problem(exc.filename or os.fspath(top), exc))

        def skip(absolute: str, is_dir: bool) -> bool:
            if excludes.excluded(absolute, is_dir):
                return True
            return bool(gitignores) and gitignores.ignored(absolute, is_dir, walk_root, above=above)

        for dirpath, dirnames, filenames in os.walk(top, onerror=on_error, followlinks=False):
            abs_dir = os.path.abspath(dirpath)
            real_dir = None  # computed when a file in this folder needs it
            keep = []
            for name in sorted(dirnames):
                if os.path.islink(os.path.join(dirpath, name)):
                    continue  # never follow links to folders: no loops, no leaving the tree
                if not skip(os.path.join(abs_dir, name), True):
                    keep.append(name)
            dirnames[:] = keep
            for name in sorted(filenames):
                if not name.endswith(LINTED_SUFFIXES):
                    continue
                candidate = os.path.join(dirpath, name)
                try:
                    st = os.lstat(candidate)
                    if stat.S_ISLNK(st.st_mode):
                        st = os.stat(candidate)
                        key = os.path.realpath(candidate)
                        if os.path.commonpath([key, real_root]) != real_root:
                            continue  # a link out of the walked tree is not followed
                    else:
                        if real_dir is None:
                            real_dir = self._real_dir(dirpath)
                        key = os.path.join(real_dir, name)
                except OSError:
                    continue  # a broken link or a loop met while walking: nothing to lint
                if not stat.S_ISREG(st.st_mode):
                    continue  # FIFOs, sockets and devices named *.py are not source
                if not skip(os.path.join(abs_dir, name), False):
                    self.add(Path(candidate), key)

    def _real_dir(self, dirpath: str) -> str:
        """realpath of a walked folder, from its parent's (walks never enter links, so only the
        top can differ from its spelling)."""
        real = self._real_dirs.get(dirpath)
        if real is None:
            parent, name = os.path.split(dirpath)
            known = self._real_dirs.get(parent)
            real = os.path.join(known, name) if known is not None else os.path.realpath(dirpath)
            self._real_dirs[dirpath] = real
        return real


def is_excluded(
    path: str | os.PathLike[str],
    *,
    exclude: Sequence[str] | None = None,
    extend_exclude: Sequence[str] = (),
    respect_gitignore: bool = True,
    root: str | os.PathLike[str] | None = None,
) -> bool:
    """Whether ``--force-exclude`` would drop ``path`` (an exclude pattern or a .gitignore covers it), without
    touching the path itself: the name given with ``--stdin-filename`` need not exist."""
    base = os.path.abspath(root if root is not None else os.getcwd())
    patterns = list(DEFAULT_EXCLUDE if exclude is None else exclude) + list(extend_exclude)
    walk = _Walk(_Excludes(patterns, base), _GitIgnores() if respect_gitignore else None)
    return walk.excluded_explicitly(os.path.abspath(path), False)


__all__ = ["DEFAULT_EXCLUDE", "LINTED_SUFFIXES", "discover", "is_excluded"]
