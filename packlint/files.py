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


def _rel_posix(path: Path, base: Path) -> str | None:
    """`path` relative to `base` in posix form, or None when it is not under `base`."""
    try:
        rel = path.relative_to(base)
    except ValueError:
        return None
    return rel.as_posix()


class _GitIgnores:
    """The .gitignore matchers that apply to a folder, loaded once per folder.

    A path is ignored according to the deepest .gitignore with a matching pattern (a deeper
    `!keep.py` re-includes what a shallower file ignored), which is git's rule.
    """

    def __init__(self) -> None:
        self._per_dir: dict[Path, pathspec.GitIgnoreSpec | None] = {}
        self._repo_root: dict[Path, Path | None] = {}
        self._chains: dict[tuple, list[tuple[Path, pathspec.GitIgnoreSpec]]] = {}

    def _load(self, folder: Path) -> pathspec.GitIgnoreSpec | None:
        if folder not in self._per_dir:
            lines: list[str] = []
            for name in (".gitignore",):
                try:
                    lines += (folder / name).read_text(encoding="utf-8", errors="replace").splitlines()
                except OSError:
                    pass
            if (folder / ".git").is_dir():
                try:
                    lines += (folder / ".git" / "info" / "exclude").read_text(
                        encoding="utf-8", errors="replace"
                    ).splitlines()
                except OSError:
                    pass
            self._per_dir[folder] = _spec(lines) if any(l.strip() for l in lines) else None
        return self._per_dir[folder]

    def repo_root(self, folder: Path) -> Path | None:
        """The nearest folder at or above `folder` that holds `.git` (a folder or a worktree file)."""
        if folder not in self._repo_root:
            found = None
            for candidate in (folder, *folder.parents):
                if (candidate / ".git").exists():
                    found = candidate
                    break
            self._repo_root[folder] = found
        return self._repo_root[folder]

    def chain(
        self, folder: Path, walk_root: Path, *, above: bool = True
    ) -> list[tuple[Path, pathspec.GitIgnoreSpec]]:
        """The (base folder, matcher) pairs for `folder`, shallowest first.

        Inside a repository, from the repository root down; outside one (or with `above=False`),
        from `walk_root` down.
        """
        key = (folder, walk_root, above)
        cached = self._chains.get(key)
        if cached is not None:
            return cached
        top = (self.repo_root(folder) if above else None) or walk_root
        out = []
        for f in reversed([folder, *folder.parents]):
            if f != top and top not in f.parents:
                continue
            spec = self._load(f)
            if spec is not None:
                out.append((f, spec))
        self._chains[key] = out
        return out

    def ignored(self, path: Path, is_dir: bool, walk_root: Path, *, above: bool = True) -> bool:
        """Whether git would ignore `path` (absolute), by the .gitignore files `chain` selects."""
        for base, spec in reversed(self.chain(path.parent, walk_root, above=above)):
            rel = _rel_posix(path, base)
            if rel is None:
                continue
            result = spec.check_file(rel + "/" if is_dir else rel)
            if result.include is not None:
                return result.include
        return False


