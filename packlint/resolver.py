"""The one import resolver: what a file imports, and which file of the tree each imported name is.

Two halves, shared by file selection, cache keys and the analysis alike:

- **Import statements.** ``scan_imports`` reads a file's import statements without parsing it: a scan over
  Python's lexical structure (strings, comments, brackets) finds the ``import`` and ``from`` keywords that start a
  statement, and each statement is then read with ``tokenize`` (parentheses, backslash continuations, ``;``,
  comments, relative imports, ``import a.b as c``). ``ast_imports`` gives the same records from a parsed tree, and a
  property test holds the two equal. ``bindings`` and ``imported_names`` give each record's meaning (local name ->
  qualified name; the modules it may load) in one place for everyone.
- **The module index.** ``ModuleIndex`` answers "which file is module ``a.b`` for this importer" from folder
  listings, each read once with one ``os.scandir`` and kept (a dict lookup per name afterwards, never a ``stat``
  per name). It follows Python's own search: a package (``a/__init__.py``) before a module (``a.py``) before a
  namespace portion (a folder without ``__init__.py``), namespace packages spread over several roots, and the
  import roots in order: the importer's top-package parent (a script's own folder), the configured ``src`` roots,
  the project root, and last the importer's own folder (a script inside a package, run directly).

This module imports nothing of packlint's: the engine composes it, and the analysis may use it.
"""

from __future__ import annotations

import ast
import io
import keyword
import os
import re
import tokenize
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

__all__ = ["FolderTree", "ImportStmt", "ModuleIndex", "ast_imports", "bindings", "imported_names",
           "resolve_relative", "scan_imports", "stmt_from_ast"]


# ---------------------------------------------------------------------------------------------- statements
class ImportStmt(NamedTuple):
    """One import statement, as written: ``import a.b as c, d`` or ``from ..pkg import (x, y as z)``.

    ``module`` is the dotted name after ``from`` (without the leading dots; None for ``from . import x`` and for a
    plain ``import``); ``names`` holds (name, alias) pairs, ``("*", None)`` for a star import."""

    line: int
    is_from: bool
    level: int
    module: str | None
    names: tuple[tuple[str, str | None], ...]


