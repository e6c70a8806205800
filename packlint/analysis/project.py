"""The linted tree as one program: modules, classes, functions, and the memoised analyses that connect them.

Each function is analysed once as a root (parameters unknown, ``self`` an instance of its class) and again at each
call site whose argument values differ (memoised on those values, depth-bounded, recursion cut). Events a callee
produces only because of its arguments are reported at the caller's line; events it produces on its own are
reported where they happen. This keeps summaries independent of where a callee lives: a module of another file is
just another ``ModuleInfo``.
"""

from __future__ import annotations

import ast
from dataclasses import replace

from packlint.analysis.api import Tables, build_tables
from packlint.analysis.events import Event
from packlint.analysis.interp import MAX_DEPTH, Frame, Interpreter
from packlint.analysis.names import import_bindings
from packlint.analysis.placement import place
from packlint.analysis.program import CONSTRUCTORS, ClassInfo, FunctionInfo, ModuleInfo, Program
from packlint.analysis.summaries import Summaries, Summary
from packlint.analysis.values import (
    CLEAN,
    TOP,
    BoundMethod,
    ClassRef,
    Const,
    Ext,
    ExtObj,
    FuncRef,
    Instance,
    LossFn,
    Unknown,
    Value,
    facts,
    join,
    parameter_key,
)
from packlint.analysis.walk import walk_nodes
from packlint.resolver import ModuleIndex, imported_names, stmt_from_ast

#: Whole-program rounds before the class-attribute fixpoint is given up (see ``Project.rounds``).
MAX_ROUNDS = 4


