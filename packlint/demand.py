"""Which modules are parsed, which bodies run and which functions are analysed as roots: seeds first, then on
demand, wave by wave (issue 16).

Of the hundreds of functions a real tree holds, a handful ever see a padded value (flair: a dozen of 1,200). A
name index that spread taint over every mention analysed hundreds of them as roots for nothing, and parsed the
modules that held them. Here padding itself decides:

- **Seeds**: the modules whose text names a source (the packing API, a configured source, token lists padded by
  hand, a per-element loss, rows padded by hand for an RNN) are parsed, and their bodies run where their own
  top-level code names one; the functions whose own code names a source are analysed (every function, in a
  module that pads rows by hand for its own RNN).
- **Demand**: after each wave, the analyses made so far say where padding escaped: a function whose summary
  returned a value carrying padding (or a reference to code that lets it out) while none of its arguments carried
  any, a function that handed padding to a callable it was given, a constructor attribute or a module global
  holding such a value, a class whose instances pad when called or iterated. Their names are *hot*, each with the
  module that defines it. A module can use such a name only if it is that module or imports it, directly or
  through other modules, and, for a method or an attribute, names its class or a subclass (how code comes to
  hold an instance): those modules whose text uses the name are parsed, their functions that name it are
  analysed, their bodies run when their top-level code names it. A class that only holds padding in an attribute
  makes that attribute hot, not its name: what its users do with it is seen where they read the attribute. A
  class with a method that names a source but no call that pads (``encoder.encode(x)``) makes its factories
  reached (modules that ``return CharEncoder(...)``): their callers need not name the class. A seed's own name is hot whatever its analysis
  alone returned: a caller's arguments may take the branch that returns the padding (``Enc(pool=False)``).
  Padding passed *into* a call needs no wave: the callee is analysed in the caller's context.

Waves repeat until nothing new is reached. A function never reached cannot see padding as a root: its parameters
are unknown, and nothing it names returns, stores or holds padding. ``--select-all-files`` parses every file and
analyses every function; a test holds its findings equal on every fixture project, and the pinned repositories
are compared the same way.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

from packlint.analysis.names import dotted
from packlint.analysis.values import (
    BoundMethod,
    ClassRef,
    Const,
    DictV,
    Ext,
    ExtObj,
    FuncRef,
    Instance,
    Loader,
    Many,
    Top,
    TupleV,
    Unknown,
    Value,
    carries_padding,
)
from packlint.analysis.walk import walk_nodes
from packlint.imports import hand_padded_rnn

__all__ = ["Demand"]

#: Methods a caller runs without naming them: an instance called, iterated or indexed. When one lets padding out,
#: the class's name is what its users' code shows.
_CALLED_IMPLICITLY = frozenset({"forward", "__call__", "__iter__", "__next__", "__getitem__"})

#: The ``needs`` of a class whose methods name a source but whose instances do not pad when called: its name
#: counts only in modules that return a new one (``return CharEncoder()``), the factories its users call.
_FACTORY = frozenset({"\0return"})


def _words_of(nodes, aliases: dict[str, str], called: set[str] | None = None) -> set[str]:
    """Identifiers code names (``Name`` ids, attribute names, imported names), never comments or strings; an
    alias a module imports (``from .rnn import pad_batch as pb``) stands for the imported name too. ``called``,
    when given, gathers the plain names called (``self(x)``), in the same walk."""
    out: set[str] = set()
    for root in nodes:
        for node in walk_nodes(root):
            kind = type(node)
            if kind is ast.Name:
                out.add(node.id)
            elif kind is ast.Attribute:
                out.add(node.attr)
            elif kind is ast.Call:
                if called is not None and type(node.func) is ast.Name:
                    called.add(node.func.id)
            elif kind is ast.alias:
                out.add(node.name.rsplit(".", 1)[-1])
                if node.asname:
                    out.add(node.asname)
    out.update(aliases[w] for w in list(out) if w in aliases)
    return out


class Demand:
    """One round's parsing, module bodies and roots, in waves (see the module docstring)."""

    def __init__(self, project, prefilter):
        self.project = project
        self.program = project.program
        self.prefilter = prefilter
        self.seeds: set[str] = set()
        self.hot_classes: set[str] = set()
        self._words: dict[str, frozenset[str]] = {}
        self._top_words: dict[str, frozenset[str]] = {}
        self._aliases: dict[str, dict[str, str]] = {}
        self._calls_self: set[str] = set()  # methods that call their own instance (``self(x)``: its ``forward``)
        self._importers: dict[str, frozenset[str]] | None = None
        self._users: dict[str, frozenset[str]] = {}  # module key -> itself and every module importing it
        self._reach: dict[tuple[str, str, frozenset[str]], frozenset[str]] = {}
        self._whole: dict[str, bool] = {}
        self._source_aliases: dict[str, frozenset[str]] = {}
        self._shapes: dict[int, tuple[object, tuple]] = {}
        self._passes: dict[int, tuple[object, bool]] = {}

    # ------------------------------------------------------------------ the waves
    def run(self, analyse: Callable[[str], None], run_body: Callable[[str], None],
            rerun: set[str] = frozenset()) -> None:
        """Seeds, then waves until nothing new is reached. ``analyse`` takes a function id, ``run_body`` a module
        key; ``rerun``: keys of bodies that must run this round whatever happens (the round reset them). Modules
        and functions go in the order the files were handed in, never in the order they were reached."""
        program = self.program
        seed_modules = [key for key, src in program.sources.items() if self.prefilter.search_file(src.text)
                        and program.load(key) is not None]  # a file that does not parse has no module
        seeded = set(seed_modules)
        bodies_done: set[str] = set()
        done: set[str] = set()
        bodies = [key for key in program.sources if key in rerun or (key in seeded and self._body_names_source(key))]
        wave = [fid for fid in self._functions() if self.project.functions[fid].module.key in seeded
                and self._is_seed(fid)]
        # hot by their own name: the functions whose code names a source, not every function of a module that
        # pads rows by hand (those are analysed, and count only for what they return)
        self.seeds = {fid for fid in wave if self._names_source(fid)}
        while bodies or wave:
            for key in bodies:
                bodies_done.add(key)
                if key in program.modules:
                    run_body(key)
            for fid in wave:
                done.add(fid)
                analyse(fid)
            users_of: dict[str, set[str]] = {}  # module key -> the hot words it may use
            for word, definer, needs in sorted(self.hot_words()):
                for key in self._may_use(word, definer, needs):
                    users_of.setdefault(key, set()).add(word)
            for key in program.sources:
                if key in users_of:
                    program.load(key)
            bodies = [key for key in program.sources if key not in bodies_done and key in program.modules
                      and key in users_of and not users_of[key].isdisjoint(self._module_words(key))]
            wave = [fid for fid in self._functions() if fid not in done and self._reached(fid, users_of)]

    def _functions(self) -> list[str]:
        """Every function parsed so far, in the files' order: those of modules read only because a linted file
        imports them too (analysed as far as padding escapes through them, so the files that use them are
        reached; their own findings are not reported)."""
        program = self.program
        return [fid for key in program.sources if (m := program.modules.get(key)) is not None
                for fid in m.function_ids]

    def _reached(self, fid: str, users_of: dict[str, set[str]]) -> bool:
        """Whether a function names a hot name its module can see, or calls its own instance (``self(x)``) of a
        class whose ``forward`` lets padding out."""
        info = self.project.functions[fid]
        hot = users_of.get(info.module.key)
        if not hot:
            return False
        if not self.words(fid).isdisjoint(hot):
            return True
        return fid in self._calls_self and info.class_id in self.hot_classes

    # ------------------------------------------------------------------ imports
    def _may_use(self, word: str, definer: str, needs: frozenset[str]) -> frozenset[str]:
        """The sources that may use ``word`` as module ``definer`` defines it: that module or one importing it,
        whose text uses the word (not only where it is defined) and names one of ``needs`` (for a method or an
        attribute: its class or a subclass, how code comes to hold an instance), when given."""
        found = self._reach.get((word, definer, needs))
        if found is None:
            sources = self.program.sources
            factory = needs is _FACTORY
            candidates = [k for k in self._users_of(definer) if word in self.program.words_of(k)
                          and (factory or not needs or not needs.isdisjoint(self.program.words_of(k)))]
            used = None
            if candidates:
                used = re.compile(rf"\breturn\s+(?:[\w.]+\.)?{re.escape(word)}\s*\(" if factory else
                                  rf"(?<!def )(?<!class )\b{re.escape(word)}\b")
            found = self._reach[(word, definer, needs)] = frozenset(
                k for k in candidates if used.search(sources[k].text))
        return found

    def _users_of(self, key: str) -> frozenset[str]:
        """``key`` and every source that imports it, directly or through other sources of the run."""
        found = self._users.get(key)
        if found is None:
            if self._importers is None:
                importers: dict[str, set[str]] = {}
                for k in self.program.sources:
                    for target in self.program.imports_of(k):
                        importers.setdefault(target, set()).add(k)
                self._importers = {k: frozenset(v) for k, v in importers.items()}
            seen = {key}
            frontier = [key]
            while frontier:
                for importer in self._importers.get(frontier.pop(), ()):
                    if importer not in seen:
                        seen.add(importer)
                        frontier.append(importer)
            found = self._users[key] = frozenset(seen)
        return found

    # ------------------------------------------------------------------ what code names
    def _module_aliases(self, module) -> dict[str, str]:
        """Local name -> the last part of what it imports, where they differ (``as`` aliases), as the resolver
        reads the module's top-level imports."""
        found = self._aliases.get(module.key)
        if found is None:
            found = {}
            for stmt in module.tree.body:
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    for local, qualified in self.project.bindings_for(module, stmt).items():
                        imported = qualified.rsplit(".", 1)[-1]
                        if imported != local:
                            found[local] = imported
            self._aliases[module.key] = found
        return found

    def words(self, fid: str) -> frozenset[str]:
        """The identifiers a function's code names (see ``_words_of``)."""
        found = self._words.get(fid)
        if found is None:
            info = self.project.functions[fid]
            called: set[str] = set()
            words = _words_of([info.node], self._module_aliases(info.module), called)
            if info.self_name is not None and info.self_name in called:
                self._calls_self.add(fid)
            found = self._words[fid] = frozenset(words)
        return found

    def _module_words(self, key: str) -> frozenset[str]:
        """The identifiers a module's own top-level code names (not inside its functions and classes): what its
        body does when it runs."""
        found = self._top_words.get(key)
        if found is None:
            module = self.program.modules[key]
            found = self._top_words[key] = frozenset(_words_of(_top_level(module.tree.body),
                                                               self._module_aliases(module)))
        return found

    def _body_names_source(self, key: str) -> bool:
        """Whether a module's own top-level code (outside its functions and classes) names a source, or pads
        rows by hand: a script that pads and trains at module level. Any other body runs only when something
        reads its globals."""
        module = self.program.modules[key]
        if hand_padded_rnn(module.text):
            return True
        words = self._module_words(key)
        if any(self.prefilter.names_in(w) for w in words):
            return True
        lines = module.lines
        text = "\n".join("\n".join(lines[n.lineno - 1:n.end_lineno]) for n in _top_level(module.tree.body)
                         if hasattr(n, "lineno"))
        return self.prefilter.search(text)

    def _is_seed(self, fid: str) -> bool:
        info = self.project.functions[fid]
        module = info.module
        whole = self._whole.get(module.key)
        if whole is None:
            whole = self._whole[module.key] = hand_padded_rnn(module.text)
        return whole or self._names_source(fid)

    def _names_source(self, fid: str) -> bool:
        """Whether a function's own code names a source: in its text, or through a name its module imports one
        as (``from torch.nn.utils.rnn import pad_packed_sequence as unpack``)."""
        info = self.project.functions[fid]
        module = info.module
        node = info.node
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        if self.prefilter.search("\n".join(module.lines[first - 1:node.end_lineno])):
            return True
        aliases = self._source_aliases.get(module.key)
        if aliases is None:
            aliases = self._source_aliases[module.key] = frozenset(
                local for local, name in self._module_aliases(module).items() if self.prefilter.names_in(name))
        return bool(aliases) and not aliases.isdisjoint(self.words(fid))

    # ------------------------------------------------------------------ where padding escaped
    def _shape(self, value: Value) -> tuple[bool, frozenset[str], frozenset[str]]:
        """What a value says about escapes, once per value: (it carries padding, the functions and the classes of
        the tree it refers to, whose own hotness decides)."""
        if type(value) in _LEAVES:  # most values: answered without the cache, which would keep them alive
            return _SORTED if value.order else _NO_ESCAPE
        found = self._shapes.get(id(value))
        if found is not None and found[0] is value:
            return found[1]
        funcs: set[str] = set()
        classes: set[str] = set()
        shape = (_refs(value, funcs, classes), frozenset(funcs), frozenset(classes))
        self._shapes[id(value)] = (value, shape)
        return shape

    def _passes_padding(self, summary, args, kwargs) -> bool:
        found = self._passes.get(id(summary))
        if found is None or found[0] is not summary:
            found = self._passes[id(summary)] = (summary, any(
                carries_padding(v) for v in (*args, *(v for _, v in kwargs))))
        return found[1]

    def hot_words(self) -> set[tuple[str, str, frozenset[str]]]:
        """The names through which padding escaped in the analyses made so far: (name, the key of the module
        that defines it, the class names code must show to reach it: none for a function, a class or a global;
        the class and its subclasses for a method or an attribute)."""
        project = self.project
        summaries = project.summaries
        results: dict[str, set[tuple]] = {}
        hot_funcs: set[str] = set(self.seeds)
        for fid, summary in list(summaries.roots.items()):
            results.setdefault(fid, set()).add(self._shape(summary.result[0]))
            if summary.leaks:
                hot_funcs.add(fid)
        for (fid, _), summary in list(summaries.cut_roots.items()):
            results.setdefault(fid, set()).add(self._shape(summary.result[0]))
            if summary.leaks:
                hot_funcs.add(fid)
        for store, keyed in ((summaries.calls, lambda k: k), (summaries.cut_calls, lambda k: k[0])):
            for key, summary in list(store.items()):
                fid, args, kwargs = keyed(key)
                if not self._passes_padding(summary, args, kwargs):
                    # padding a caller passed in is the caller's: only what the callee made escapes
                    results.setdefault(fid, set()).add(self._shape(summary.result[0]))
                    if summary.leaks:
                        hot_funcs.add(fid)
        classes = list(project.classes.items())
        attrs = [(cid, name, self._shape(v)) for cid, info in classes
                 for table in (info.root_attrs, info.site_attrs) for name, v in table.items()]
        globals_ = [(m.key, name, self._shape(v)) for m in list(project.modules.values())
                    for name, v in m.globals.items()]

        def hot(shape) -> bool:
            return shape[0] or not shape[1].isdisjoint(hot_funcs) or not shape[2].isdisjoint(named)

        # classes with a method whose own code names a source: a function returning one of them is a factory of
        # padding (``m = load_model(); m.encode(x)``) even where its callers' code never names the class
        makers = {c for fid in self.seeds if (c := project.functions[fid].class_id) is not None}

        def hot_result(shape) -> bool:
            return hot(shape) or not shape[2].isdisjoint(makers)

        # classes whose instances pad when called or iterated; one that only holds padding in an attribute makes
        # that attribute hot (for code that names the class), not every use of the class
        named: set[str] = set()
        grew = True
        while grew:  # a factory returning a model whose forward pads is hot too: to a fixpoint
            grew = False
            for fid, values in results.items():
                if fid not in hot_funcs and any(hot_result(v) for v in values):
                    hot_funcs.add(fid)
                    grew = True
            for fid in hot_funcs:
                info = project.functions[fid]
                if info.class_id is not None and info.node.name in _CALLED_IMPLICITLY and info.class_id not in named:
                    named.add(info.class_id)  # ``model(x)``, ``for batch in data``: the code names only the class
                    grew = True
            # a subclass inherits what lets padding out; read by name, never by running a base's module
            names = {project.classes[c].name for c in named}
            for cid, info in classes:
                if cid not in named and not names.isdisjoint(_base_names(info.node)):
                    named.add(cid)
                    grew = True
        self.hot_classes = named
        subclass_names: dict[str, set[str]] = {}  # class id -> its name and its (known) subclasses' names
        for cid, info in classes:
            subclass_names.setdefault(cid, set()).add(info.name)
        by_name: dict[str, list[str]] = {}
        for cid, info in classes:
            by_name.setdefault(info.name, []).append(cid)
        for cid, info in classes:
            for base in _base_names(info.node):
                for base_id in by_name.get(base, ()):
                    subclass_names[base_id].add(info.name)

        out: set[tuple[str, str, frozenset[str]]] = set()
        for fid in hot_funcs:
            info = project.functions[fid]
            name = info.node.name
            if name.startswith("__") and name.endswith("__"):  # ``super().__init__()`` is everywhere
                continue
            needs = frozenset(subclass_names.get(info.class_id, ())) if info.class_id is not None else frozenset()
            out.add((name, info.module.key, needs))
        for cid in named:
            info = project.classes[cid]
            out.add((info.name, info.module.key, frozenset()))
        for cid in makers - named:
            info = project.classes[cid]
            out.add((info.name, info.module.key, _FACTORY))
        for cid, name, value in attrs:
            if hot(value):
                out.add((name, project.classes[cid].module.key, frozenset(subclass_names.get(cid, ()))))
        for key, name, value in globals_:
            if hot(value):
                out.add((name, key, frozenset()))
        return out


