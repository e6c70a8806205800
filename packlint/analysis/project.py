"""The linted tree as one program: modules, classes, functions, and the memoised analyses that connect them.

Each function is analysed once as a root (parameters unknown, ``self`` an instance of its class) and again at each
call site whose argument values differ (memoised on those values, depth-bounded, recursion cut). Events a callee
produces only because of its arguments are reported at the caller's line; events it produces on its own are
reported where they happen. This keeps summaries independent of where a callee lives: a module of another file is
just another ``ModuleInfo``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from packlint.analysis.api import Tables, build_tables
from packlint.analysis.events import Event
from packlint.analysis.interp import MAX_DEPTH, Frame, Interpreter
from packlint.analysis.names import import_bindings
from packlint.analysis.values import (
    CLEAN,
    ClassRef,
    Const,
    Ext,
    FuncRef,
    Instance,
    Unknown,
    Value,
    join,
)

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


@dataclass
class ClassInfo:
    class_id: str
    name: str
    module: "ModuleInfo"
    node: ast.ClassDef
    methods: dict[str, str] = field(default_factory=dict)
    body_assigns: dict[str, ast.expr] = field(default_factory=dict)
    attrs: dict[str, Value] = field(default_factory=dict)
    attrs_done: bool = False


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
    _lines: list[str] | None = None

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


class Project:
    """All modules of a run, and the analyses over them."""

    def __init__(self, tables: Tables | None = None):
        self.tables = tables or build_tables()
        self.modules: dict[str, ModuleInfo] = {}  # by key (root::name)
        self.by_name: dict[str, list[ModuleInfo]] = {}
        self.functions: dict[str, FunctionInfo] = {}
        self.classes: dict[str, ClassInfo] = {}
        self._memo: dict[tuple, tuple[Value, list[Event]]] = {}
        self._roots: dict[str, tuple[Value, list[Event]]] = {}
        self._active: list[str] = []
        self._mro: dict[str, list[str]] = {}
        self.deadline: float | None = None  # monotonic time after which the analysis in progress is given up
        self.closures: dict[str, dict] = {}  # nested function id -> the environment it was defined in
        self.unresolved_by_path: dict[str, int] = {}

    # ------------------------------------------------------------------ building
    def add_module(self, name: str, path: str, tree: ast.Module, text: str, *, is_package: bool = False,
                   report: bool = True, root: str = "") -> ModuleInfo:
        info = ModuleInfo(name=name, path=path, tree=tree, text=text, is_package=is_package, report=report,
                          root=root)
        key = info.key
        if key in self.modules:  # the same module twice (a .py and a notebook of one name): keep both apart
            key = f"{key}@{path}"
            info.key = key
        self.modules[key] = info
        self.by_name.setdefault(name, []).append(info)
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

    def bindings_for(self, module: ModuleInfo, stmt: ast.Import | ast.ImportFrom) -> dict[str, str]:
        return import_bindings(stmt, module.name, module.is_package)

    # ------------------------------------------------------------------ names
    def module_named(self, name: str, origin: "ModuleInfo | None" = None) -> "ModuleInfo | None":
        """The module called ``name`` as seen from ``origin``: one in the same import root first (Python puts a
        script's folder first on sys.path), else the first one added."""
        candidates = self.by_name.get(name)
        if not candidates:
            return None
        if origin is not None:
            for m in candidates:
                if m.root == origin.root:
                    return m
        return candidates[0]

    def resolve(self, qualname: str, origin: "ModuleInfo | None" = None) -> Value:
        """A qualified name as a value: a class or function of the tree, a module global, or an external name."""
        parts = qualname.split(".")
        for cut in range(len(parts), 0, -1):
            mod_name = ".".join(parts[:cut])
            module = self.module_named(mod_name, origin)
            if module is None:
                continue
            rest = parts[cut:]
            if not rest:
                # `from pkg import Name` where pkg/Name.py exists and pkg/__init__.py re-exports a class of that
                # name: the package attribute (the class) wins, as in Python
                parent = self.module_named(".".join(parts[:-1]), origin) if len(parts) > 1 else None
                if parent is not None and parent.is_package and parent is not module:
                    exported = self.module_global(parent, parts[-1])
                    if isinstance(exported, (ClassRef, FuncRef)):
                        return exported
                return Ext(qualname)
            value = self.module_global(module, rest[0])
            if value is None:
                return Ext(qualname) if cut < len(parts) - 1 else CLEAN
            for attr in rest[1:]:
                if isinstance(value, ClassRef):
                    fid = self.lookup_method(value.class_id, attr)
                    value = FuncRef(fid) if fid else CLEAN
                else:
                    return CLEAN
            return value
        return Ext(qualname)

    def module_global(self, module: ModuleInfo, name: str) -> Value | None:
        self.ensure_globals(module)
        return module.globals.get(name)

    def ensure_globals(self, module: ModuleInfo) -> None:
        if module.globals_state != "new":
            return
        module.globals_state = "running"
        self._predefine(module)
        self.analyze_module(module)

    def _predefine(self, module: ModuleInfo) -> None:
        for stmt in module.tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                fid = module.node_ids.get(id(stmt))
                if fid:
                    module.globals[stmt.name] = FuncRef(fid)
            elif isinstance(stmt, ast.ClassDef):
                cid = module.node_ids.get(id(stmt))
                if cid:
                    module.globals[stmt.name] = ClassRef(cid)
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for local, qual in self.bindings_for(module, stmt).items():
                    module.globals[local] = Ext(qual)

    def analyze_module(self, module: ModuleInfo) -> None:
        """Run the module body as a root: its final environment is the module's globals."""
        frame = Frame(module=module, func=None, env=module.globals)
        interp = Interpreter(self, frame)
        try:
            interp.run_block(module.tree.body)
        finally:
            module.globals = frame.env
            module.globals_state = "done"
        module.events.extend(_settle(frame))

    # ------------------------------------------------------------------ classes
    def mro(self, class_id: str) -> list[str]:
        cached = self._mro.get(class_id)
        if cached is not None:
            return cached
        self._mro[class_id] = [class_id]  # cycle guard
        out = self._compute_mro(class_id)
        self._mro[class_id] = out
        return out

    def _compute_mro(self, class_id: str) -> list[str]:
        out: list[str] = []
        stack = [class_id]
        while stack:
            cid = stack.pop(0)
            if cid in out or cid not in self.classes:
                continue
            out.append(cid)
            info = self.classes[cid]
            for base in info.node.bases:
                value = self._eval_in_module(info.module, base)
                if isinstance(value, ClassRef):
                    stack.append(value.class_id)
        return out

    def _eval_in_module(self, module: ModuleInfo, node: ast.expr) -> Value:
        self.ensure_globals(module)
        frame = Frame(module=module, func=None, env={})
        return Interpreter(self, frame).eval(node)

    def lookup_method(self, class_id: str, name: str, skip_self: bool = False) -> str | None:
        chain = self.mro(class_id)
        if skip_self:
            chain = chain[1:]
        for cid in chain:
            fid = self.classes[cid].methods.get(name)
            if fid:
                return fid
        return None

    def class_attr(self, class_id: str, attr: str) -> Value:
        for cid in self.mro(class_id):
            info = self.classes[cid]
            if attr in info.body_assigns:
                return self._eval_in_module(info.module, info.body_assigns[attr])
        return CLEAN

    def instance_attr(self, inst: Instance, attr: str) -> Value:
        fid = self.lookup_method(inst.class_id, attr)
        if fid:
            from packlint.analysis.values import BoundMethod
            return BoundMethod(fid, inst)
        for cid in self.mro(inst.class_id):
            info = self.classes[cid]
            self._ensure_attrs(info)
            if attr in info.attrs:
                return info.attrs[attr]
        value = self.class_attr(inst.class_id, attr)
        if value is CLEAN:
            return Unknown(f"{inst.class_id}.{attr}")
        return value

    def _ensure_attrs(self, info: ClassInfo) -> None:
        if info.attrs_done:
            return
        info.attrs_done = True
        init = info.methods.get("__init__")
        if init:
            self.root_analysis(init)

    def _record_constructor_attrs(self, info: FunctionInfo, frame: Frame) -> None:
        """After a constructor ran, its final ``self.x`` values (joined over its branches) are the attributes."""
        if info.class_id is None or info.node.name not in ("__init__", "setup", "build", "_build"):
            return
        self_name = info.self_name
        if self_name is None:
            return
        prefix = f"{self_name}."
        for key, value in list(frame.env.items()):
            if key.startswith(prefix) and "." not in key[len(prefix):]:
                self.record_attr(info.class_id, key[len(prefix):], value, info)

    def record_attr(self, class_id: str, attr: str, value: Value, func: FunctionInfo) -> None:
        info = self.classes.get(class_id)
        if info is None:
            return
        if func.class_id is not None and func.node.name in ("__init__", "setup", "build", "_build"):
            owner = self.classes.get(func.class_id, info)
            old = owner.attrs.get(attr)
            if attr not in owner.attrs or (isinstance(old, Unknown) and not isinstance(value, Unknown)):
                owner.attrs[attr] = value  # what a constructor call passed beats the unknown of the root analysis
            elif not isinstance(value, Unknown):
                owner.attrs[attr] = join(old, value)

    # ------------------------------------------------------------------ analyses
    def root_analysis(self, func_id: str) -> tuple[Value, list[Event]]:
        if func_id in self._roots:
            return self._roots[func_id]
        self._roots[func_id] = (CLEAN, [])  # recursion guard
        info = self.functions[func_id]
        args = self._root_args(info)
        result = self._run(info, args, (), depth=0)
        self._roots[func_id] = result
        return result

    def note_unresolved(self, path: str) -> None:
        """Count a call packlint could not resolve (``--statistics``), per file so cached runs count the same."""
        self.unresolved_by_path[path] = self.unresolved_by_path.get(path, 0) + 1

    @property
    def unresolved(self) -> int:
        return sum(self.unresolved_by_path.values())

    def computed_roots(self):
        """(function id, (return, events)) for every root analysis made so far."""
        return list(self._roots.items())

    def root_event_keys(self, func_id: str) -> set[tuple]:
        return {ev.key for ev in self.root_analysis(func_id)[1]}

    def _root_args(self, info: FunctionInfo) -> tuple[Value, ...]:
        params = info.node.args.posonlyargs + info.node.args.args
        defaults = [None] * (len(params) - len(info.node.args.defaults)) + list(info.node.args.defaults)
        out: list[Value] = []
        for i, p in enumerate(params):
            if i == 0 and info.self_name is not None:
                if "classmethod" in info.decorators:
                    out.append(ClassRef(info.class_id))  # type: ignore[arg-type]
                else:
                    out.append(Instance(info.class_id))  # type: ignore[arg-type]
            else:
                out.append(self._annotated(info, p) or _literal_default(info, defaults[i]) or
                           Unknown(f"{info.qualname}:{p.arg}"))
        return tuple(out)

    def _annotated(self, info: FunctionInfo, param: ast.arg) -> Value | None:
        """A parameter annotated with a class of the tree (``model: Tagger``) is an instance of it."""
        if param.annotation is None:
            return None
        value = self._eval_in_module(info.module, param.annotation)
        return Instance(value.class_id) if isinstance(value, ClassRef) else None

    def analyze_call(self, func_id: str, args: tuple[Value, ...], kwargs: tuple[tuple[str, Value], ...],
                     depth: int) -> tuple[Value, list[Event]]:
        info = self.functions.get(func_id)
        if info is None or depth > MAX_DEPTH or func_id in self._active:
            return CLEAN, []
        key = (func_id, args, kwargs)
        try:
            hash(key)
        except TypeError:
            return CLEAN, []
        if key not in self._memo:
            self._memo[key] = (CLEAN, [])
            self._memo[key] = self._run(info, args, kwargs, depth)
        return self._memo[key]

    def _run(self, info: FunctionInfo, args: tuple[Value, ...], kwargs: tuple[tuple[str, Value], ...],
             depth: int) -> tuple[Value, list[Event]]:
        self.ensure_globals(info.module)
        frame = Frame(module=info.module, func=info, env={}, depth=depth, closure=self.closures.get(info.func_id))
        interp = Interpreter(self, frame)
        self._bind_params(interp, info, list(args), dict(kwargs))
        self._active.append(info.func_id)
        try:
            interp.run_block(info.node.body)
        finally:
            self._active.pop()
        self._record_constructor_attrs(info, frame)
        ret = frame.ret if frame.ret is not None else Const(None)
        return ret, _settle(frame)

    def _bind_params(self, interp: Interpreter, info: FunctionInfo, args: list[Value], kwargs: dict) -> None:
        params = info.node.args
        positional = list(params.posonlyargs) + list(params.args)
        defaults: list[ast.expr | None] = [None] * (len(positional) - len(params.defaults)) + list(params.defaults)
        env = interp.frame.env
        for i, (p, default) in enumerate(zip(positional, defaults)):
            name = p.arg
            if i < len(args):
                env[name] = args[i]
            elif name in kwargs:
                env[name] = kwargs[name]
            elif default is not None:
                env[name] = interp.eval(default)
            else:
                env[name] = Unknown(f"{info.qualname}:{name}")
        for p, default in zip(params.kwonlyargs, params.kw_defaults):
            name = p.arg
            if name in kwargs:
                env[name] = kwargs[name]
            elif default is not None:
                env[name] = interp.eval(default)
            else:
                env[name] = Unknown(f"{info.qualname}:{name}")
        if params.vararg is not None:
            env[params.vararg.arg] = CLEAN
        if params.kwarg is not None:
            env[params.kwarg.arg] = CLEAN

    # ------------------------------------------------------------------ results
    def all_events(self) -> list[Event]:
        """Every event of every reported module: module bodies, then every function as a root."""
        out: list[Event] = []
        for module in list(self.modules.values()):
            self.ensure_globals(module)
        for module in self.modules.values():
            if module.report:
                out.extend(module.events)
        for fid, info in list(self.functions.items()):
            if info.module.report:
                out.extend(self.root_analysis(fid)[1])
        seen: set[tuple] = set()
        unique: list[Event] = []
        for ev in out:
            k = (ev.kind, ev.path, ev.line, ev.col, ev.status)
            if k in seen:
                continue
            seen.add(k)
            unique.append(ev)
        return unique


def _literal_default(info: FunctionInfo, default: ast.expr | None) -> Value | None:
    """A parameter's literal default (``loss_name="mse_loss"``, ``dim=1``) for a function analysed alone; None for
    no default, a ``None`` default (an optional argument stays "maybe given"), a non-literal one, or a constructor
    (its attributes come from its construction sites)."""
    if info.node.name in ("__init__", "setup", "build", "_build") or default is None:
        return None
    negative = isinstance(default, ast.UnaryOp) and isinstance(default.op, ast.USub)
    node = default.operand if isinstance(default, ast.UnaryOp) and negative else default
    if not isinstance(node, ast.Constant) or not isinstance(node.value, (bool, int, float, str)):
        return None
    if negative:
        return Const(-node.value) if isinstance(node.value, (int, float)) and not isinstance(node.value, bool) else None
    return Const(node.value)


def _settle(frame: Frame) -> list[Event]:
    """Drop events that later code made right: a softmax whose weights were multiplied by a mask and renormalised,
    a masked mean rescaled by ``mask.mean()`` or ``numel / count``."""
    if not frame.resolved:
        return list(frame.events)
    out = []
    for ev in frame.events:
        if ev.kind in ("softmax", "reduce", "last-step") and any((s.path, s.line, s.col) == (ev.path, ev.line, ev.col)
                                                   for s in frame.resolved):
            continue
        out.append(ev)
    return out


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""
