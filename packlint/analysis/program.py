"""The program being linted, as an index: its modules, classes and functions, and which file an import names.

Every file of a run is handed in as a source (``add_source``: text, name, file) and parsed only when something
asks for its module (``load``): the name selection, an import the analysis resolves, a reported file the user
named. On real trees most files are never asked for, and parsing them was most of a run's time and memory (issue
16). ``add_module`` adds an already parsed module. The analysis (``project.py``) reads this index and keeps its own
state (globals, attributes, summaries) beside it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from packlint.analysis.events import Event
from packlint.analysis.values import Top, Unknown, Value, join
from packlint.analysis.walk import walk_nodes
from packlint.resolver import ModuleIndex, imported_names, scan_imports

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class FunctionInfo:
    """A function or method of the linted tree: its node, module, class and parameters."""

    func_id: str
    qualname: str
    module: "ModuleInfo"
    node: ast.FunctionDef | ast.AsyncFunctionDef
    class_id: str | None = None
    decorators: tuple[str, ...] = ()

    @property
    def self_name(self) -> str | None:
        params = self.node.args.posonlyargs + self.node.args.args
        if self.class_id is None or "staticmethod" in self.decorators or not params:
            return None
        return params[0].arg


#: Methods whose ``self.x`` values are an instance's constructed attributes.
CONSTRUCTORS = frozenset({"__init__", "setup", "build", "_build"})


@dataclass
class ClassInfo:
    class_id: str
    name: str
    module: "ModuleInfo"
    node: ast.ClassDef
    methods: dict[str, str] = field(default_factory=dict)
    body_assigns: dict[str, ast.expr] = field(default_factory=dict)
    #: This round's constructor outcomes: the root analysis (parameters at their defaults, else unknown) and the
    #: join over every construction site analysed. ``attrs_before`` is the merged table of the round before.
    root_attrs: dict[str, Value] = field(default_factory=dict)
    site_attrs: dict[str, Value] = field(default_factory=dict)
    attrs_done: bool = False
    attrs_before: dict[str, Value] | None = None
    #: ``merged_attrs()`` as last computed; None when a table changed since (the project resets it)
    merged: dict[str, Value] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def reassigned(self) -> frozenset[str]:
        """Attributes a method other than a constructor sets (``self.size = len(items)``, ``self.idx += n``): their
        constructor values are only where they start, so they are neither a construction's own facts nor
        constants to decide branches on."""
        out: set[str] = set()
        for item in self.node.body:
            if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) or item.name in CONSTRUCTORS:
                continue
            args = item.args.posonlyargs + item.args.args
            if not args:
                continue
            me = args[0].arg
            for node in walk_nodes(item):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                    node, (ast.AugAssign, ast.AnnAssign)) else []
                for target in targets:
                    for part in walk_nodes(target):
                        if isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name) and \
                                part.value.id == me:
                            out.add(part.attr)
        return frozenset(out)

    def merged_attrs(self) -> dict[str, Value]:
        """Every construction's view of each attribute, joined; a root analysis's unknown (a parameter with no
        default) says nothing when some construction site passed a value. Computed once per change of the tables
        (it is read at every attribute read); never changed in place by its readers."""
        if self.merged is not None:
            return self.merged
        out = dict(self.root_attrs)
        for attr, site in self.site_attrs.items():
            root = out.get(attr)
            if root is None or (isinstance(root, Unknown) and not isinstance(root, Top)):
                out[attr] = site
            else:
                out[attr] = join(root, site)
        self.merged = out
        return out


@dataclass
class ModuleInfo:
    """One parsed module. ``report`` is False for modules read only because a linted file imports them."""

    name: str
    path: str
    tree: ast.Module
    text: str
    is_package: bool = False
    report: bool = True
    globals: dict[str, Value] = field(default_factory=dict)
    globals_state: str = "new"  # new | running | done
    events: list[Event] = field(default_factory=list)
    node_ids: dict[int, str] = field(default_factory=dict)
    root: str = ""
    key: str = ""
    file: str = ""  # absolute path, by which the module index knows it ("" for sources handed in without one)
    _lines: list[str] | None = None
    body_frame: object = None  # the module body's frame while it runs
    function_ids: list[str] = field(default_factory=list)  # its functions and methods, in source order
    _top: dict | None = None  # name -> its one simple top-level binding, or None (see ``top_binding``)

    def top_binding(self, name: str) -> ast.stmt | None | bool:
        """How the module body binds a global, read from the tree without running it: the one statement that
        binds it when that is a ``def``, ``class`` or import straight in the body (nothing else at module level
        binds or deletes it, no function declares it ``global``); False when nothing at module level binds it;
        True when only running the body can tell (assigned, bound in a branch or a loop, bound twice)."""
        if self._top is None:
            self._top = _top_bindings(self.tree, self.text)
        return self._top.get(name, False)

    @property
    def current_globals(self) -> dict[str, Value]:
        """The module's variables as of now: while its body runs, the body's live environment (an ``if`` or a
        loop replaces that dict, so a function called from under ``if __name__ == "__main__":`` must read it, not
        the dict the body started with)."""
        if self.body_frame is not None:
            return self.body_frame.env
        return self.globals

    def __post_init__(self) -> None:
        if not self.key:
            self.key = f"{self.root}::{self.name}"

    @property
    def lines(self) -> list[str]:
        """The source's lines as Python counts them: only \\n, \\r\\n and \\r end a line (str.splitlines would
        also break at form feeds and U+2028, which Python keeps inside a line)."""
        if self._lines is None:
            self._lines = _LINE_BREAK.split(self.text)
        return self._lines

    def column(self, line: int, byte_offset: int) -> int:
        """1-based character column of a UTF-8 byte offset (``ast`` counts bytes, users count characters)."""
        if 1 <= line <= len(self.lines):
            text = self.lines[line - 1]
            if not text.isascii():
                return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="replace")) + 1
        return byte_offset + 1

    def segment(self, node: ast.AST) -> str:
        """The source text of a node, for messages."""
        try:
            line, end = node.lineno, node.end_lineno or node.lineno
            lines = self.lines[line - 1:end]
            if not lines:
                return ast.unparse(node)
            first, last = lines[0].encode(), lines[-1].encode()
            if len(lines) == 1:
                return first[node.col_offset:node.end_col_offset].decode("utf-8", errors="replace")
            middle = [ln for ln in lines[1:-1]]
            return "\n".join([first[node.col_offset:].decode("utf-8", errors="replace"), *middle,
                              last[:node.end_col_offset].decode("utf-8", errors="replace")])
        except Exception:  # noqa: BLE001 - text is only for messages
            return "<expr>"


@dataclass
class Source:
    """A file of the run that is not parsed yet: what ``load`` needs to make it a ``ModuleInfo``."""

    key: str
    name: str
    path: str
    text: str
    is_package: bool = False
    report: bool = True
    root: str = ""
    file: str = ""


class ParseFailed(Exception):
    """Why a source could not be parsed: the message and position of the problem. A ``Program.parser`` may raise
    any exception with ``message``, ``line`` and ``col`` attributes (the engine's ``ParseFailure``)."""

    def __init__(self, message: str, line: int = 1, col: int = 1, kind: str = "syntax-error"):
        super().__init__(message)
        self.message, self.line, self.col, self.kind = message, line, col, kind


class Program:
    """Every module, class and function of a run, by id; the module index that tells which file an import names.

    ``sources`` holds every file handed in, in the order handed in (the order every loop over modules keeps, so
    that nothing depends on the order in which files happened to be parsed); ``modules`` only those parsed so far.
    """

    def __init__(self, parser: Callable[[str], ast.Module] | None = None) -> None:
        self.sources: dict[str, Source] = {}  # every module of the run, by key, parsed or not
        self.modules: dict[str, ModuleInfo] = {}  # the parsed ones, by key (root::name)
        self.by_name: dict[str, list[ModuleInfo]] = {}
        self.by_file: dict[str, ModuleInfo] = {}
        self.index: ModuleIndex | None = None  # the run's module index: which file an import names
        self.functions: dict[str, FunctionInfo] = {}
        self.classes: dict[str, ClassInfo] = {}
        self.parser = parser or ast.parse  # raises SyntaxError, or an exception with message, line and col
        self.failed: dict[str, ParseFailed] = {}  # key -> why it could not be parsed
        #: asked before a source is parsed: why its file cannot be read as code (a notebook whose schema is
        #: checked only now, see ``packlint.source.read_notebook``) as a problem with ``kind``, ``message``,
        #: ``line`` and ``col``, or None
        self.check: Callable[[str], object | None] | None = None
        self._found: dict[tuple[str, str], ModuleInfo | None] = {}
        self._source_by_name: dict[str, list[str]] = {}
        self._source_by_file: dict[str, str] = {}
        self._stars: dict[str, bool] = {}
        self._text_words: dict[str, frozenset[str]] = {}
        self._named: dict[tuple[str, str], str | None] = {}
        self.reported_paths: set[str] = set()  # the files whose findings are shown (the linted paths)
        #: file -> the files it imports, when the caller already read the import graph (the engine's): else each
        #: source's import statements are scanned from its text when asked (``imports_of``)
        self.import_edges: dict[str, set[str]] | None = None
        self._imports: dict[str, frozenset[str]] = {}

    def add_source(self, name: str, path: str, text: str, *, is_package: bool = False, report: bool = True,
                   root: str = "", file: str = "") -> str:
        """Register a file of the run without parsing it; returns its key."""
        key = f"{root}::{name}"
        if key in self.sources:  # the same module twice (a .py and a notebook of one name): keep both apart
            key = f"{key}@{path}"
        self.sources[key] = Source(key, name, path, text, is_package, report, root, file)
        if report:
            self.reported_paths.add(path)
        self._source_by_name.setdefault(name, []).append(key)
        if file:
            self._source_by_file.setdefault(file, key)
        return key

    def load(self, key: str) -> ModuleInfo | None:
        """The module of a source, parsed and indexed the first time it is asked for; None when it cannot be
        parsed (``failed`` says why), as if the file were not in the tree."""
        found = self.modules.get(key)
        if found is not None or key in self.failed:
            return found
        src = self.sources[key]
        if self.check is not None:
            why = self.check(key)
            if why is not None:
                self.failed[key] = ParseFailed(why.message, why.line, why.col, kind=why.kind)
                return None
        try:
            tree = self.parser(src.text)
        except SyntaxError as exc:
            self.failed[key] = ParseFailed(exc.msg, exc.lineno or 1, exc.offset or 1)
            return None
        except (RecursionError, MemoryError):
            self.failed[key] = ParseFailed("expression nested too deeply to parse")
            return None
        except Exception as exc:  # noqa: BLE001 - the parser's own failure (message, line, col): a problem
            self.failed[key] = ParseFailed(getattr(exc, "message", str(exc)), getattr(exc, "line", 1),
                                           getattr(exc, "col", 1))
            return None
        info = ModuleInfo(name=src.name, path=src.path, tree=tree, text=src.text, is_package=src.is_package,
                          report=src.report, root=src.root, file=src.file, key=key)
        try:
            self._index(info, tree.body, prefix="", class_id=None)
        except RecursionError:
            self.failed[key] = ParseFailed("expression nested too deeply to analyse")
            for fid in info.function_ids:
                self.functions.pop(fid, None)
            for cid in [c for c, i in self.classes.items() if i.module is info]:
                del self.classes[cid]
            return None
        self.modules[key] = info
        self.by_name.setdefault(src.name, []).append(info)
        if src.file:
            self.by_file.setdefault(src.file, info)
        return info

    def source_named(self, name: str, origin: Source) -> str | None:
        """The key of the source that module ``name`` is, as ``origin`` imports it, without parsing anything
        (the same search as ``module_named``)."""
        if self.index is not None and origin.file:
            memo = (name, origin.file)
            if memo not in self._named:  # asked once per importer and name (star re-exports ask often)
                found = self.index.find(name, origin.file)
                self._named[memo] = self._source_by_file.get(found) if found is not None else None
            return self._named[memo]
        candidates = self._source_by_name.get(name, ())
        for key in candidates:
            if self.sources[key].root == origin.root:
                return key
        return candidates[0] if candidates else None

    def imports_of(self, key: str) -> frozenset[str]:
        """Keys of the sources of the run that source ``key`` imports (any import statement, nested ones too),
        read without parsing it: from the import graph handed in, else from a scan of its text."""
        found = self._imports.get(key)
        if found is None:
            src = self.sources[key]
            out: set[str] = set()
            edges = self.import_edges.get(src.file) if self.import_edges is not None and src.file else None
            if edges is not None:
                out.update(k for f in edges if (k := self._source_by_file.get(f)) is not None)
            else:
                for stmt in scan_imports(src.text):
                    for name in imported_names(stmt, src.name, src.is_package):
                        parts = name.split(".")
                        for cut in range(len(parts), 0, -1):
                            hit = self.source_named(".".join(parts[:cut]), src)
                            if hit is not None:
                                out.add(hit)
                                break
            out.discard(key)
            found = self._imports[key] = frozenset(out)
        return found

    def may_bind(self, name: str, origin: ModuleInfo, word: str) -> bool:
        """Whether module ``name`` (as ``origin`` imports it) may bind the global ``word``, read from its text:
        False only when the text names it nowhere and star-imports nothing (then it binds nothing of that name,
        and there is no need to parse it to look). True when the module is not a source of the run."""
        key = self.source_named(name, self.sources[origin.key]) if origin.key in self.sources else None
        if key is None:
            return True
        return word in self.words_of(key) or self._star_imports(key)

    def _star_imports(self, key: str) -> bool:
        """Whether a source's text has a star import, read once."""
        found = self._stars.get(key)
        if found is None:
            found = self._stars[key] = _STAR_IMPORT.search(self.sources[key].text) is not None
        return found

    def words_of(self, key: str) -> frozenset[str]:
        """Every identifier-like word of one source's text (comments and strings included), read once, unparsed
        (the roots on demand ask which sources may use a name, the resolver which may bind one)."""
        found = self._text_words.get(key)
        if found is None:
            found = self._text_words[key] = frozenset(_WORD.findall(self.sources[key].text))
        return found

    def load_all(self) -> None:
        """Parse every source (``--select-all-files``, and callers that want every syntax error)."""
        for key in list(self.sources):
            self.load(key)

    def add_module(self, name: str, path: str, tree: ast.Module, text: str, *, is_package: bool = False,
                   report: bool = True, root: str = "", file: str = "") -> ModuleInfo:
        """Add a module parsed by the caller."""
        key = self.add_source(name, path, text, is_package=is_package, report=report, root=root, file=file)
        parser, self.parser = self.parser, (lambda _text: tree)
        try:
            info = self.load(key)
        finally:
            self.parser = parser
        if info is None:
            raise RecursionError(self.failed[key].message)
        return info

    def _index(self, module: ModuleInfo, body, prefix: str, class_id: str | None) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qual = f"{prefix}{stmt.name}"
                fid = f"{module.key}:{qual}"
                decorators = tuple(_decorator_name(d) for d in stmt.decorator_list)
                self.functions[fid] = FunctionInfo(fid, qual, module, stmt, class_id, decorators)
                module.node_ids[id(stmt)] = fid
                module.function_ids.append(fid)
                if class_id is not None and class_id in self.classes and prefix.endswith(
                        self.classes[class_id].name + "."):
                    self.classes[class_id].methods.setdefault(stmt.name, fid)
                self._index(module, stmt.body, f"{qual}.<locals>.", None)
            elif isinstance(stmt, ast.ClassDef):
                qual = f"{prefix}{stmt.name}"
                cid = f"{module.key}:{qual}"
                info = ClassInfo(cid, stmt.name, module, stmt)
                self.classes[cid] = info
                module.node_ids[id(stmt)] = cid
                for s in stmt.body:
                    if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name):
                        info.body_assigns[s.targets[0].id] = s.value
                self._index(module, stmt.body, f"{qual}.", cid)
            elif isinstance(stmt, (ast.If, ast.Try, ast.With)):
                self._index(module, stmt.body, prefix, class_id)

    def func_id_for(self, module: ModuleInfo, node: ast.AST) -> str | None:
        return module.node_ids.get(id(node))

    def class_id_for(self, module: ModuleInfo, node: ast.ClassDef) -> str | None:
        return module.node_ids.get(id(node))

    def module_named(self, name: str, origin: "ModuleInfo | None" = None) -> "ModuleInfo | None":
        """The module called ``name`` as ``origin`` imports it: with the run's module index, the file Python would
        load (the same resolver that selected the files), whatever name that file was loaded under (a repository
        root that is a package, a ``src`` root, a namespace package). Sources handed in without files are found by
        name: one in the same import root first (Python puts a script's folder first on sys.path), else the first
        one added."""
        if self.index is not None and origin is not None and origin.file:
            key = (name, origin.file)
            if key not in self._found:  # the index answers from the file list; asked once per importer and name
                found = self.index.find(name, origin.file)
                source = self._source_by_file.get(found) if found is not None else None
                self._found[key] = self.load(source) if source is not None else None
            return self._found[key]
        candidates = [m for m in map(self.load, self._source_by_name.get(name, ())) if m is not None]
        if not candidates:
            return None
        if origin is not None:
            for m in candidates:
                if m.root == origin.root:
                    return m
        return candidates[0]