#: values that hold nothing a wave follows: their shape is known without looking (and without keeping them)
_LEAVES = frozenset({Const, Unknown, Top, Ext, ExtObj})
_NO_ESCAPE = (False, frozenset(), frozenset())
_SORTED = (True, frozenset(), frozenset())  # rows sorted by a function that did not sort them back (PKL102)


def _top_level(body):
    """A module's statements outside its functions and classes (into ``if``/``try``/``with`` blocks), less its
    imports: a body that only imports a name does nothing with it (what it binds is read without running it)."""
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            continue
        if isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.While)) or type(stmt).__name__ == "TryStar":
            for field_name in ("test", "iter", "target"):
                part = getattr(stmt, field_name, None)
                if part is not None:
                    yield part
            for item in getattr(stmt, "items", ()):
                yield item
            for block in ("body", "orelse", "finalbody"):
                yield from _top_level(getattr(stmt, block, ()))
            for handler in getattr(stmt, "handlers", ()):
                yield from _top_level(handler.body)
            continue
        yield stmt


def _base_names(node: ast.ClassDef) -> set[str]:
    """The last names of a class's bases (``nn.Module`` -> ``Module``, ``Base[T]`` -> ``Base``)."""
    out = set()
    for base in node.bases:
        chain = dotted(base.value if isinstance(base, ast.Subscript) else base)
        if chain is not None:
            out.add(chain.rsplit(".", 1)[-1])
    return out


def _refs(value: Value, funcs: set[str], classes: set[str], depth: int = 0) -> bool:
    """Whether a value carries padding; gathers the functions and classes of the tree it refers to (a function
    that lets padding out, an instance of a class whose ``forward`` does, makes the value hot too)."""
    if carries_padding(value):
        return True
    if value is None or depth > 6:
        return False
    if isinstance(value, Instance):
        classes.add(value.class_id)
        return any([_refs(v, funcs, classes, depth + 1) for _, v in value.own or ()])
    if isinstance(value, ClassRef):
        classes.add(value.class_id)
        return False
    if isinstance(value, (FuncRef, BoundMethod)):
        funcs.add(value.func_id)
        return False
    parts: tuple = ()
    if isinstance(value, TupleV):
        parts = value.items
    elif isinstance(value, Many):
        parts = (value.elem,)
    elif isinstance(value, Loader):
        parts = (value.element,)
    elif isinstance(value, DictV):
        parts = (*(v for _, v in value.items), *((value.rest,) if value.rest is not None else ()))
    if parts:
        return any([_refs(v, funcs, classes, depth + 1) for v in parts])  # a list: every reference gathered
    return bool(getattr(value, "order", None))  # rows sorted by a function that did not sort them back (PKL102)
