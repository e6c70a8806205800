"""The program being linted, as an index: its modules, classes and functions, and which file an import names.

Built once from the parsed files (``add_module``) before any analysis; the analysis (``project.py``) reads it and
keeps its own state (globals, attributes, summaries) beside it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cached_property

from packlint.analysis.events import Event
from packlint.analysis.values import Top, Unknown, Value, join
from packlint.resolver import ModuleIndex

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
            for node in ast.walk(item):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                    node, (ast.AugAssign, ast.AnnAssign)) else []
                for target in targets:
                    for part in ast.walk(target):
                        if isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name) and \
                                part.value.id == me:
                            out.add(part.attr)
        return frozenset(out)

    def merged_attrs(self) -> dict[str, Value]:
        """Every construction's view of each attribute, joined; a root analysis's unknown (a parameter with no
        default) says nothing when some construction site passed a value."""
        out = dict(self.root_attrs)
        for attr, site in self.site_attrs.items():
            root = out.get(attr)
            if root is None or (isinstance(root, Unknown) and not isinstance(root, Top)):
                out[attr] = site
            else:
                out[attr] = join(root, site)
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


class Program:
    """Every module, class and function of a run, by id; the module index that tells which file an import names."""

    def __init__(self) -> None:
        self.modules: dict[str, ModuleInfo] = {}  # by key (root::name)
        self.by_name: dict[str, list[ModuleInfo]] = {}
        self.by_file: dict[str, ModuleInfo] = {}
        self.index: ModuleIndex | None = None  # the run's module index: which file an import names
        self.functions: dict[str, FunctionInfo] = {}
        self.classes: dict[str, ClassInfo] = {}
        self._found: dict[tuple[str, str], ModuleInfo | None] = {}
        self.reported_paths: set[str] = set()  # the files whose findings are shown (the linted paths)

    def add_module(self, name: str, path: str, tree: ast.Module, text: str, *, is_package: bool = False,
                   report: bool = True, root: str = "", file: str = "") -> ModuleInfo:
        info = ModuleInfo(name=name, path=path, tree=tree, text=text, is_package=is_package, report=report,
                          root=root, file=file)
        key = info.key
        if key in self.modules:  # the same module twice (a .py and a notebook of one name): keep both apart
            key = f"{key}@{path}"
            info.key = key
        self.modules[key] = info
        if report:
            self.reported_paths.add(path)
        self.by_name.setdefault(name, []).append(info)
        if file:
            self.by_file.setdefault(file, info)
        self._index(info, tree.body, prefix="", class_id=None)
        return info

    def _index(self, module: ModuleInfo, body, prefix: str, class_id: str | None) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qual = f"{prefix}{stmt.name}"
                fid = f"{module.key}:{qual}"
                decorators = tuple(_decorator_name(d) for d in stmt.decorator_list)
                self.functions[fid] = FunctionInfo(fid, qual, module, stmt, class_id, decorators)
                module.node_ids[id(stmt)] = fid
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
                self._found[key] = self.by_file.get(found) if found is not None else None
            return self._found[key]
        candidates = self.by_name.get(name)
        if not candidates:
            return None
        if origin is not None:
            for m in candidates:
                if m.root == origin.root:
                    return m
        return candidates[0]


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""