class _Excludes:
    """The exclude patterns, matched relative to the project root (or, for paths outside it,
    against the path without its anchor, so unanchored patterns like `.venv` still work)."""

    def __init__(self, patterns: Sequence[str], root: Path) -> None:
        self.patterns = list(patterns)
        self.spec = _spec(self.patterns)
        self.root = root

    def excluded(self, path: Path, is_dir: bool) -> bool:
        absolute = Path(os.path.abspath(path))
        rel = _rel_posix(absolute, self.root)
        if rel is None or rel == ".":
            rel = absolute.as_posix().lstrip("/") if rel is None else absolute.name
        if not rel:
            return False
        return self.spec.match_file(rel + "/" if is_dir else rel)


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
    base = Path(os.path.abspath(root if root is not None else os.getcwd()))
    patterns = list(DEFAULT_EXCLUDE if exclude is None else exclude) + list(extend_exclude)
    excludes = _Excludes(patterns, base)
    gitignores = _GitIgnores() if respect_gitignore else None

    found: dict[str, Path] = {}  # real path -> the spelling shown to the user
    problems: list[FileProblem] = []

    def add(path: Path) -> None:
        try:
            key = os.path.realpath(path)
        except (OSError, RuntimeError):  # pragma: no cover - realpath does not raise on loops in 3.11
            key = os.path.abspath(path)
        shown = found.get(key)
        # The simplest spelling wins (fewest parts, then alphabetical): independent of order.
        if shown is None or (len(path.parts), path.as_posix()) < (len(shown.parts), shown.as_posix()):
            found[key] = path

    def skip_explicit(path: Path, is_dir: bool) -> bool:
        if not force_exclude:
            return False
        if excludes.excluded(path, is_dir):
            return True
        absolute = Path(os.path.abspath(path))
        return bool(gitignores and gitignores.ignored(absolute, is_dir, absolute.parent))

    for arg in paths:
        path = Path(arg)
        shown = os.fspath(arg)
        try:
            st = os.stat(path)  # follows links: an explicit link to a folder is walked
        except OSError as exc:
            if os.path.islink(path) and exc.errno == errno.ENOENT:
                problems.append(FileProblem(shown, "io-error", "broken symbolic link"))
            else:
                problems.append(_os_problem(shown, exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            if skip_explicit(path, True):
                continue
            _walk(path, excludes, gitignores, add, problems)
        elif stat.S_ISREG(st.st_mode):
            if not skip_explicit(path, False):
                add(path)
        else:
            problems.append(FileProblem(shown, "io-error", "not a regular file"))

    files = sorted(found.values(), key=lambda p: p.as_posix())
    problems.sort(key=lambda p: p.sort_key())
    return files, problems


def _walk(top: Path, excludes: _Excludes, gitignores: _GitIgnores | None, add, problems) -> None:
    """Walk one folder argument, pruning excluded and ignored folders before descending.

    A folder given explicitly is walked even if it is excluded or gitignored itself; then the
    pattern that matched it is not held against its contents: exclude patterns are re-anchored
    at the folder and only the .gitignore files inside it count.
    """
    walk_root = Path(os.path.abspath(top))
    real_root = os.path.realpath(top)
    if excludes.excluded(top, True):
        excludes = _Excludes(excludes.patterns, walk_root)
    above = not (gitignores and gitignores.ignored(walk_root, True, walk_root.parent))

    def on_error(exc: OSError) -> None:
        problems.append(_os_problem(exc.filename or os.fspath(top), exc))

    def is_ignored(path: Path, is_dir: bool) -> bool:
        return bool(gitignores) and gitignores.ignored(path, is_dir, walk_root, above=above)

    for dirpath, dirnames, filenames in os.walk(top, onerror=on_error, followlinks=False):
        folder = Path(dirpath)
        abs_folder = Path(os.path.abspath(folder))
        keep = []
        for name in sorted(dirnames):
            sub = folder / name
            if os.path.islink(sub):
                continue  # never follow links to folders: no loops, no leaving the tree
            if excludes.excluded(sub, True) or is_ignored(abs_folder / name, True):
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            if not name.endswith(LINTED_SUFFIXES):
                continue
            candidate = folder / name
            try:
                st = os.stat(candidate)
            except OSError:
                continue  # a broken link or a loop met while walking: nothing to lint
            if not stat.S_ISREG(st.st_mode):
                continue  # FIFOs, sockets and devices named *.py are not source
            if os.path.islink(candidate):
                real = os.path.realpath(candidate)
                if os.path.commonpath([real, real_root]) != real_root:
                    continue  # a link out of the walked tree is not followed
            if excludes.excluded(candidate, False) or is_ignored(abs_folder / name, False):
                continue
            add(candidate)


__all__ = ["DEFAULT_EXCLUDE", "LINTED_SUFFIXES", "discover"]
