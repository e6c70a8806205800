"""Which selected functions run as roots: seeds first, then on demand, wave by wave.

The name selection (``selection.py``) over-approximates: every function that mentions, through any chain of
names, a unit that names a source. On real trees that is hundreds of functions (flair: 577, stanza: thousands)
of which a handful ever see a padded value; analysing each as a root was most of a run's time (issue 16).

Here a selected function is analysed as a root only when padding can reach it:

- **Seeds**: a function whose own text names a source (the packing API, a configured source, token lists padded
  by hand, a per-element loss), and every function of a module that pads rows by hand for its own RNN.
- **Demand**: after each wave, the analyses made so far say where padding escaped: a function whose summary
  returned a value carrying padding (or a reference to code that does) while none of its arguments carried any,
  a class one of whose methods did, a constructor attribute or a module global holding such a value. Their names
  are *hot*; a selected function that mentions a hot name (a call, an attribute read, a class it constructs) is
  analysed in the next wave. Padding passed *into* a call needs no wave: the callee is analysed in the caller's
  context.

Waves repeat until nothing new is hot. A function never reached this way cannot see padding as a root: its
parameters are unknown, and nothing it names returns, stores or holds padding. The debug switch
``--select-all-files`` still analyses every function (a test holds its findings equal on every fixture project).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from packlint.analysis.values import (
    BoundMethod,
    ClassRef,
    DictV,
    FuncRef,
    Instance,
    Loader,
    Many,
    TupleV,
    Value,
    carries_padding,
)
from packlint.imports import hand_padded_rnn
from packlint.selection import walk_nodes

__all__ = ["Demand"]

class Demand:
    """The roots of one round, in waves (see the module docstring)."""

    def __init__(self, project, prefilter, selected: set[str]):
        self.project = project
        self.prefilter = prefilter
        self.selected = selected
        self._words: dict[str, frozenset[str]] = {}
        self._whole: dict[str, bool] = {}
        self._calls_self: set[str] = set()  # methods that call their own instance (``self(x)``: its ``forward``)
        self.seeds: set[str] = set()
        self.hot_classes: set[str] = set()

    # ------------------------------------------------------------------ what a function names
    def words(self, fid: str) -> frozenset[str]:
        """Every identifier a function's code names (``Name`` ids, attribute names, names it imports), never its
        comments or strings; the aliases its module imports stand for the imported names too."""
        found = self._words.get(fid)
        if found is None:
            info = self.project.functions[fid]
            me = info.self_name
            out: set[str] = set()
            for node in walk_nodes(info.node):
                kind = type(node)
                if kind is ast.Name:
                    out.add(node.id)
                elif kind is ast.Call and me is not None and type(node.func) is ast.Name and node.func.id == me:
                    self._calls_self.add(fid)
                elif kind is ast.Attribute:
                    out.add(node.attr)
                elif kind is ast.alias:
                    out.add(node.name.rsplit(".", 1)[-1])
                    if node.asname:
                        out.add(node.asname)
            aliases = _aliases(info.module)
            out.update(aliases[w] for w in list(out) if w in aliases)
            found = self._words[fid] = frozenset(out)
        return found

    def is_seed(self, fid: str) -> bool:
        info = self.project.functions[fid]
        module = info.module
        whole = self._whole.get(module.key)
        if whole is None:
            whole = self._whole[module.key] = hand_padded_rnn(module.text)
        if whole:
            return True
        if any(self.prefilter.names_in(w) for w in self.words(fid)):
            return True
        node = info.node
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        text = "\n".join(module.lines[first - 1:node.end_lineno])
        return self.prefilter.search(text)

    # ------------------------------------------------------------------ where padding escaped
    def hot_words(self) -> set[str]:
        """The names through which padding escaped in the analyses made so far. A seed's own name is hot
        whatever its analysis alone returned: a caller's arguments may take the branch that returns the padding
        (``Enc(pool=False)``)."""
        project = self.project
        summaries = project.summaries
        results: dict[str, list[Value]] = {}
        hot_funcs: set[str] = set(self.seeds)
        for fid, summary in list(summaries.roots.items()):
            results.setdefault(fid, []).append(summary.result[0])
            if summary.leaks:
                hot_funcs.add(fid)
        for (fid, _), summary in list(summaries.cut_roots.items()):
            results.setdefault(fid, []).append(summary.result[0])
            if summary.leaks:
                hot_funcs.add(fid)
        for store, keyed in ((summaries.calls, lambda k: k), (summaries.cut_calls, lambda k: k[0])):
            for key, summary in list(store.items()):
                fid, args, kwargs = keyed(key)
                if not any(carries_padding(v) for v in (*args, *(v for _, v in kwargs))):
                    # padding a caller passed in is the caller's: only what the callee made escapes
                    results.setdefault(fid, []).append(summary.result[0])
                    if summary.leaks:
                        hot_funcs.add(fid)
        hot_classes: set[str] = {c for fid in hot_funcs if (c := project.functions[fid].class_id) is not None}
        attrs = [(cid, name, v) for cid, info in list(project.classes.items())
                 for table in (info.root_attrs, info.site_attrs) for name, v in table.items()]
        globals_ = [(m, name, v) for m in list(project.modules.values()) for name, v in m.globals.items()]
        grew = True
        while grew:  # a factory returning a model whose forward pads is hot too: to a fixpoint
            grew = False
            for fid, values in results.items():
                if fid not in hot_funcs and any(_carries(v, hot_funcs, hot_classes) for v in values):
                    hot_funcs.add(fid)
                    grew = True
                    cid = project.functions[fid].class_id
                    if cid is not None:
                        hot_classes.add(cid)
            for cid, _, value in attrs:
                if cid not in hot_classes and _carries(value, hot_funcs, hot_classes):
                    hot_classes.add(cid)
                    grew = True
            hot_names = {project.classes[c].name for c in hot_classes}
            for cid, info in list(project.classes.items()):
                # a subclass inherits the methods that let padding out; read by name, never by running a base's
                # module to resolve it
                if cid not in hot_classes and not hot_names.isdisjoint(_base_names(info.node)):
                    hot_classes.add(cid)
                    grew = True
        self.hot_classes = hot_classes
        out: set[str] = set()
        for fid in hot_funcs:
            out.add(project.functions[fid].node.name)
        for cid in hot_classes:
            out.add(project.classes[cid].name)
        for _, name, value in attrs:
            if _carries(value, hot_funcs, hot_classes):
                out.add(name)
        for _, name, value in globals_:
            if _carries(value, hot_funcs, hot_classes):
                out.add(name)
        return out

    # ------------------------------------------------------------------ the waves
    def run(self, order: Iterable[str], analyse: Callable[[str], None]) -> set[str]:
        """Analyse the seeds, then each wave of functions that name a hot name, in ``order`` (the files' order,
        never the order of discovery); returns the functions analysed."""
        order = [fid for fid in order if fid in self.selected]
        done: set[str] = set()
        wave = [fid for fid in order if self.is_seed(fid)]
        self.seeds = set(wave)
        while wave:
            for fid in wave:
                done.add(fid)
                analyse(fid)
            hot = self.hot_words()
            wave = [fid for fid in order if fid not in done and self._reached(fid, hot)]
        return done

    def _reached(self, fid: str, hot: set[str]) -> bool:
        """Whether a function names something padding escaped through, or calls its own instance (``self(x)``)
        of a class whose ``forward`` lets it out."""
        if not self.words(fid).isdisjoint(hot):
            return True
        return fid in self._calls_self and self.project.functions[fid].class_id in self.hot_classes


def _base_names(node: ast.ClassDef) -> set[str]:
    out = set()
    for base in node.bases:
        while isinstance(base, (ast.Attribute, ast.Subscript, ast.Call)):
            if isinstance(base, ast.Attribute):
                out.add(base.attr)
                break
            base = base.value if isinstance(base, ast.Subscript) else base.func
        if isinstance(base, ast.Name):
            out.add(base.id)
    return out


def _aliases(module) -> dict[str, str]:
    """Local name -> the imported name's last part, for the module's top-level ``import ... as`` and
    ``from ... import ... as`` statements (``from .rnn import pad_batch as pb``)."""
    found = getattr(module, "_demand_aliases", None)
    if found is None:
        found = {}
        for stmt in module.tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for alias in stmt.names:
                    if alias.asname:
                        found[alias.asname] = alias.name.rsplit(".", 1)[-1]
        module._demand_aliases = found
    return found


def _carries(value: Value, hot_funcs: set[str] = frozenset(), hot_classes: set[str] = frozenset(),
             depth: int = 0) -> bool:
    """Whether a value carries padding, or refers to code of the tree that lets it escape."""
    if carries_padding(value):
        return True
    if value is None or depth > 6:
        return False
    if isinstance(value, Instance):
        return value.class_id in hot_classes or any(_carries(v, hot_funcs, hot_classes, depth + 1)
                                                    for _, v in value.own or ())
    if isinstance(value, ClassRef):
        return value.class_id in hot_classes
    if isinstance(value, (FuncRef, BoundMethod)):
        return value.func_id in hot_funcs
    if isinstance(value, TupleV):
        return any(_carries(v, hot_funcs, hot_classes, depth + 1) for v in value.items)
    if isinstance(value, Many):
        return _carries(value.elem, hot_funcs, hot_classes, depth + 1)
    if isinstance(value, Loader):
        return _carries(value.element, hot_funcs, hot_classes, depth + 1)
    if isinstance(value, DictV):
        return any(_carries(v, hot_funcs, hot_classes, depth + 1) for _, v in value.items) or (
            value.rest is not None and _carries(value.rest, hot_funcs, hot_classes, depth + 1))
    order = getattr(value, "order", None)
    return bool(order)  # rows sorted by a function that did not sort them back (PKL102)