_GLOBAL_STMT = re.compile(r"\bglobal\b")
# No leading \b: a pattern that starts with a literal is searched fast, and a wider match is only cautious.
_STAR_IMPORT = re.compile(r"import\s*\*")
_WORD = re.compile(r"[A-Za-z_]\w*")


def _top_bindings(tree: ast.Module, text: str) -> dict[str, ast.stmt | bool]:
    """Name -> its one simple binding statement, or True (see ``ModuleInfo.top_binding``)."""
    out: dict[str, ast.stmt | bool] = {}

    def bind(name: str, stmt: ast.stmt | bool) -> None:
        out[name] = True if name in out else stmt

    def visit(body, straight: bool) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bind(stmt.name, stmt if straight else True)
                for node in [*stmt.decorator_list, *getattr(stmt, "bases", ()),
                             *(k.value for k in getattr(stmt, "keywords", ()))]:
                    _stores(node, bind)
                continue
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for alias in stmt.names:
                    if alias.name != "*":
                        bind(alias.asname or (alias.name if isinstance(stmt, ast.ImportFrom)
                                              else alias.name.split(".")[0]), stmt if straight else True)
                continue
            nested = [getattr(stmt, f, None) for f in ("body", "orelse", "finalbody")]
            nested += [h.body for h in getattr(stmt, "handlers", ())]
            nested += [c.body for c in getattr(stmt, "cases", ())]
            nested = [b for b in nested if isinstance(b, list) and b and isinstance(b[0], ast.stmt)]
            if nested:
                for child in ast.iter_child_nodes(stmt):
                    if not isinstance(child, ast.stmt):
                        _stores(child, bind)
                for h in getattr(stmt, "handlers", ()):
                    if h.name:
                        bind(h.name, True)
                for b in nested:
                    visit(b, False)
            else:
                _stores(stmt, bind)

    visit(tree.body, True)
    if _GLOBAL_STMT.search(text):  # a function's ``global x`` may rebind x: only running the body tells
        for node in ast.walk(tree):
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                for name in node.names:
                    out[name] = True
    return out


def _stores(node: ast.AST, bind) -> None:
    """Every name a module-level statement (or part of one) stores or deletes: each needs the body to run."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and not isinstance(sub.ctx, ast.Load):
            bind(sub.id, True)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            for alias in sub.names:
                bind(alias.asname or alias.name.split(".")[0], True)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bind(sub.name, True)


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""