class Project:
    """All modules of a run, and the analyses over them."""

    def __init__(self, tables: Tables | None = None):
        self.tables = tables or build_tables()
        self.program = Program()  # the index: modules, classes, functions, and which file an import names
        self.summaries = Summaries()
        self._roots_running: set[str] = set()
        self._active: list[str] = []  # functions on the current stack (a call of one of them is a cycle)
        self._constructing: list[Frame] = []  # the frames of the constructors running, innermost last
        self._attr_reads: dict[tuple[str, str], set[object]] = {}  # what each attribute read returned (facts)
        self.round = 0
        self.rounds_bound_hit = False
        self.constructed: tuple | None = None  # the last constructor call's own attributes (see Instance.own)
        self._full_reset_next = False
        self._globals_before: dict[str, dict] = {}
        self._mro: dict[str, list[str]] = {}
        self.deadline: float | None = None  # monotonic time after which the analysis in progress is given up
        self.closures: dict[str, dict] = {}  # nested function id -> the environment it was defined in
        self._loaded: dict[str, frozenset[str]] = {}
        self._reading: set[tuple[str, str]] = set()  # (module key, name) answered from the tree right now
        self._external: dict[tuple[str, str | None], Value] = {}  # qualified names outside the tree, resolved

    # ------------------------------------------------------------------ the program's index
    @property
    def modules(self) -> dict[str, ModuleInfo]:
        return self.program.modules

    @property
    def by_name(self) -> dict[str, list[ModuleInfo]]:
        return self.program.by_name

    @property
    def by_file(self) -> dict[str, ModuleInfo]:
        return self.program.by_file

    @property
    def functions(self) -> dict[str, FunctionInfo]:
        return self.program.functions

    @property
    def reported_paths(self) -> set[str]:
        return self.program.reported_paths

    def loaded_names(self, func: FunctionInfo) -> frozenset[str]:
        """Names a function reads anywhere in its body (its nested functions included), and names it declares
        global or nonlocal: an assignment to any other name is never read."""
        found = self._loaded.get(func.func_id)
        if found is None:
            names = set()
            for node in walk_nodes(func.node):
                kind = type(node)
                if kind is ast.Name and type(node.ctx) is not ast.Store:
                    names.add(node.id)
                elif kind is ast.Global or kind is ast.Nonlocal:
                    names.update(node.names)
            found = self._loaded[func.func_id] = frozenset(names)
        return found

    @property
    def classes(self) -> dict[str, ClassInfo]:
        return self.program.classes

    @property
    def index(self) -> ModuleIndex | None:
        return self.program.index

    @index.setter
    def index(self, value: ModuleIndex | None) -> None:
        self.program.index = value

    def add_module(self, *args, **kwargs) -> ModuleInfo:
        return self.program.add_module(*args, **kwargs)

    def func_id_for(self, module: ModuleInfo, node: ast.AST) -> str | None:
        return self.program.func_id_for(module, node)

    def class_id_for(self, module: ModuleInfo, node: ast.ClassDef) -> str | None:
        return self.program.class_id_for(module, node)

    def module_named(self, name: str, origin: "ModuleInfo | None" = None) -> "ModuleInfo | None":
        return self.program.module_named(name, origin)

    def bindings_for(self, module: ModuleInfo, stmt: ast.Import | ast.ImportFrom) -> dict[str, str]:
        return import_bindings(stmt, module.name, module.is_package)

    def resolve(self, qualname: str, origin: "ModuleInfo | None" = None) -> Value:
        """A qualified name as a value: a class or function of the tree, a module global, or an external name."""
        memo = (qualname, origin.key if origin is not None else None)
        external = self._external.get(memo)
        if external is not None:
            return external
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
                value = self._star_export(module, rest[0], frozenset())
            if value is None:
                return Ext(qualname) if cut < len(parts) - 1 else CLEAN
            for attr in rest[1:]:
                if isinstance(value, ClassRef):
                    fid = self.lookup_method(value.class_id, attr)
                    value = FuncRef(fid) if fid else CLEAN
                else:
                    return CLEAN
            return value
        # no prefix names a module of the tree (``torch.nn.functional.relu``): the answer never changes, and names
        # like ``F`` and ``torch`` are read at every use
        external = self._external[memo] = Ext(qualname)
        return external

    def _star_export(self, module: ModuleInfo, name: str, seen: frozenset[str]) -> Value | None:
        """``name`` as a star import brings it into ``module`` (a package re-exporting ``from .model import *``),
        by Python's rule: a name in the source module's literal ``__all__``, else any name without a leading
        underscore. None when no star import of the tree brings it."""
        if module.key in seen:
            return None
        seen = seen | {module.key}
        for stmt in _module_level(module.tree.body):
            if not (isinstance(stmt, ast.ImportFrom) and stmt.names[0].name == "*"):
                continue
            target_name = imported_names(stmt_from_ast(stmt), module.name, module.is_package)[0]
            if not self.program.may_bind(target_name, module, name):
                continue  # not parsed to look: it cannot bind the name (a hub's other modules)
            target = self.module_named(target_name, module)
            if target is None or not _exported(target, name):
                continue
            value = self.module_global(target, name)
            if value is None:
                value = self._star_export(target, name, seen)
            if value is not None:
                return value
        return None

    def module_global(self, module: ModuleInfo, name: str) -> Value | None:
        """A module's global as another module reads it (an import, an attribute of a module).

        A body that has not run yet is not run for a name the tree alone answers (``ModuleInfo.top_binding``): a
        ``def`` or ``class`` straight in the body is the reference its statement binds, an import is what that
        import resolves to, a name nothing binds is absent. Running the body would give the same value, but it
        resolves every import of the module, and each import runs its module's body in turn: the whole import
        closure parsed and run to read one class (issue 16). Anything else runs the body, as before."""
        if module.globals_state == "new" and (module.key, name) not in self._reading:
            how = module.top_binding(name)
            if how is False:
                return None
            if isinstance(how, (ast.FunctionDef, ast.AsyncFunctionDef)):
                fid = module.node_ids.get(id(how))
                return FuncRef(fid) if fid else CLEAN
            if isinstance(how, ast.ClassDef):
                cid = module.node_ids.get(id(how))
                return ClassRef(cid) if cid else CLEAN
            if isinstance(how, (ast.Import, ast.ImportFrom)):
                qual = self.bindings_for(module, how).get(name)
                if qual is not None:
                    self._reading.add((module.key, name))
                    try:
                        return self.resolve(qual, module)
                    finally:
                        self._reading.discard((module.key, name))
        self.ensure_globals(module)
        value = self.global_value(module, name)
        if isinstance(value, Ext) and (module.key, name) not in self._reading:
            # an import the body bound by name (``from .model import Tagger`` in a package): what it names
            self._reading.add((module.key, name))
            try:
                return self.resolve(value.qualname, module)
            finally:
                self._reading.discard((module.key, name))
        return value

    def global_value(self, module: ModuleInfo, name: str) -> Value | None:
        """A module's global as of now. Read while the module's body runs, it is remembered with the summaries
        that read it: they are reused only while that global still holds the same facts."""
        value = module.current_globals.get(name)
        if module.body_frame is not None:
            self.summaries.read_live_global(module.key, name, facts(value))
        return value

    def _still_holds(self, summary: Summary) -> bool:
        for (module_key, name), value_facts in summary.live:
            module = self.modules.get(module_key)
            if module is None or facts(module.current_globals.get(name)) != value_facts:
                return False
        return True

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
        """Run the module body as a root, on a stack of its own: its final environment is the module's globals."""
        frame = Frame(module=module, func=None, env=module.globals)
        interp = Interpreter(self, frame)
        outer_active, outer_stack = self._active, self.summaries.swap_stack([])
        self._active = []
        record = self.summaries.begin()
        module.body_frame = frame
        try:
            interp.run_block(module.tree.body)
        finally:
            module.body_frame = None
            module.globals = frame.env
            module.globals_state = "done"
            self._active = outer_active
            self.summaries.swap_stack(outer_stack)
        # what the body read decides whether a later round must run it again (see ``_begin_round``)
        self.summaries.modules[module.key] = Summary.of((), record)
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
            return BoundMethod(fid, inst)
        own = inst.own_attr(attr)
        if own is not None:
            return own  # exactly what this instance's construction stored
        for cid in self.mro(inst.class_id):
            value = self._constructed_attr(self.classes[cid], attr)
            if value is not None:
                return value
        value = self.class_attr(inst.class_id, attr)
        if value is CLEAN:
            return Unknown(f"{inst.class_id}.{attr}")
        return value

    def _constructed_attr(self, info: ClassInfo, attr: str) -> Value | None:
        """An attribute as the constructors set it. The first round reads what has been recorded so far; later
        rounds read the previous round's complete table. Every read is remembered, so ``rounds`` can tell whether
        the round saw the final table (and its results stand) or another round is needed."""
        self._ensure_attrs(info)
        table = info.attrs_before if info.attrs_before is not None else info.merged_attrs()
        value = table.get(attr)
        if value is None and info.attrs_before is None:
            value = self._under_construction(info, attr)
        self._attr_reads.setdefault((info.class_id, attr), set()).add(facts(value))
        self.summaries.read((info.class_id, attr))
        return value

    def _under_construction(self, info: ClassInfo, attr: str) -> Value | None:
        """The first round's best guess for an attribute no construction has stored yet, read while a constructor of
        its class runs (``__init__`` sets ``self.sep`` and calls a method that reads it): what that constructor
        holds now. Only a guess: the read is remembered like any other, and where the table ends with other facts
        the next round reads the table (``rounds``); where it is right, that round has nothing to redo for it."""
        for frame in reversed(self._constructing):
            func = frame.func
            if func is not None and func.class_id == info.class_id and func.self_name is not None:
                return frame.env.get(f"{func.self_name}.{attr}")
        return None

    def _ensure_attrs(self, info: ClassInfo) -> None:
        """The constructor's own analysis, once per round. Asked from inside it (``__init__`` calling a method that
        reads ``self.x``), the read takes the table as it is: the rounds check every such read."""
        if info.attrs_done:
            return
        info.attrs_done = True
        init = info.methods.get("__init__")
        if init and init not in self._roots_running:
            self.root_analysis(init)

    def _record_constructor_attrs(self, info: FunctionInfo, frame: Frame, root: bool) -> None:
        """After a constructor ran, its final ``self.x`` values (joined over its branches) are the attributes."""
        if info.class_id is None or info.node.name not in CONSTRUCTORS:
            return
        self_name = info.self_name
        if self_name is None:
            return
        owner = self.classes.get(info.class_id)
        if owner is None:
            return
        table = owner.root_attrs if root else owner.site_attrs
        owner.merged = None
        prefix = f"{self_name}."
        own = {}
        for key, value in frame.env.items():
            if key.startswith(prefix) and "." not in key[len(prefix):]:
                attr = key[len(prefix):]
                if attr in owner.reassigned and isinstance(value, Const):
                    value = TOP  # a counter or flag another method sets again: where it starts, not a constant
                table[attr] = join(table.get(attr), value)
                if isinstance(value, _DECIDING) and attr not in owner.reassigned:
                    own[attr] = value
        if self.summaries.stack:
            self.summaries.stack[-1].constructed = tuple(sorted(own.items()))

    # ------------------------------------------------------------------ rounds
    def rounds(self):
        """Run the whole analysis in rounds until one reads only final class attributes.

        Attributes come from every construction site in the tree, so a round's early reads may precede a later
        construction. A round whose every read matches the final table is a fixpoint: its results are what any
        order of analysis gives. Otherwise the next round reads a snapshot of the tables (which only grow: every
        constructor outcome is joined in, so they cannot oscillate), and recomputes exactly the summaries that
        read an attribute that changed; everything else is reused. ``MAX_ROUNDS`` bounds the rounds
        (``rounds_bound_hit``).
        """
        self._begin_round(1, None)
        for number in range(1, MAX_ROUNDS + 1):
            yield number
            changed = self._changed_reads()
            if not changed and not self._full_reset_next:
                return
            if number < MAX_ROUNDS:
                self._begin_round(number + 1, changed)
        self.rounds_bound_hit = True

    @property
    def bodies_to_rerun(self) -> set[str]:
        """Keys of the module bodies this round reset because they read a changed attribute: they run again
        this round whether or not anything asks for them, so the round can tell whether their globals changed
        (a body left unrun would look changed, and force a full round for nothing)."""
        return set(self._globals_before)

    def _changed_reads(self) -> set[tuple[str, str]]:
        changed = set()
        for (cid, attr), seen in self._attr_reads.items():
            final = facts(self.classes[cid].merged_attrs().get(attr))
            if any(v != final for v in seen):
                changed.add((cid, attr))
        if self._globals_before and any(_globals_facts(self.modules[key]) != before
                                        for key, before in self._globals_before.items()):
            self._full_reset_next = True  # a module body ran again and its globals differ: nothing can be kept
        return changed

    def _begin_round(self, number: int, changed: set[tuple[str, str]] | None) -> None:
        self.round = number
        full = changed is None or self._full_reset_next
        for info in self.classes.values():
            info.attrs_done = False
            if changed is None:
                info.root_attrs, info.site_attrs, info.attrs_before = {}, {}, None
                info.merged = None
            else:
                info.attrs_before = info.merged_attrs()
        self._full_reset_next = False
        self._globals_before = {}
        if full:
            for module in self.modules.values():
                module.globals, module.globals_state, module.events = {}, "new", []
            self.summaries.clear()
            self._attr_reads.clear()
            self.closures.clear()
        else:
            # Module bodies that read a changed attribute run again. Nothing records which function read which
            # global, so if one of them ends with other globals than before, the next round starts from scratch.
            for key, summary in list(self.summaries.modules.items()):
                if summary.reads & changed:
                    module = self.modules[key]
                    self._globals_before[key] = _globals_facts(module)
                    module.globals, module.globals_state, module.events = {}, "new", []
                    del self.summaries.modules[key]
            self.summaries.invalidate(changed)
            for key in changed:
                self._attr_reads.pop(key, None)
        self._roots_running.clear()

    # ------------------------------------------------------------------ analyses
    def root_analysis(self, func_id: str) -> tuple[Value, list[Event]]:
        """A function analysed on its own: parameters unknown (or their literal defaults), depth 0.

        It runs on a stack of its own, so what is in progress around it cannot change it. Asked for while it is
        itself in progress (a cycle through roots), it answers nothing, and every analysis that used that answer
        is marked cut (kept only for the same context)."""
        summaries = self.summaries
        summary = summaries.roots.get(func_id)
        if summary is not None and self._still_holds(summary):
            summaries.used(replace(summary, height=-1))
            return summary.result
        if func_id in self._roots_running:
            summaries.mark_cut()
            return CLEAN, []
        context = (func_id, frozenset(self._roots_running))
        summary = summaries.cut_roots.get(context)
        if summary is None or not self._still_holds(summary):
            info = self.functions[func_id]
            outer_active, outer_stack = self._active, summaries.swap_stack([])
            self._active = []
            self._roots_running.add(func_id)
            record = summaries.begin()
            try:
                result = self._run(info, self._root_args(info), (), depth=0, root=True)
            finally:
                self._roots_running.discard(func_id)
                self._active = outer_active
                summaries.swap_stack(outer_stack)
            record.deep = False  # a root is always at depth 0: a depth cut inside it is the same every time
            summary = Summary.of(result, record)
            if summary.cut:
                summaries.cut_roots[context] = summary
            else:
                summaries.roots[func_id] = summary
        summaries.used(replace(summary, height=-1))  # a root is not a call below its user
        return summary.result

    def note_unresolved(self, path: str, line: int = 0, col: int = 0, callee: str = "") -> None:
        """Count a call packlint could not resolve (``--statistics``), per file so cached runs count the same, and
        where it is and what it calls (``--statistics --list-unresolved``)."""
        self.summaries.count("unresolved", path)
        if line:
            self.summaries.count("unresolved-call", f"{path}\0{line}\0{col}\0{callee}")

    def note_loop_bound(self, path: str) -> None:
        """Count a loop whose fixpoint was not reached within its bound (``--statistics``)."""
        self.summaries.count("loop-bound", path)

    @property
    def unresolved_by_path(self) -> dict[str, int]:
        return self.summaries.totals("unresolved")

    @property
    def unresolved_sites(self) -> list[tuple[str, int, int, str]]:
        """Each unresolved call once: (path, line, column, what it calls), sorted."""
        sites = []
        for key in self.summaries.totals("unresolved-call"):
            path, line, col, callee = key.split("\0", 3)
            sites.append((path, int(line), int(col), callee))
        return sorted(sites)

    @property
    def loop_bounds_by_path(self) -> dict[str, int]:
        return self.summaries.totals("loop-bound")

    @property
    def unresolved(self) -> int:
        return sum(self.unresolved_by_path.values())

    def computed_roots(self):
        """(function id, (return, events)) for every root analysis made so far."""
        return [(fid, summary.result) for fid, summary in self.summaries.roots.items()]

    def root_event_keys(self, func_id: str) -> set[tuple]:
        return {ev.key for ev in self.root_analysis(func_id)[1]}

    def own_events(self, events: list[Event]) -> list[Event]:
        """``events`` placed once per bug (see ``placement.py``). Asked after the round's analyses, so no root is
        ever analysed inside another."""
        return place(events, self.root_event_keys, self.summaries, lambda fid: self.functions[fid].module.report)

    def _root_args(self, info: FunctionInfo) -> tuple[Value, ...]:
        """Arguments of a function analysed alone: ``self``, an annotated class, a literal default (a string, a
        number, a flag: ``pool=True``, ``loss_name="mse_loss"``), else unknown. A ``None`` default stays unknown:
        an optional mask is taken as possibly given, so a function that masks when given one is not flagged."""
        params = info.node.args.posonlyargs + info.node.args.args
        defaults = [None] * (len(params) - len(info.node.args.defaults)) + list(info.node.args.defaults)
        out: list[Value] = []
        for i, (p, default) in enumerate(zip(params, defaults)):
            if i == 0 and info.self_name is not None:
                if "classmethod" in info.decorators:
                    out.append(ClassRef(info.class_id))  # type: ignore[arg-type]
                else:
                    out.append(Instance(info.class_id))  # type: ignore[arg-type]
            else:
                out.append(self._annotated(info, p) or _literal_default(default) or
                           Unknown(parameter_key(info.qualname, p.arg), order=()))  # the batch in the order it is given
        return tuple(out)

    def _annotated(self, info: FunctionInfo, param: ast.arg) -> Value | None:
        """A parameter annotated with a class of the tree (``model: Tagger``, ``model: models.Tagger``) is an
        instance of it. Only a name or an attribute can name one: ``Optional[Tagger]``, ``List[Token]`` and string
        annotations are left unknown, and not evaluated (a third of the annotations on real trees)."""
        if type(param.annotation) not in (ast.Name, ast.Attribute):
            return None
        value = self._eval_in_module(info.module, param.annotation)
        return Instance(value.class_id) if isinstance(value, ClassRef) else None

    def analyze_call(self, func_id: str, args: tuple[Value, ...], kwargs: tuple[tuple[str, Value], ...],
                     depth: int) -> tuple[Value, list[Event]]:
        """A call of a function of the tree in its caller's context (the arguments' abstract values), reusing a
        summary only where it is exact (see ``summaries.py``)."""
        info = self.functions.get(func_id)
        self.constructed = None
        if info is None:
            return CLEAN, []
        summaries = self.summaries
        if depth > MAX_DEPTH:
            summaries.mark_deep()
            return CLEAN, []
        if self._active and self._active[-1] == func_id:
            # A function calling itself: the call is cut, inside its own analysis, so the summary stays a function
            # of its arguments. Longer cycles (f -> g -> f) unroll until the depth bound, whose summaries are kept
            # by depth: none depends on what happens to be on the stack.
            return CLEAN, []
        key = (func_id, args, kwargs)
        try:
            summary = summaries.calls.get(key)  # hashing the arguments once: they can be deep
        except TypeError:
            return CLEAN, []
        if summary is None or depth + summary.height > MAX_DEPTH or not self._still_holds(summary):
            deep_key, cut_key = (key, depth), (key, depth, tuple(self._active))
            summary = summaries.cut_calls.get(deep_key) or summaries.cut_calls.get(cut_key)
            if summary is None or not self._still_holds(summary):
                record = summaries.begin()
                try:
                    result = self._run(info, args, kwargs, depth)
                finally:
                    summaries.end()
                summary = Summary.of(result, record)
                if summary.cut:
                    summaries.cut_calls[cut_key] = summary
                elif summary.deep:
                    summaries.cut_calls[deep_key] = summary
                else:
                    summaries.calls[key] = summary
        summaries.used(summary)
        self.constructed = summary.constructed
        return summary.result

    def _run(self, info: FunctionInfo, args: tuple[Value, ...], kwargs: tuple[tuple[str, Value], ...],
             depth: int, root: bool = False) -> tuple[Value, list[Event]]:
        self.ensure_globals(info.module)
        frame = Frame(module=info.module, func=info, env={}, depth=depth, closure=self.closures.get(info.func_id),
                      root=root)
        interp = Interpreter(self, frame)
        self._bind_params(interp, info, list(args), dict(kwargs))
        self._active.append(info.func_id)
        constructing = info.class_id is not None and info.node.name in CONSTRUCTORS
        if constructing:
            self._constructing.append(frame)
        try:
            interp.run_block(info.node.body)
        finally:
            self._active.pop()
            if constructing:
                self._constructing.pop()
        self._record_constructor_attrs(info, frame, root)
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
                env[name] = Unknown(parameter_key(info.qualname, name))
        for p, default in zip(params.kwonlyargs, params.kw_defaults):
            name = p.arg
            if name in kwargs:
                env[name] = kwargs[name]
            elif default is not None:
                env[name] = interp.eval(default)
            else:
                env[name] = Unknown(parameter_key(info.qualname, name))
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