def resolve_relative(module_name: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute module named by ``from .{level dots}target import ...`` inside ``module_name``."""
    parts = module_name.split(".") if module_name else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    base = ".".join(parts)
    if target:
        return f"{base}.{target}" if base else target
    return base


def _base(stmt: ImportStmt, module_name: str, is_package: bool) -> str:
    if stmt.level:
        return resolve_relative(module_name, is_package, stmt.level, stmt.module)
    return stmt.module or ""


def bindings(stmt: ImportStmt, module_name: str, is_package: bool) -> dict[str, str]:
    """Local name -> qualified name bound by one import statement (a star import binds nothing we can see)."""
    out: dict[str, str] = {}
    if not stmt.is_from:
        for name, alias in stmt.names:
            if alias:
                out[alias] = name
            else:
                head = name.split(".")[0]
                out[head] = head
        return out
    base = _base(stmt, module_name, is_package)
    for name, alias in stmt.names:
        if name != "*":
            out[alias or name] = f"{base}.{name}" if base else name
    return out


def imported_names(stmt: ImportStmt, module_name: str, is_package: bool) -> list[str]:
    """Absolute module names one statement may load: ``import a.b`` -> ``a.b``; ``from p import x`` -> ``p`` and
    ``p.x`` (``x`` may be a submodule or a name defined in ``p``)."""
    if not stmt.is_from:
        return [name for name, _ in stmt.names]
    base = _base(stmt, module_name, is_package)
    out = [base] if base else []
    out += [f"{base}.{name}" if base else name for name, _ in stmt.names if name != "*"]
    return out


def stmt_from_ast(node: ast.Import | ast.ImportFrom) -> ImportStmt:
    """The record of a parsed import statement."""
    names = tuple((a.name, a.asname) for a in node.names)
    if isinstance(node, ast.Import):
        return ImportStmt(node.lineno, False, 0, None, names)
    return ImportStmt(node.lineno, True, node.level or 0, node.module, names)


def ast_imports(tree: ast.AST) -> list[ImportStmt]:
    """Every import statement of a parsed module, nested ones included, in source order."""
    nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    nodes.sort(key=lambda n: (n.lineno, n.col_offset))
    return [stmt_from_ast(n) for n in nodes]


# The lexical scan: strings (every quote form; a prefix such as ``rb`` is plain code before the quote and changes
# nothing about where a string ends) and comments. Code is what lies between them.
_LEXICAL = re.compile(
    r"'''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*'''"
    r'|"""[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*"""'
    r"|'[^'\\\r\n]*(?:\\[\s\S][^'\\\r\n]*)*'"
    r'|"[^"\\\r\n]*(?:\\[\s\S][^"\\\r\n]*)*"'
    r"|#[^\r\n]*"
)
_KEYWORD = re.compile(r"(?:import|from)\b")
_WORD_CHAR = re.compile(r"\w")
_AFTER_KEYWORD = frozenset(" \t\f\\.")  # what may follow `import` or `from` in a statement
# The end of an import statement: a newline or ``;`` outside parentheses (comments and continuations skipped).
_STMT_END = re.compile(r"#[^\r\n]*|\\(?:\r\n|\r|\n)|[()]|\r\n|\r|\n|;")


def _starts_statement(text: str, start: int, end: int, after_token: bool) -> bool:
    """Whether a keyword at ``end``, preceded by the code ``text[start:end]`` (since the previous string, comment or
    keyword, or since the start of the file when ``after_token`` is False), begins a statement: it follows a
    newline that is not a backslash continuation, a ``;`` or a ``:``, with only blanks in between. Brackets are not
    tracked: inside brackets ``import`` never occurs and ``from`` only as ``yield from``, never read as an import."""
    i = end
    while True:
        while i > start and text[i - 1] in " \t\f":
            i -= 1
        if i == start:
            return not after_token
        c = text[i - 1]
        if c not in "\r\n":
            return c in ";:"
        i -= 2 if c == "\n" and i - 2 >= start and text[i - 2] == "\r" else 1
        if i == start or text[i - 1] != "\\":
            return True
        i -= 1  # a continuation joins this line to the one before: look further back


def _count_lines(text: str, start: int, end: int) -> int:
    """Line breaks in ``text[start:end]`` as Python counts them (\\n, \\r\\n, \\r)."""
    return text.count("\n", start, end) + text.count("\r", start, end) - text.count("\r\n", start, end)


def scan_imports(text: str) -> list[ImportStmt]:
    """Every import statement of a source text, nested ones included, in source order, without parsing it.

    Agrees with ``ast_imports(ast.parse(text))`` on every text that parses (a property test holds it). On a text
    that does not parse it still returns the statements it can read; a malformed statement is left out."""
    if "import" not in text:
        return []
    keywords = [m for m in _KEYWORD.finditer(text) if not (m.start() and _WORD_CHAR.match(text, m.start() - 1))]
    out: list[ImportStmt] = []
    lexical = _LEXICAL.finditer(text)
    span = next(lexical, None)
    prev_end = 0  # end of the previous string, comment or keyword
    after_token = False
    line, line_pos = 1, 0
    for kw in keywords:
        start = kw.start()
        while span is not None and span.end() <= start:
            prev_end, after_token = max(prev_end, span.end()), True
            span = next(lexical, None)
        if span is not None and span.start() < start:
            continue  # inside a string or a comment
        if text[kw.end():kw.end() + 1] in _AFTER_KEYWORD and _starts_statement(text, prev_end, start, after_token):
            line += _count_lines(text, line_pos, start)
            line_pos = start
            stmt = _read_statement(text, start, line)
            if stmt is not None:
                out.append(stmt)
        prev_end, after_token = kw.end(), True
    return out


def _read_statement(text: str, start: int, line: int) -> ImportStmt | None:
    """The import statement that begins at ``start``, read with ``tokenize``; None when malformed."""
    depth = 0
    end = len(text)
    for m in _STMT_END.finditer(text, start):
        tok = m.group()
        if tok[0] in "#\\":
            continue
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
            if depth < 0:
                return None
        elif tok == ";" or depth == 0:
            end = m.start()
            break
    segment = text[start:end]
    if segment.isascii():
        # Most statements hold only names, dots, commas, parentheses and blanks: their tokens are read with one
        # pattern, what ``tokenize`` gives for them at a tenth of its cost (it was most of the import scan)
        plain = _CONTINUATION.sub(" ", _COMMENT.sub("", segment)) if "#" in segment or "\\" in segment else segment
        if _PLAIN_STATEMENT.fullmatch(plain):
            return _parse_statement(_PLAIN_TOKEN.findall(plain), line)
    try:
        tokens = [t.string for t in tokenize.generate_tokens(io.StringIO(segment).readline)
                  if t.type in (tokenize.NAME, tokenize.OP)]
    except (tokenize.TokenError, SyntaxError):
        return None
    return _parse_statement(tokens, line)


_COMMENT = re.compile(r"#[^\r\n]*")
_CONTINUATION = re.compile(r"\\(?:\r\n|\r|\n)")
_PLAIN_STATEMENT = re.compile(r"(?:[ \t\f\r\n]++|[A-Za-z_][A-Za-z0-9_]*+|\.\.\.|[.,()*])*+")  # possessive: no backtracking
_PLAIN_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\.\.\.|[.,()*]")


def _name(tok: str | None) -> str | None:
    """An identifier as the parser stores it (NFKC-normalised), or None for a keyword or a non-name."""
    if tok is None or not tok.isidentifier() or keyword.iskeyword(tok):
        return None
    return tok if tok.isascii() else unicodedata.normalize("NFKC", tok)


def _parse_statement(tokens: list[str], line: int) -> ImportStmt | None:
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def dotted() -> str | None:
        nonlocal pos
        first = _name(peek())
        if first is None:
            return None
        parts = [first]
        pos += 1
        while peek() == "." and pos + 1 < len(tokens) and _name(tokens[pos + 1]) is not None:
            parts.append(_name(tokens[pos + 1]))
            pos += 2
        return ".".join(parts)

    def alias() -> str | None | bool:
        """The name after ``as``; None without ``as``; False when ``as`` is not followed by a name."""
        nonlocal pos
        if peek() != "as":
            return None
        found = _name(tokens[pos + 1]) if pos + 1 < len(tokens) else None
        if found is None:
            return False
        pos += 2
        return found

    if peek() == "import":
        pos += 1
        names: list[tuple[str, str | None]] = []
        while True:
            mod = dotted()
            asname = alias()
            if mod is None or asname is False:
                return None
            names.append((mod, asname))
            if peek() != ",":
                break
            pos += 1
        return ImportStmt(line, False, 0, None, tuple(names)) if pos == len(tokens) else None

    if peek() != "from":
        return None
    pos += 1
    level = 0
    while peek() in (".", "..."):
        level += len(tokens[pos])
        pos += 1
    module = dotted() if peek() != "import" else None
    if (module is None and level == 0) or peek() != "import":
        return None
    pos += 1
    if peek() == "*":
        pos += 1
        return ImportStmt(line, True, level, module, (("*", None),)) if pos == len(tokens) else None
    paren = peek() == "("
    pos += paren
    names = []
    while True:
        name = _name(peek())
        if name is None:
            return None
        pos += 1
        asname = alias()
        if asname is False:
            return None
        names.append((name, asname))
        if peek() != ",":
            break
        pos += 1
        if paren and peek() == ")":
            break  # a trailing comma inside parentheses
    if paren:
        if peek() != ")":
            return None
        pos += 1
    return ImportStmt(line, True, level, module, tuple(names)) if pos == len(tokens) else None


# ---------------------------------------------------------------------------------------------- the index
class FolderTree:
    """Folder listings, each read once: (file names, sub-folder names) per folder.

    The only way the index looks at the disk: one ``os.scandir`` per folder it needs, never a ``stat`` per
    imported name. ``from_files`` builds one from a list of files instead, with no disk access at all."""

    def __init__(self, listing: Callable[[str], tuple[frozenset[str], frozenset[str]]] | None = None):
        self._listing = listing or _scandir
        self._cache: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    @classmethod
    def from_files(cls, files: Iterable[str | os.PathLike]) -> "FolderTree":
        """The tree that holds exactly ``files`` (absolute paths) and their folders."""
        content: dict[str, tuple[set[str], set[str]]] = {}
        for f in files:
            path = os.path.abspath(f)
            folder, name = os.path.split(path)
            content.setdefault(folder, (set(), set()))[0].add(name)
            while True:
                parent, sub = os.path.split(folder)
                if parent == folder:
                    break
                content.setdefault(parent, (set(), set()))[1].add(sub)
                folder = parent
        frozen = {k: (frozenset(a), frozenset(b)) for k, (a, b) in content.items()}
        return cls(lambda folder: frozen.get(folder, (frozenset(), frozenset())))

    def listing(self, folder: str) -> tuple[frozenset[str], frozenset[str]]:
        found = self._cache.get(folder)
        if found is None:
            found = self._cache[folder] = self._listing(folder)
        return found

    @property
    def folders(self) -> list[str]:
        """Every folder listed so far (the run cache stamps them: a new module changes what an import finds)."""
        return sorted(self._cache)


def _scandir(folder: str) -> tuple[frozenset[str], frozenset[str]]:
    files: list[str] = []
    dirs: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.is_dir():
                        dirs.append(entry.name)
                    else:
                        files.append(entry.name)
                except OSError:
                    continue
    except OSError:
        pass
    return frozenset(files), frozenset(dirs)


class ModuleIndex:
    """Module names <-> files of the tree, per import root, for every importer of the run.

    ``roots`` are the configured ``src`` roots and the project root (absolute), tried after the importer's own
    top-package parent and before the importer's own folder. Lookups are memoised per (name, search path)."""

    def __init__(self, roots: Sequence[str | os.PathLike] = (), tree: FolderTree | None = None):
        self.tree = tree or FolderTree()
        self.roots = tuple(dict.fromkeys(os.path.abspath(r) for r in roots))
        self._packages: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._found: dict[tuple[str, tuple[str, ...]], str | None] = {}
        self._paths: dict[object, tuple[str, ...]] = {}

    def _has_init(self, folder: str) -> bool:
        return "__init__.py" in self.tree.listing(folder)[0]

    def _package_chain(self, folder: str) -> tuple[str, tuple[str, ...]]:
        """(import root, package names from the root down) of a folder: up while ``__init__.py`` is there."""
        known = self._packages.get(folder)
        if known is not None:
            return known
        parent = os.path.dirname(folder)
        if parent != folder and self._has_init(folder):
            root, names = self._package_chain(parent)
            known = (root, names + (os.path.basename(folder),))
        else:
            known = (folder, ())
        self._packages[folder] = known
        return known

    def module_of(self, path: str | os.PathLike) -> tuple[str, str, bool]:
        """(import root, dotted module name, is a package) of a file: its name from its top package's parent."""
        path = os.path.abspath(path)
        folder, base = os.path.split(path)
        is_package = base == "__init__.py"
        root, packages = self._package_chain(folder)
        parts = list(packages) + ([] if is_package else [os.path.splitext(base)[0]])
        if not parts:
            parts = [os.path.basename(folder)]
        return root, ".".join(p for p in parts if p), is_package

    def search_path(self, importer: str | os.PathLike) -> tuple[str, ...]:
        """The folders an importer's absolute imports are looked up in, in order (computed once per importer)."""
        found = self._paths.get(importer)
        if found is None:
            folder = os.path.dirname(os.path.abspath(importer))
            top = self._package_chain(folder)[0]
            found = self._paths[importer] = tuple(dict.fromkeys((top, *self.roots, folder)))
        return found

    def find(self, name: str, importer: str | os.PathLike) -> str | None:
        """The file of module ``name`` (``pkg/__init__.py`` for a package) as ``importer`` would import it; None
        when it is not a file of the tree (a library, a namespace package, a name defined inside a module)."""
        paths = self.search_path(importer)
        key = (name, paths)
        if key not in self._found:
            self._found[key] = self._lookup(name.split("."), paths)
        return self._found[key]

    def find_longest(self, name: str, importer: str | os.PathLike) -> str | None:
        """The file of the longest prefix of ``name`` that is a module of the tree (``pkg.model.Tagger`` ->
        ``pkg/model.py``)."""
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            found = self.find(".".join(parts[:cut]), importer)
            if found is not None:
                return found
        return None

    def _lookup(self, parts: list[str], paths: Sequence[str]) -> str | None:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            portions: list[str] = []
            hit: str | None = None
            is_pkg = False
            for folder in paths:
                files, dirs = self.tree.listing(folder)
                sub = os.path.join(folder, part)
                if part in dirs and self._has_init(sub):
                    hit, is_pkg = sub, True
                    break
                if part + ".py" in files:
                    hit = sub + ".py"
                    break
                if part in dirs:
                    portions.append(sub)
            if hit is None:
                if not portions or last:
                    return None  # not in the tree, or a namespace package (no file of its own)
                paths = portions
                continue
            if last:
                return os.path.join(hit, "__init__.py") if is_pkg else hit
            if not is_pkg:
                return None  # a module has no submodules
            paths = [hit]
        return None