def _literal_default(default: ast.expr | None) -> Value | None:
    """A parameter's literal default (``loss_name="mse_loss"``, ``dim=-1``, a constructor's ``pool=True``) for a
    function analysed alone; None for no default, a ``None`` default (an optional argument stays "maybe given"), or
    a non-literal one. A constructor's defaults are one of its constructions (see ``ClassInfo.merged_attrs``)."""
    if default is None:
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
    a masked mean rescaled by ``mask.mean()`` or ``numel / count``; and a metric's events where the function
    never trains on it (logged, not ``.backward()``-ed or returned by ``training_step``)."""
    events = [ev for ev in frame.events if not ev.detail("metric") or ev.key in frame.trained]
    if not frame.resolved:
        return events
    out = []
    for ev in events:
        if ev.kind in ("softmax", "reduce", "last-step") and any((s.path, s.line, s.col) == (ev.path, ev.line, ev.col)
                                                   for s in frame.resolved):
            continue
        out.append(ev)
    return out


#: The attributes an instance keeps from its own construction: those that decide what its methods do (a flag, a
#: layer and its options, a submodule, a loss object). Sizes and tensors passed in stay with the class, or every
#: construction site would analyse every method again for nothing.
_DECIDING = (Const, ExtObj, Instance, LossFn)


def _globals_facts(module: ModuleInfo) -> dict[str, object]:
    return {name: facts(value) for name, value in module.globals.items()}


def _module_level(body):
    """Statements run at module level: the body, and the bodies of its ``if`` and ``try`` statements."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try)):
            yield from _module_level(node.body)
            yield from _module_level(node.orelse)
            for handler in getattr(node, "handlers", ()):
                yield from _module_level(handler.body)


def _exported(module: ModuleInfo, name: str) -> bool:
    """Whether ``from module import *`` brings ``name``: listed in a literal ``__all__``, else public."""
    for node in module.tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
                and isinstance(node.value, (ast.List, ast.Tuple))):
            return any(isinstance(e, ast.Constant) and e.value == name for e in node.value.elts)
    return not name.startswith("_")
