"""Per-function flow: an abstract interpreter over ``ast`` statements.

It evaluates each expression to an abstract value (``values.py``), following assignments, tuple unpacking,
augmented assignment, attribute and method chains, ``if``/``else`` (joined, worst case), loops (body twice),
comprehensions, ``with`` and ``try``. Calls into functions and classes of the linted tree are analysed in the
caller's context (the arguments' abstract values), memoised, with a depth bound; what a callee does to its
arguments thus crosses calls without any rule knowing. Sinks record :class:`Event` s; the rules judge them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterable

import ast

from packlint.analysis import api
from packlint.analysis.events import Event
from packlint.analysis.losses import assess_loss
from packlint.analysis.values import (
    BATCH, CLEAN, FEAT, FLAT, NONZERO, TIME, Arange, BoundMethod, ClassRef, Const, DictV, Dropped, Ext, ExtObj,
    FuncRef, Instance, Lengths, Loader, LossFn, Many, Mask, MaskBias, MaskRef, Packed, Padded, PaddedTarget,
    PerStep, Super, TupleV, Unknown, Value, is_tainted, join,
)
from packlint.diagnostics import TrailStep

if TYPE_CHECKING:
    from packlint.analysis.project import FunctionInfo, ModuleInfo, Project

MAX_DEPTH = 6
QUERY = "Q"  # the query axis of attention scores computed from two padded operands


@dataclass(frozen=True)
class Fresh(Value):
    """A tensor made from nothing (``torch.ones_like``): known not to be a mask until lengths write into it."""


@dataclass(frozen=True)
class TimeLen(Value):
    """The padded length T (``out.size(1)``, ``out.shape[1]`` on the time axis), plus ``offset``: indexing time with
    ``T - 1`` is ``[:, -1]``."""

    offset: int = 0


@dataclass(frozen=True)
class TimeSum(Value):
    """A sum over the time axis of a padded output: exact when padding is 0, a mean in disguise when divided by the
    padded length T rather than by the lengths."""

    trail: tuple
    node_pos: tuple


@dataclass(frozen=True)
class ZeroedReduce(Value):
    """A full reduction of a masked per-step loss: ``op`` ``mean`` divides by every step (PKL007 unless rescaled by
    ``mask.mean()`` or ``numel / count``); ``sum`` is exact until divided by ``numel()``."""

    op: str
    step: TrailStep
    trail: tuple


@dataclass(frozen=True)
class MaskFrac(Value):
    """``mask.mean()``: the share of real steps."""


@dataclass(frozen=True)
class Numel(Value):
    """``x.numel()``: every step, padded ones included."""


@dataclass(frozen=True)
class ShapeOf(Value):
    """``out.shape`` of a padded tensor: indexing it on the time axis gives :class:`TimeLen`."""

    axes: tuple[str, ...] | None


@dataclass(frozen=True)
class Perm(Value):
    """A permutation from ``sort``/``argsort``: indexing with it reorders the batch and keeps padding."""


@dataclass
class Frame:
    """The state of one function analysis: its environment, its events, its return value."""

    module: "ModuleInfo"
    func: "FunctionInfo | None"
    env: dict[str, Value]
    events: list[Event] = field(default_factory=list)
    ret: Value | None = None
    resolved: set[TrailStep] = field(default_factory=set)
    depth: int = 0

    @property
    def qual(self) -> str:
        return self.func.qualname if self.func else "<module>"


class _Return(Exception):
    pass


def _const(v: Value) -> object:
    return v.value if isinstance(v, Const) else None


def _is_neg_large(v: object) -> bool:
    return isinstance(v, (int, float)) and (v <= -1e4 or (isinstance(v, float) and math.isinf(v) and v < 0))


def _norm_dim(dim: object, ndim: int) -> int | None:
    if not isinstance(dim, int) or isinstance(dim, bool):
        return None
    if dim < 0:
        dim += ndim
    return dim if 0 <= dim < ndim else None


def _short(key: str) -> str:
    """A lengths origin key for messages: ``train_step:lengths - 1`` -> ``lengths - 1``."""
    return key.split(":", 1)[1] if ":" in key else key


def _key_of(v: Value) -> str | None:
    if isinstance(v, Unknown):
        return v.key
    if isinstance(v, Lengths):
        return v.origin
    return None


class Interpreter:
    """Evaluates statements and expressions of one function in one context."""

    def __init__(self, project: "Project", frame: Frame):
        self.project = project
        self.frame = frame
        self.module = frame.module
        self.tables = project.tables

    # ------------------------------------------------------------------ helpers
    def pos(self, node: ast.AST) -> tuple[int, int]:
        line = getattr(node, "lineno", 1)
        return (line, self.module.column(line, getattr(node, "col_offset", 0)))

    def step(self, node: ast.AST, what: str) -> TrailStep:
        line, col = self.pos(node)
        return TrailStep(self.module.path, line, col, what)

    def text(self, node: ast.AST, limit: int = 48) -> str:
        code = self.module.segment(node)
        code = " ".join(code.split())
        if len(code) <= limit:
            return code
        cut = code[: limit - 3]
        for sep in (", ", "(", " "):  # end at an argument or call boundary, not inside a name
            at = cut.rfind(sep)
            if at > limit // 2:
                cut = cut[: at + len(sep.strip())]
                break
        return cut + "..."

    def emit(self, event: Event, node: ast.AST | None = None) -> None:
        if node is not None:
            end = getattr(node, "end_lineno", None)
            if end is not None and end != event.line:
                event = replace(event, end_line=end)
        self.frame.events.append(event)

    def lookup(self, name: str) -> Value:
        env = self.frame.env
        if name in env:
            return env[name]
        g = self.module.globals
        if name in g:
            return g[name]
        return Ext(name)

    # ------------------------------------------------------------------ statements
    def run_block(self, body: Iterable[ast.stmt]) -> None:
        for stmt in body:
            self.run_stmt(stmt)

    def run_stmt(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Assign):
            value = self.eval(stmt.value)
            for target in stmt.targets:
                self.assign(target, value, stmt.value)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.assign(stmt.target, self.eval(stmt.value), stmt.value)
        elif isinstance(stmt, ast.AugAssign):
            left = self.eval(stmt.target)
            right = self.eval(stmt.value)
            self.assign(stmt.target, self.binop(_BINOPS.get(type(stmt.op), ""), left, right, stmt), stmt.value)
        elif isinstance(stmt, ast.Expr):
            value = self.eval(stmt.value)
            target = _inplace_target(stmt.value)
            if target is not None and not isinstance(value, Unknown):
                self.assign(target, value)  # `x.masked_fill_(~mask, -inf)` changes x itself
        elif isinstance(stmt, ast.Return):
            value = self.eval(stmt.value) if stmt.value is not None else Const(None)
            self.frame.ret = join(self.frame.ret, value) if self.frame.ret is not None else value
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for local, qual in self.project.bindings_for(self.module, stmt).items():
                self.frame.env[local] = self.project.resolve(qual, self.module)
        elif isinstance(stmt, ast.If):
            self.run_if(stmt)
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            self.run_loop(stmt)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                v = self.eval(item.context_expr)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, v if isinstance(v, (Instance, ExtObj)) else CLEAN)
            self.run_block(stmt.body)
        elif isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            before = dict(self.frame.env)
            self.run_block(stmt.body)
            after_body = dict(self.frame.env)
            outs = [after_body]
            for handler in stmt.handlers:
                self.frame.env = self._join_envs(before, after_body)
                self.run_block(handler.body)
                outs.append(dict(self.frame.env))
            merged = outs[0]
            for o in outs[1:]:
                merged = self._join_envs(merged, o)
            self.frame.env = merged
            self.run_block(stmt.orelse)
            self.run_block(stmt.finalbody)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            fid = self.project.func_id_for(self.module, stmt)
            self.frame.env[stmt.name] = FuncRef(fid) if fid else CLEAN
        elif isinstance(stmt, ast.ClassDef):
            cid = self.project.class_id_for(self.module, stmt)
            self.frame.env[stmt.name] = ClassRef(cid) if cid else CLEAN
        elif isinstance(stmt, ast.Match):
            before = dict(self.frame.env)
            self.eval(stmt.subject)
            merged = None
            for case in stmt.cases:
                self.frame.env = dict(before)
                self.run_block(case.body)
                merged = self.frame.env if merged is None else self._join_envs(merged, self.frame.env)
            self.frame.env = self._join_envs(before, merged or before)
        elif isinstance(stmt, (ast.Raise, ast.Assert, ast.Delete)):
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.expr):
                    self.eval(child)

    def run_if(self, stmt: ast.If) -> None:
        verdict = self.truth(stmt.test)
        before = dict(self.frame.env)
        if verdict is not False:
            self.run_block(stmt.body)
        then_env = self.frame.env
        self.frame.env = dict(before)
        if verdict is not True:
            self.run_block(stmt.orelse)
        else_env = self.frame.env
        if verdict is True:
            self.frame.env = then_env
        elif verdict is False:
            self.frame.env = else_env
        else:
            self.frame.env = self._join_envs(then_env, else_env)

    def truth(self, test: ast.expr) -> bool | None:
        """Fold ``x is None`` / ``x is not None`` / ``not x`` when ``x`` is known; None when unknown."""
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            inner = self.truth(test.operand)
            return None if inner is None else not inner
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            comp = test.comparators[0]
            if isinstance(comp, ast.Constant) and comp.value is None and isinstance(test.ops[0], (ast.Is, ast.IsNot)):
                v = self.eval(test.left)
                known_none = isinstance(v, Const) and v.value is None
                known_obj = isinstance(v, (Mask, Padded, PaddedTarget, Lengths, Instance, ExtObj, LossFn, Dropped,
                                           MaskBias, Fresh, TupleV, DictV))
                if isinstance(test.ops[0], ast.Is):
                    return True if known_none else (False if known_obj else None)
                return False if known_none else (True if known_obj else None)
        self.eval(test)
        return None

    def run_loop(self, stmt: ast.For | ast.AsyncFor | ast.While) -> None:
        before = dict(self.frame.env)
        is_for = not isinstance(stmt, ast.While)
        if is_for:
            elem = self.element_of(self.eval(stmt.iter))
        else:
            self.eval(stmt.test)
        for _ in range(2):
            if is_for:
                self.assign(stmt.target, elem, stmt.iter)
            self.run_block(stmt.body)
            self.frame.env = self._join_envs(before, self.frame.env)
        self.run_block(stmt.orelse)

    def _join_envs(self, a: dict[str, Value], b: dict[str, Value]) -> dict[str, Value]:
        out = dict(a)
        for k, v in b.items():
            out[k] = join(a.get(k), v) if k in a else v
        return out

    # ------------------------------------------------------------------ binding
    def assign(self, target: ast.expr, value: Value, value_node: ast.AST | None = None) -> None:
        if isinstance(target, ast.Name):
            if isinstance(value, Padded):
                value = value.with_trail(self.step(target, f"`{target.id}`"))
            self.frame.env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = self.unpack(value, len(target.elts))
            for elem, item in zip(target.elts, items):
                self.assign(elem, item, value_node)
        elif isinstance(target, ast.Attribute):
            base = target.value
            if isinstance(base, ast.Name):
                self.frame.env[f"{base.id}.{target.attr}"] = value
                selfv = self.lookup(base.id)
                if isinstance(selfv, Instance) and self.frame.func is not None:
                    self.project.record_attr(selfv.class_id, target.attr, value, self.frame.func)
        elif isinstance(target, ast.Subscript):
            self.assign_subscript(target, value)
        elif isinstance(target, ast.Starred):
            self.assign(target.value, Many(value), value_node)

    def unpack(self, value: Value, n: int) -> list[Value]:
        if isinstance(value, TupleV):
            items = list(value.items)
            if len(items) == n:
                return items
            if len(items) > n:
                return items[: n - 1] + [Many(join(None, items[n - 1]))]
            return items + [CLEAN] * (n - len(items))
        if isinstance(value, Many):
            return [value.elem] * n
        if isinstance(value, Padded):
            return [value] * n  # unpacking a padded tensor along its first axis (e.g. chunk results)
        return [CLEAN] * n

    def _index_nodes(self, node: ast.Subscript) -> list[ast.expr]:
        sl = node.slice
        return list(sl.elts) if isinstance(sl, ast.Tuple) else [sl]

    def assign_subscript(self, target: ast.Subscript, value: Value) -> None:
        """``y[~mask] = -100`` pads targets with a known value; ``mask[i, :l] = 1`` builds a length mask."""
        if not isinstance(target.value, ast.Name):
            self.eval(target.value)
            return
        name = target.value.id
        base = self.lookup(name)
        indices = [self.eval_index(el) for el in self._index_nodes(target)]
        masks = [v for v in indices if isinstance(v, Mask)]
        if isinstance(base, Fresh):
            bounds = [v for v in indices if isinstance(v, tuple) and v[1] is not None]
            for _, upper in bounds:
                if isinstance(upper, (Unknown, Lengths)):
                    self.frame.env[name] = Mask(MaskRef("lengths", _key_of(upper)))
                    return
        if masks and isinstance(value, Const):
            m = masks[0]
            if isinstance(base, Padded):
                self.frame.env[name] = replace(base, filled=value.value, zeroed=m.ref if value.value == 0 else None,
                                               masked=_is_neg_large(value.value))
            elif m.inverted and not isinstance(base, (Padded, PerStep)):
                self.frame.env[name] = PaddedTarget(trail=(), pad=value.value)
        elif isinstance(base, DictV):
            key = indices[0] if len(indices) == 1 else None
            if isinstance(key, Const):
                items = tuple((k, v) for k, v in base.items if k != key.value) + ((key.value, value),)
                self.frame.env[name] = DictV(items)

    # ------------------------------------------------------------------ expressions
    def eval(self, node: ast.expr | None) -> Value:
        if node is None:
            return Const(None)
        method = getattr(self, "eval_" + type(node).__name__, None)
        if method is None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.eval(child)
            return CLEAN
        return method(node)

    def eval_Name(self, node: ast.Name) -> Value:
        v = self.lookup(node.id)
        if isinstance(v, Ext):
            return self.project.resolve(v.qualname, self.module)
        return v

    def eval_Constant(self, node: ast.Constant) -> Value:
        return Const(node.value)

    def eval_JoinedStr(self, node: ast.JoinedStr) -> Value:
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                self.eval(part.value)
        return CLEAN

    def eval_Tuple(self, node: ast.Tuple) -> Value:
        return TupleV(tuple(self.eval(e) for e in node.elts))

    eval_List = eval_Tuple

    def eval_Set(self, node: ast.Set) -> Value:
        return Many(self._join_all(self.eval(e) for e in node.elts))

    def eval_Dict(self, node: ast.Dict) -> Value:
        items = []
        for k_node, v_node in zip(node.keys, node.values):
            v = self.eval(v_node)
            if k_node is None:
                if isinstance(v, DictV):
                    items.extend(v.items)
                continue
            k = self.eval(k_node)
            if isinstance(k, Const):
                items.append((k.value, v))
        return DictV(tuple(items))

    def eval_Lambda(self, node: ast.Lambda) -> Value:
        return CLEAN

    def eval_Await(self, node: ast.Await) -> Value:
        return self.eval(node.value)

    def eval_Starred(self, node: ast.Starred) -> Value:
        return self.eval(node.value)

    def eval_NamedExpr(self, node: ast.NamedExpr) -> Value:
        v = self.eval(node.value)
        self.assign(node.target, v)
        return v

    def eval_IfExp(self, node: ast.IfExp) -> Value:
        verdict = self.truth(node.test)
        if verdict is True:
            return self.eval(node.body)
        if verdict is False:
            return self.eval(node.orelse)
        return join(self.eval(node.body), self.eval(node.orelse))

    def eval_BoolOp(self, node: ast.BoolOp) -> Value:
        out: Value | None = None
        for v in (self.eval(n) for n in node.values):
            if isinstance(v, Const) and v.value is None:
                continue
            out = v if out is None else join(out, v)
        return out if out is not None else CLEAN

    def _join_all(self, values: Iterable[Value]) -> Value:
        out: Value | None = None
        for v in values:
            out = join(out, v) if out is not None else v
        return out if out is not None else CLEAN

    def _comprehension(self, node, elt_nodes: list[ast.expr]) -> list[Value]:
        saved = dict(self.frame.env)
        for gen in node.generators:
            elem = self.element_of(self.eval(gen.iter))
            self.assign(gen.target, elem)
            for cond in gen.ifs:
                self.eval(cond)
        out = [self.eval(e) for e in elt_nodes]
        self.frame.env = saved
        return out

    def eval_ListComp(self, node: ast.ListComp) -> Value:
        return Many(self._comprehension(node, [node.elt])[0])

    eval_GeneratorExp = eval_ListComp
    eval_SetComp = eval_ListComp

    def eval_DictComp(self, node: ast.DictComp) -> Value:
        self._comprehension(node, [node.key, node.value])
        return CLEAN

    def element_of(self, value: Value) -> Value:
        """What iterating ``value`` yields."""
        if isinstance(value, Loader):
            return value.element
        if isinstance(value, Many):
            return value.elem
        if isinstance(value, TupleV):
            return self._join_all(value.items)
        if isinstance(value, Padded):
            axes = value.axes[1:] if value.axes else None
            return replace(value, axes=axes)
        if isinstance(value, (Unknown, Lengths)):
            return Unknown(_key_of(value))
        if isinstance(value, DictV):
            return CLEAN
        return CLEAN

    def eval_Attribute(self, node: ast.Attribute) -> Value:
        base_node = node.value
        if isinstance(base_node, ast.Name):
            local = f"{base_node.id}.{node.attr}"
            if local in self.frame.env:
                return self.frame.env[local]
        base = self.eval(base_node)
        return self.attribute(base, node.attr, node)

    def attribute(self, base: Value, attr: str, node: ast.AST | None = None) -> Value:
        if isinstance(base, Ext):
            return self.project.resolve(f"{base.qualname}.{attr}", self.module)
        if isinstance(base, Instance):
            return self.project.instance_attr(base, attr)
        if isinstance(base, Super):
            fid = self.project.lookup_method(base.class_id, attr, skip_self=True)
            return BoundMethod(fid, base.self_value) if fid else CLEAN
        if isinstance(base, ClassRef):
            fid = self.project.lookup_method(base.class_id, attr)
            return FuncRef(fid) if fid else self.project.class_attr(base.class_id, attr)
        if isinstance(base, Packed):
            if attr == "data":
                return Dropped(MaskRef("packed", base.lengths), base.trail)
            return CLEAN
        if isinstance(base, Padded):
            if attr == "T":
                return self.tensor_method(base, "t", [], {}, node)
            if attr == "shape":
                return ShapeOf(base.axes)
            if attr in ("device", "dtype", "is_cuda", "ndim"):
                return CLEAN
            return base
        if isinstance(base, TupleV):
            if attr in ("values", "output", "last_hidden_state", "logits") and base.items:
                return base.items[0]
            if attr == "indices" and len(base.items) > 1:
                return base.items[1]
            return CLEAN
        if isinstance(base, DictV):
            v = base.get(attr)
            return v if v is not None else CLEAN
        if isinstance(base, (Mask, Lengths, Unknown, Arange, PaddedTarget, Fresh, LossFn)):
            if attr in ("shape", "device", "dtype"):
                return CLEAN
            if isinstance(base, Unknown):
                key = f"{base.key}.{attr}" if base.key else None
                return Unknown(key)
            return base
        return CLEAN

    def eval_Subscript(self, node: ast.Subscript) -> Value:
        base = self.eval(node.value)
        indices = [self.eval_index(el) for el in self._index_nodes(node)]
        return self.subscript(base, indices, node)

    def eval_index(self, sl: ast.expr) -> object:
        """An index element: a Value, or ('slice', bound) for slices (bound None when absent or constant)."""
        if isinstance(sl, ast.Slice):
            lower = self.eval(sl.lower) if sl.lower is not None else None
            upper = self.eval(sl.upper) if sl.upper is not None else None
            if sl.step is not None:
                self.eval(sl.step)
            bound = None
            for b in (upper, lower):
                if b is not None and not isinstance(b, Const):
                    bound = b
            return ("slice", bound)
        if isinstance(sl, ast.Constant) and sl.value is Ellipsis:
            return ("ellipsis", None)
        return self.eval(sl)

    def subscript(self, base: Value, indices: list[object], node: ast.AST) -> Value:
        single = indices[0] if len(indices) == 1 else None
        if isinstance(base, TupleV):
            if isinstance(single, Const) and isinstance(single.value, int):
                try:
                    return base.items[single.value]
                except IndexError:
                    return CLEAN
            if isinstance(single, tuple):
                return base
            return self._join_all(base.items)
        if isinstance(base, DictV):
            if isinstance(single, Const):
                v = base.get(single.value)
                return v if v is not None else CLEAN
            return CLEAN
        if isinstance(base, ShapeOf):
            if base.axes and isinstance(single, Const) and isinstance(single.value, int):
                d = _norm_dim(single.value, len(base.axes))
                if d is not None and base.axes[d] == TIME:
                    return TimeLen()
            return CLEAN
        if isinstance(base, Many):
            return base.elem if not isinstance(single, tuple) else base
        if isinstance(base, Loader):
            return base.element
        masks = [v for v in indices if isinstance(v, Mask)]
        if isinstance(base, Padded):
            if masks:
                ref = masks[0].ref
                conflict = ""
                if ref.kind == "lengths" and ref.origin and base.lengths and ref.origin != base.lengths:
                    conflict = (f"the mask is built from `{_short(ref.origin)}` but the output was unpacked with "
                                f"`{_short(base.lengths)}`")
                return Dropped(ref, base.trail + (self.step(node, "boolean-indexed"),), conflict)
            if len(indices) == 1 and isinstance(single, Unknown):
                # `out[m]` with an index packlint cannot see into (a helper's mask, batch["mask"]): most often a
                # boolean mask. Reordering (`out[unsort_idx]`) uses a sort permutation, which is tracked as Perm.
                return Dropped(MaskRef("unknown", single.key), base.trail)
            return self.subscript_padded(base, indices, node)
        if isinstance(base, PerStep):
            if masks or any(isinstance(v, Unknown) for v in indices):
                return CLEAN
            return base
        if isinstance(base, PaddedTarget):
            if masks:
                return Dropped(masks[0].ref)
            if any(isinstance(v, tuple) and v[0] == "slice" and v[1] is not None for v in indices):
                return CLEAN
            return base
        if isinstance(base, (Mask, MaskBias, Arange)):
            return base
        if isinstance(base, Perm):
            return base
        if isinstance(base, (Unknown, Lengths, Fresh)):
            if masks:
                return Dropped(masks[0].ref)
            if len(indices) == 1 and isinstance(single, Unknown) and isinstance(base, Unknown):
                return Dropped(MaskRef("unknown", single.key))
            if all(isinstance(v, tuple) or (isinstance(v, Const) and v.value is None) for v in indices):
                return base
            if isinstance(base, Unknown) and base.key:
                return Unknown(f"{base.key}[{self.text(node.slice, 24) if hasattr(node, 'slice') else ''}]")
            return Unknown(None)
        if isinstance(base, Packed):
            return CLEAN
        return CLEAN

    def subscript_padded(self, base: Padded, indices: list[object], node: ast.AST) -> Value:
        """Indexing a padded tensor: slices keep padding, ``[:, -1]`` reads a padded step, a gather is clean."""
        axes = base.axes
        if axes is None:
            if any(isinstance(v, tuple) and v[0] == "slice" and v[1] is not None for v in indices):
                return CLEAN
            return base
        if base.mismatch is not None and any(not isinstance(v, tuple) and not (isinstance(v, Const) and v.value is None)
                                             for v in indices[:2]):
            self.emit_batch_first(base)  # indexing a batch or a step as if the layout were the packing side's
        out_axes: list[str] = []
        i = 0
        clean = False
        for idx in indices:
            if isinstance(idx, tuple) and idx[0] == "ellipsis":
                remaining = len([x for x in indices[indices.index(idx) + 1:] if not (isinstance(x, Const) and x.value is None)])
                keep = max(0, len(axes) - i - remaining)
                out_axes.extend(axes[i:i + keep])
                i += keep
                continue
            if isinstance(idx, Const) and idx.value is None:
                out_axes.append("1")
                continue
            label = axes[i] if i < len(axes) else FEAT
            i += 1
            if isinstance(idx, tuple):  # a slice
                if idx[1] is not None and label == TIME:
                    clean = True  # trimmed to a length: out[i, :l]
                out_axes.append(label)
                continue
            if isinstance(idx, TimeLen):
                idx = Const(idx.offset)  # T - 1 is the same step as -1
            if isinstance(idx, Const) and isinstance(idx.value, int):
                if label == TIME:
                    if idx.value == -1:
                        self.emit(Event("last-step", *self._loc(node), status="padded", subject=self.text(node),
                                        trail=base.trail, details=(("layout", "".join(axes)),)))
                        if base.mismatch is not None:
                            self.emit_batch_first(base)
                    clean = True
                    continue
                if label == BATCH and base.mismatch is not None:
                    self.emit_batch_first(base)
                continue  # integer on batch or feature axis drops it
            # a tensor index
            if label == TIME:
                clean = True  # gathered at an index (lengths - 1): one real step per row
                if base.bidirectional and not any(isinstance(v, tuple) and v[1] is not None for v in indices[i:]):
                    self.emit(Event("last-step", *self._loc(node), status="bidirectional", subject=self.text(node),
                                    trail=base.trail, details=(("layout", "".join(axes)),)))
            else:
                out_axes.append(label)
        out_axes.extend(axes[i:])
        if clean:
            return CLEAN
        return replace(base, axes=tuple(out_axes))

    def _loc(self, node: ast.AST) -> tuple[str, int, int]:
        line, col = self.pos(node)
        return (self.module.path, line, col)

    def emit_batch_first(self, value: Padded) -> None:
        step = value.mismatch
        assert step is not None
        self.emit(Event("batch-first", step.path, step.line, step.col, status="mismatch", subject=step.what,
                        trail=value.trail))

    def eval_UnaryOp(self, node: ast.UnaryOp) -> Value:
        v = self.eval(node.operand)
        if isinstance(node.op, (ast.Invert, ast.Not)):
            if isinstance(v, Mask):
                return replace(v, inverted=not v.inverted)
            return v if not isinstance(node.op, ast.Not) else CLEAN
        if isinstance(node.op, ast.USub) and isinstance(v, Const) and isinstance(v.value, (int, float)):
            return Const(-v.value)
        return v

    def eval_BinOp(self, node: ast.BinOp) -> Value:
        left, right = self.eval(node.left), self.eval(node.right)
        return self.binop(_BINOPS.get(type(node.op), ""), left, right, node)

    def binop(self, op: str, left: Value, right: Value, node: ast.AST) -> Value:
        if op == "MatrixMultiply":
            return self.matmul(left, right)
        if isinstance(left, ZeroedReduce):
            if left.op == "mean" and op == "Divide" and isinstance(right, MaskFrac):
                self.frame.resolved.add(left.step)  # mean / mask.mean() == sum / count
                return CLEAN
            if left.op == "mean" and op == "Multiply" and isinstance(right, Numel):
                self.frame.resolved.add(left.step)  # mean * numel == sum: exact until divided
                return ZeroedReduce("sum", left.step, left.trail)
            if left.op == "sum" and op == "Divide" and isinstance(right, Numel):
                step = left.step
                self.emit(Event("reduce", step.path, step.line, step.col, status="zeroed-mean",
                                subject=self.text(node), callee="sum", trail=left.trail,
                                details=(("numel", True),)))
                return CLEAN
            return left if op in ("Multiply", "Add", "Subtract") and isinstance(right, Const) else CLEAN
        if isinstance(left, TimeSum) and isinstance(right, TimeLen) and op == "Divide":
            path, line, col = left.node_pos
            self.emit(Event("pool", path, line, col, status="padded", subject=self.text(node), callee="mean",
                            trail=left.trail, details=(("op", "mean"), ("pad", 0.0), ("zeroed", False),
                                                       ("filled", None), ("nonneg", False), ("layout", ""))))
            return CLEAN
        if isinstance(left, TimeLen) and isinstance(right, Const) and isinstance(right.value, int) and op in (
                "Add", "Subtract"):
            return TimeLen(left.offset + (right.value if op == "Add" else -right.value))
        if isinstance(left, Const) and isinstance(right, Const):
            try:
                a, b = left.value, right.value
                return Const({"Add": lambda: a + b, "Subtract": lambda: a - b, "Multiply": lambda: a * b}
                             .get(op, lambda: None)())
            except Exception:  # noqa: BLE001
                return CLEAN
        # masks: arithmetic that keeps them masks, or turns them into additive biases
        for m, other in ((left, right), (right, left)):
            if isinstance(m, Mask) and isinstance(other, (Const, Mask, Unknown)) and not isinstance(other, Unknown):
                if op in ("Subtract", "Add") and isinstance(other, Const):
                    return MaskBias(m.ref) if (op == "Subtract" and m is left) else replace(m, inverted=not m.inverted)
                if op == "Multiply" and isinstance(other, Const) and _is_neg_large(other.value):
                    return MaskBias(m.ref)
                if op in ("Multiply", "BitAnd") and isinstance(other, (Mask, Const)):
                    return m
            if isinstance(m, MaskBias) and op == "Multiply":
                return m
        if isinstance(left, Const) and isinstance(right, Mask) and op == "Subtract":
            return replace(right, inverted=not right.inverted)  # 1 - mask: ones at padding
        if op == "Multiply":
            for a, b in ((left, right), (right, left)):
                if isinstance(a, Mask) and a.inverted and isinstance(b, Const) and _is_neg_large(b.value):
                    return MaskBias(a.ref)
        # padded values
        for p, other in ((left, right), (right, left)):
            if isinstance(p, PerStep):
                ref = self.mask_ref_of(other)
                if op == "Multiply" and ref is not None:
                    return replace(p, zeroed=ref)
                return p
        for p, other in ((left, right), (right, left)):
            if isinstance(p, Padded):
                if isinstance(other, Padded) and other is not p and p is right:
                    p, other = left, right  # keep the left operand's layout
                if op == "Multiply":
                    ref = self.mask_ref_of(other)
                    if ref is not None:
                        if p.pending:
                            self.frame.resolved.update(p.pending)
                        return replace(p, zeroed=ref, pad=0.0 if p.pad is not None else None)
                    return replace(p, pad=None if not isinstance(other, Const) else p.pad)
                if op in ("Add", "Subtract") and isinstance(other, MaskBias):
                    return replace(p, masked=True)
                if op == "Divide":
                    return p
                return replace(p, pad=None if not (isinstance(other, Const) and other.value == 0) else p.pad)
        if isinstance(left, PaddedTarget) or isinstance(right, PaddedTarget):
            target = left if isinstance(left, PaddedTarget) else right
            other = right if target is left else left
            if op == "Multiply" and isinstance(other, Mask):
                return replace(target, zeroed=other.ref)
            return target
        if isinstance(left, Dropped):
            return left
        if isinstance(right, Dropped):
            return right
        if isinstance(left, Fresh) or isinstance(right, Fresh):
            return Fresh()
        if isinstance(left, (Unknown, Lengths)) and _key_of(left) and isinstance(right, Const) and op in (
                "Add", "Subtract"):
            return Unknown(f"{_key_of(left)} {'+' if op == 'Add' else '-'} {right.value}")  # `lengths - 1`
        return CLEAN

    def mask_ref_of(self, v: Value) -> MaskRef | None:
        """The mask a multiplication zeroes with: a derived mask, or an unknown tensor given the benefit of doubt."""
        if isinstance(v, Mask):
            return v.ref
        if isinstance(v, Unknown):
            return MaskRef("unknown", v.key)
        return None

    def eval_Compare(self, node: ast.Compare) -> Value:
        left = self.eval(node.left)
        result: Value = CLEAN
        for op, comp in zip(node.ops, node.comparators):
            right = self.eval(comp)
            result = self.compare(_CMPOPS.get(type(op), ""), left, right)
            left = right
        return result

    def compare(self, op: str, left: Value, right: Value) -> Value:
        """Masks are recognised by what they compare: a time index with lengths, or tokens with a pad value."""
        flip = {"LessThan": "GreaterThan", "GreaterThan": "LessThan", "LessThanEqual": "GreaterThanEqual",
                "GreaterThanEqual": "LessThanEqual"}
        if isinstance(right, Arange) and not isinstance(left, Arange):
            left, right, op = right, left, flip.get(op, op)
        if isinstance(left, Arange) and isinstance(right, (Unknown, Lengths)):
            if op in ("LessThan",):
                return Mask(MaskRef("lengths", _key_of(right)))
            if op in ("GreaterThanEqual",):
                return Mask(MaskRef("lengths", _key_of(right)), inverted=True)
            return CLEAN
        if isinstance(left, Padded) and isinstance(right, Const) and isinstance(left.pad, (int, float)) and \
                right.value == left.pad and op in ("Equal", "NotEqual"):
            # `out == 0` on a zero-padded output marks the padded steps (and any exact zeros, which is harmless)
            return Mask(MaskRef("pad", left.lengths, left.pad), inverted=op == "Equal")
        if isinstance(left, (Padded, Mask, Const, Arange)) or isinstance(left, PerStep):
            return CLEAN
        if isinstance(left, (Unknown, PaddedTarget, Lengths)):
            pad = right.value if isinstance(right, Const) else None
            key = _key_of(left) if not isinstance(left, PaddedTarget) else "target"
            if isinstance(left, PaddedTarget):
                pad = left.pad if pad is None else pad
            ref = MaskRef("pad", key, pad)
            if isinstance(right, (Const, Unknown)) and not isinstance(right, Padded):
                if op in ("NotEqual", "GreaterThan", "GreaterThanEqual"):
                    return Mask(ref)
                if op == "Equal":
                    return Mask(ref, inverted=True)
        return CLEAN

    # ------------------------------------------------------------------ calls
    def eval_Call(self, node: ast.Call) -> Value:
        pos: list[Value] = []
        kw: dict[str, Value] = {}
        pos_nodes: list[ast.expr] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                v = self.eval(arg.value)
                pos.append(Many(v) if not isinstance(v, TupleV) else v)
            else:
                pos.append(self.eval(arg))
            pos_nodes.append(arg)
        for keyword in node.keywords:
            v = self.eval(keyword.value)
            if keyword.arg is not None:
                kw[keyword.arg] = v
            elif isinstance(v, DictV):
                for k, item in v.items:
                    if isinstance(k, str):
                        kw[k] = item
        call = CallSite(node, pos, kw, pos_nodes)
        func = node.func
        if isinstance(func, ast.Attribute):
            base = self.eval(func.value)
            if isinstance(base, Instance) and func.attr in _MODULE_RETURNS_SELF and not \
                    self.project.lookup_method(base.class_id, func.attr):
                return base  # nn.Module.to()/train()/cuda() return the module itself
            if isinstance(base, (Ext, Instance, Super, ClassRef)):
                callee = self.attribute(base, func.attr, func)
                return self.call_value(callee, call, attr_callee=isinstance(base, Instance))
            return self.call_method(base, func.attr, call)
        callee = self.eval(func)
        return self.call_value(callee, call, attr_callee=False)

    def call_value(self, callee: Value, call: "CallSite", attr_callee: bool) -> Value:
        if isinstance(callee, Ext):
            return self.call_ext(callee.qualname, call)
        if isinstance(callee, FuncRef):
            return self.call_project(callee.func_id, call.pos, call)
        if isinstance(callee, BoundMethod):
            return self.call_project(callee.func_id, [callee.self_value, *call.pos], call)
        if isinstance(callee, ClassRef):
            init = self.project.lookup_method(callee.class_id, "__init__")
            inst = Instance(callee.class_id)
            if init:
                self.call_project(init, [inst, *call.pos], call)
            return inst
        if isinstance(callee, Instance):
            fid = self.project.lookup_method(callee.class_id, "__call__") or \
                self.project.lookup_method(callee.class_id, "forward")
            if fid:
                return self.call_project(fid, [callee, *call.pos], call)
            return self.opaque_layer(call)
        if isinstance(callee, ExtObj):
            return self.call_extobj(callee.qualname, call, callee.flags)
        if isinstance(callee, LossFn):
            return self.loss_call(callee.qualname, call, callee)
        if isinstance(callee, Super):
            return callee
        if attr_callee or isinstance(callee, Unknown):
            # a module held in an attribute, a parameter or a local: layers keep the time axis
            return self.opaque_layer(call)
        self.project.unresolved += 1
        return CLEAN

    def opaque_layer(self, call: "CallSite") -> Value:
        """An unknown module attribute applied to a padded value: layers keep the time axis; pad value unknown."""
        first = call.pos[0] if call.pos else None
        if isinstance(first, Padded):
            return replace(first, pad=None, filled=None, nonneg=False, zeroed=None)
        if isinstance(first, Packed):
            return TupleV((first, CLEAN))
        return CLEAN

    def call_project(self, func_id: str, args: list[Value], call: "CallSite") -> Value:
        line, col = self.pos(call.node)
        site = TrailStep(self.module.path, line, col, self.text(call.node.func, 40))
        ret, events = self.project.analyze_call(func_id, tuple(args), tuple(sorted(call.kw.items())),
                                                depth=self.frame.depth + 1)
        root_keys = self.project.root_event_keys(func_id)
        passes_padding = any(is_tainted(v) for v in args) or any(is_tainted(v) for v in call.kw.values())
        for ev in events:
            if ev.key in root_keys:
                continue
            # A callee that reads padding its caller passed in is reported at the call; one that makes its own
            # padding (an object's forward called through a parameter) is reported where the sink is.
            self.emit(ev.relocated(self.module.path, line, col, site) if passes_padding else ev)
        if isinstance(ret, Padded):
            ret = ret.with_trail(TrailStep(site.path, site.line, site.col, f"{site.what} returns it"))
        return ret

    def call_ext(self, qualname: str, call: "CallSite") -> Value:
        entry = self.tables.callable(qualname)
        if entry is None:
            if qualname.startswith("torch.nn.") and qualname.rsplit(".", 1)[-1][:1].isupper():
                return ExtObj(qualname)
            if qualname in ("print", "len", "range", "isinstance", "max", "min", "int", "float", "str", "dict",
                            "set", "hasattr", "setattr", "round", "abs", "sum", "any", "all", "type", "open"):
                if qualname in ("float",) and call.pos and isinstance(call.pos[0], Const):
                    try:
                        return Const(float(call.pos[0].value))  # float('-inf')
                    except (TypeError, ValueError):
                        return CLEAN
                if qualname in ("max", "int") and call.pos and isinstance(call.pos[0], (Unknown, Lengths)):
                    return Unknown(_key_of(call.pos[0]))
                return CLEAN
            self.project.unresolved += 1
            return CLEAN
        handler = getattr(self, "ext_" + entry.kind.replace("-", "_"))
        return handler(entry, call)

    # ---- transfer functions for table kinds
    def arg(self, call: "CallSite", index: int, name: str) -> Value | None:
        if name in call.kw:
            return call.kw[name]
        if index < len(call.pos):
            return call.pos[index]
        return None

    def ext_source(self, entry: api.Callable, call: "CallSite") -> Value:
        if entry.qualname != f"{api.RNN_UTILS}.pad_packed_sequence":
            bf = _const(call.kw["batch_first"]) if "batch_first" in call.kw else None
            axes = (BATCH, TIME, FEAT) if bf is True else (TIME, BATCH, FEAT) if bf is False else None
            return Padded(trail=(self.step(call.node, self.text(call.node.func, 40)),), axes=axes, pad=None)
        return self.unpack_call(call)

    def unpack_call(self, call: "CallSite") -> Value:
        packed = self.arg(call, 0, "sequence")
        bf = self.arg(call, 1, "batch_first")
        pad = self.arg(call, 2, "padding_value")
        batch_first = _const(bf) if bf is not None else False
        axes = (BATCH, TIME, FEAT) if batch_first is True else (TIME, BATCH, FEAT) if batch_first is False else None
        pad_value = _const(pad) if pad is not None else 0.0
        if pad is not None and not isinstance(pad, Const):
            pad_value = None
        step = self.step(call.node, "pad_packed_sequence")
        mismatch = None
        lengths = None
        if isinstance(packed, Packed):
            lengths = packed.lengths
            if packed.batch_first is not None and isinstance(batch_first, bool) and packed.batch_first != batch_first:
                mismatch = TrailStep(step.path, step.line, step.col,
                                     f"packed with batch_first={packed.batch_first}, unpacked with "
                                     f"batch_first={batch_first}")
        origin = lengths or f"{self.module.path}:{step.line}"
        value = Padded(trail=(step,), axes=axes, pad=float(pad_value) if isinstance(pad_value, (int, float)) else pad_value,
                       mismatch=mismatch, lengths=lengths,
                       bidirectional=isinstance(packed, Packed) and packed.bidirectional)
        return TupleV((value, Lengths(origin)))

    def ext_pack(self, entry: api.Callable, call: "CallSite") -> Value:
        lengths = self.arg(call, 1, "lengths")
        bf = self.arg(call, 2, "batch_first")
        batch_first = _const(bf) if bf is not None else False
        if isinstance(batch_first, bool) and call.pos_nodes and _swaps_first_two_axes(call.pos_nodes[0]):
            # `pack(x.transpose(0, 1), lengths)`: the data is batch-major and was turned time-major only to pack,
            # so unpacking with batch_first=True restores the caller's layout on purpose
            batch_first = not batch_first
        return Packed(trail=(), batch_first=batch_first if isinstance(batch_first, bool) else None,
                      lengths=_key_of(lengths) if lengths is not None else None,
                      pack_step=self.step(call.node, "pack_padded_sequence"))

    def ext_target_source(self, entry: api.Callable, call: "CallSite") -> Value:
        pad = self.arg(call, 2, "padding_value")
        pad_value = _const(pad) if pad is not None else 0
        if pad is not None and not isinstance(pad, Const):
            pad_value = None
        return PaddedTarget(trail=(self.step(call.node, f"pad_sequence(padding_value={pad_value})"),), pad=pad_value)

    def ext_loss(self, entry: api.Callable, call: "CallSite") -> Value:
        return self.loss_call(entry.qualname, call, None)

    def ext_loss_class(self, entry: api.Callable, call: "CallSite") -> Value:
        ii = call.kw.get("ignore_index")
        red = call.kw.get("reduction")
        return LossFn(entry.qualname, ignore_index=ii if ii is not None else None,
                      reduction=str(_const(red)) if red is not None and isinstance(_const(red), str) else "mean",
                      created=self.step(call.node, entry.qualname.rsplit(".", 1)[-1]))

    def ext_masked_loss(self, entry: api.Callable, call: "CallSite") -> Value:
        return CLEAN

    def ext_masked_loss_class(self, entry: api.Callable, call: "CallSite") -> Value:
        return LossFn(entry.qualname)

    def ext_mask_builder(self, entry: api.Callable, call: "CallSite") -> Value:
        first = call.pos[0] if call.pos else None
        return Mask(MaskRef("lengths", _key_of(first) if first is not None else None))

    def ext_propagate(self, entry: api.Callable, call: "CallSite") -> Value:
        if not call.pos:
            return CLEAN
        first = call.pos[0]
        name = entry.qualname.rsplit(".", 1)[-1]
        return self.call_method(first, name, CallSite(call.node, call.pos[1:], call.kw, call.pos_nodes[1:]))

    def ext_layer(self, entry: api.Callable, call: "CallSite") -> Value:
        flags = tuple(sorted(k for k in ("bidirectional", "batch_first") if _const(call.kw.get(k, CLEAN)) is True))
        dim = _const(call.kw.get("dim", call.pos[0] if call.pos else CLEAN))
        if entry.kind == "softmax-layer" and isinstance(dim, int):
            flags += (f"dim={dim}",)
        return ExtObj(entry.qualname, flags)

    ext_biased_layer = ext_layer
    ext_recurrent = ext_layer
    ext_softmax_layer = ext_layer

    def ext_arange(self, entry: api.Callable, call: "CallSite") -> Value:
        return Arange()

    def ext_where(self, entry: api.Callable, call: "CallSite") -> Value:
        cond, a, b = (call.pos + [CLEAN, CLEAN, CLEAN])[:3]
        ref = cond.ref if isinstance(cond, Mask) else self.mask_ref_of(cond)
        for v in (a, b):
            if isinstance(v, PerStep):
                return replace(v, zeroed=ref) if ref is not None else v
            if isinstance(v, Padded):
                other = b if v is a else a
                fill = _const(other)
                if ref is not None:
                    return replace(v, zeroed=ref if fill == 0 else None, filled=fill, masked=_is_neg_large(fill))
                return v
        return join(a, b)

    def ext_masked_select(self, entry: api.Callable, call: "CallSite") -> Value:
        if len(call.pos) >= 2:
            return self.call_method(call.pos[0], "masked_select", CallSite(call.node, call.pos[1:], call.kw, []))
        return CLEAN

    def ext_concat(self, entry: api.Callable, call: "CallSite") -> Value:
        parts = call.pos[0] if call.pos else CLEAN
        if isinstance(parts, TupleV):
            return self._join_all(parts.items)
        if isinstance(parts, Many):
            return parts.elem
        return CLEAN

    def ext_matmul(self, entry: api.Callable, call: "CallSite") -> Value:
        if len(call.pos) < 2:
            return CLEAN
        return self.matmul(call.pos[0], call.pos[1])

    def ext_einsum(self, entry: api.Callable, call: "CallSite") -> Value:
        for v in call.pos[1:]:
            if isinstance(v, Padded):
                return replace(v, axes=None, pad=None)
        return CLEAN

    def ext_softmax(self, entry: api.Callable, call: "CallSite") -> Value:
        if not call.pos:
            return CLEAN
        return self.call_method(call.pos[0], "softmax", CallSite(call.node, call.pos[1:], call.kw, []))

    def ext_reduce(self, entry: api.Callable, call: "CallSite") -> Value:
        if not call.pos:
            return CLEAN
        name = entry.qualname.rsplit(".", 1)[-1]
        return self.call_method(call.pos[0], name, CallSite(call.node, call.pos[1:], call.kw, []))

    def ext_pool1d(self, entry: api.Callable, call: "CallSite") -> Value:
        v = call.pos[0] if call.pos else CLEAN
        if "adaptive" in entry.qualname and _const(self.arg(call, 1, "output_size") or CLEAN) != 1:
            return CLEAN
        if isinstance(v, Padded) and v.axes and v.axes[-1] == TIME:  # pool1d pools the last axis
            op = "max" if "max" in entry.qualname else "mean"
            self.pool(v, op, len(v.axes) - 1, call, func=entry.qualname.rsplit(".", 1)[-1])
        return CLEAN

    def ext_loader(self, entry: api.Callable, call: "CallSite") -> Value:
        collate = call.kw.get("collate_fn")
        if collate is None:
            return Loader(CLEAN)
        element = self.call_value(collate, CallSite(call.node, [Many(CLEAN)], {}, []), attr_callee=False)
        return Loader(element)

    def ext_same(self, entry: api.Callable, call: "CallSite") -> Value:
        return call.pos[0] if call.pos else CLEAN

    def ext_finfo(self, entry: api.Callable, call: "CallSite") -> Value:
        return DictV((("min", Const(-3.4e38)), ("max", Const(3.4e38)), ("eps", Const(1.2e-7))))

    def ext_sort(self, entry: api.Callable, call: "CallSite") -> Value:
        name = entry.qualname.rsplit(".", 1)[-1]
        return self.call_method(call.pos[0] if call.pos else CLEAN, name, CallSite(call.node, call.pos[1:], call.kw, []))

    def ext_fresh(self, entry: api.Callable, call: "CallSite") -> Value:
        if entry.qualname.endswith(("full_like", ".full")):
            fill = self.arg(call, 1, "fill_value")
            if isinstance(fill, Const):
                return fill  # a tensor full of v acts like v in where() and masked_fill()
        return Fresh()

    def ext_super(self, entry: api.Callable, call: "CallSite") -> Value:
        f = self.frame.func
        if f is None or f.class_id is None:
            return CLEAN
        selfv = self.frame.env.get(f.self_name or "self", Instance(f.class_id))
        return Super(f.class_id, selfv)

    def ext_enumerate(self, entry: api.Callable, call: "CallSite") -> Value:
        src = call.pos[0] if call.pos else CLEAN
        return Many(TupleV((CLEAN, self.element_of(src))))

    def ext_zip(self, entry: api.Callable, call: "CallSite") -> Value:
        return Many(TupleV(tuple(self.element_of(v) for v in call.pos)))

    def ext_element(self, entry: api.Callable, call: "CallSite") -> Value:
        return self.element_of(call.pos[0]) if call.pos else CLEAN

    def ext_getattr(self, entry: api.Callable, call: "CallSite") -> Value:
        if len(call.pos) >= 2 and isinstance(call.pos[1], Const) and isinstance(call.pos[1].value, str):
            return self.attribute(call.pos[0], call.pos[1].value)
        return CLEAN

    # ---- external objects
    def call_extobj(self, qualname: str, call: "CallSite", flags: tuple[str, ...] = ()) -> Value:
        entry = self.tables.callable(qualname)
        kind = entry.kind if entry else None
        first = call.pos[0] if call.pos else CLEAN
        if isinstance(first, Padded) and first.mismatch is not None and "batch_first" in flags:
            self.emit_batch_first(first)  # fed to a batch-first layer as if it were batch-major
        if kind == "recurrent":
            if isinstance(first, Packed):
                return TupleV((replace(first, bidirectional="bidirectional" in flags), CLEAN))
            if isinstance(first, Padded):
                return TupleV((replace(first, pad=None, filled=None, zeroed=None, nonneg=False), CLEAN))
            return TupleV((CLEAN, CLEAN))
        if kind in ("layer",) and isinstance(first, Padded):
            if qualname.rsplit(".", 1)[-1] in ("ReLU", "ReLU6"):
                return self.tensor_method(first, "relu", [], {}, call.node)
            return first
        if kind in ("biased-layer",) and isinstance(first, Padded):
            return replace(first, pad=NONZERO if first.pad is not None else None, filled=None, nonneg=False,
                           zeroed=None)
        if kind in ("masked-loss-class",):
            return CLEAN
        if kind == "softmax-layer":
            dims = [f.split("=", 1)[1] for f in flags if f.startswith("dim=")]
            kw = {"dim": Const(int(dims[0]))} if dims else {}
            name = "log_softmax" if qualname.endswith("LogSoftmax") else "softmax"
            return self.call_method(first, name, CallSite(call.node, [], kw, []))
        if kind is None:
            return self.opaque_layer(call)
        return CLEAN

    # ---- losses
    def loss_call(self, qualname: str, call: "CallSite", obj: LossFn | None) -> Value:
        entry = self.tables.callable(qualname)
        if entry is None or entry.kind.startswith("masked-loss"):
            return CLEAN
        pred = self.arg(call, entry.pred_arg, "input") or CLEAN
        target = self.arg(call, entry.target_arg, "target") or CLEAN
        ii_value = call.kw.get("ignore_index") if obj is None else obj.ignore_index
        reduction = _const(call.kw["reduction"]) if "reduction" in call.kw else (obj.reduction if obj else "mean")
        explicit = ii_value is not None
        ii = _const(ii_value) if explicit else api.DEFAULT_IGNORE_INDEX
        verdict = assess_loss(pred, target, honours_ignore_index=entry.ignore_index, ignore_explicit=explicit,
                              ignore_index=ii)
        line, col = self.pos(call.node)
        callee = self.text(call.node.func, 40)
        subj = self.text(call.pos_nodes[entry.pred_arg]) if len(call.pos_nodes) > entry.pred_arg else "input"
        if verdict.status == "mismatch" or (verdict.status == "padded" and reduction != "none"):
            self.emit(Event("loss", self.module.path, line, col, status=verdict.status, subject=subj, callee=callee,
                            reason=verdict.reason, trail=verdict.trail,
                            details=(("target", self.text(call.pos_nodes[entry.target_arg]) if len(call.pos_nodes) >
                                      entry.target_arg else "target"),)), call.node)
            return CLEAN
        if reduction == "none":
            if verdict.status == "padded":
                return PerStep(trail=verdict.trail + (TrailStep(self.module.path, line, col,
                                                                f"{callee}(reduction='none')"),),
                               padded=True, source=verdict.reason)
            if verdict.status == "ignored":
                return PerStep(trail=(), padded=False, zeroed=MaskRef("pad", None, ii))
        return CLEAN

    # ------------------------------------------------------------------ tensor methods
    def call_method(self, base: Value, name: str, call: "CallSite") -> Value:
        if name in ("numel", "nelement") and isinstance(base, (Padded, PerStep, Mask, Unknown, PaddedTarget, Fresh)):
            return Numel()
        if name == "mean" and isinstance(base, Mask) and not call.pos and "dim" not in call.kw:
            return MaskFrac()
        if isinstance(base, LossFn):
            if name in ("to", "cuda", "cpu", "float", "double"):
                return base
            if name == "forward":
                return self.loss_call(base.qualname, call, base)
            return CLEAN
        if isinstance(base, ExtObj):
            if name in ("to", "cuda", "cpu", "float", "double", "train", "eval"):
                return base
            if name == "forward":
                return self.call_extobj(base.qualname, call, base.flags)
            return CLEAN
        if isinstance(base, DictV):
            if name == "get" and call.pos and isinstance(call.pos[0], Const):
                v = base.get(call.pos[0].value)
                return v if v is not None else (call.pos[1] if len(call.pos) > 1 else Const(None))
            if name == "values":
                return Many(self._join_all(v for _, v in base.items))
            if name == "items":
                return Many(TupleV((CLEAN, self._join_all(v for _, v in base.items))))
            return CLEAN
        if isinstance(base, (TupleV, Many, Loader, Const, Instance, ClassRef, FuncRef, BoundMethod, Super)):
            if isinstance(base, Many) and name in ("pop",):
                return base.elem
            return CLEAN
        kind = self.tables.methods.get(name)
        if isinstance(base, Padded):
            return self.tensor_method(base, name, call.pos, call.kw, call.node, call)
        if isinstance(base, PerStep):
            return self.perstep_method(base, name, kind, call)
        if isinstance(base, Mask):
            if kind in ("invert",) or (kind == "compare-eq" and call.pos and _const(call.pos[0]) in (0, False)):
                return replace(base, inverted=not base.inverted)
            if kind == "log":
                return MaskBias(base.ref)
            if kind in ("reduce", "opaque"):
                return CLEAN
            return base
        if isinstance(base, MaskBias):
            return base
        if isinstance(base, Arange):
            if kind and kind.startswith("compare-"):
                return self.compare(_METHOD_COMPARE[kind], base, call.pos[0] if call.pos else CLEAN)
            return base
        if isinstance(base, Packed):
            if name in ("to", "cuda", "cpu"):
                return base
            return CLEAN
        if isinstance(base, PaddedTarget):
            if kind and kind.startswith("compare-"):
                return self.compare(_METHOD_COMPARE[kind], base, call.pos[0] if call.pos else CLEAN)
            if kind == "masked-fill" and call.pos and isinstance(call.pos[0], Mask) and len(call.pos) > 1:
                return PaddedTarget(trail=base.trail, pad=_const(call.pos[1]))
            if kind == "masked-select" and call.pos and isinstance(call.pos[0], Mask):
                return Dropped(call.pos[0].ref)
            if kind in ("keep", "reshape", "flatten", "reshape-unknown", "squeeze", "unsqueeze", "transpose",
                        "permute", "transpose2d", None):
                return base
            return CLEAN
        if isinstance(base, Dropped):
            if kind in ("reduce", "opaque"):
                return CLEAN
            return base
        if name in ("sort", "argsort") and isinstance(base, (Unknown, Lengths, Perm)):
            return Perm() if name == "argsort" else TupleV((Unknown(_key_of(base)), Perm()))
        if isinstance(base, Perm):
            return base
        if isinstance(base, (Unknown, Lengths, Fresh)):
            if kind and kind.startswith("compare-"):
                return self.compare(_METHOD_COMPARE[kind], base, call.pos[0] if call.pos else CLEAN)
            if kind == "masked-fill" and call.pos and isinstance(call.pos[0], Mask) and call.pos[0].inverted \
                    and len(call.pos) > 1 and isinstance(call.pos[1], Const):
                return PaddedTarget(trail=(), pad=call.pos[1].value)
            if kind == "masked-select" and call.pos and isinstance(call.pos[0], Mask):
                return Dropped(call.pos[0].ref)
            if kind in ("keep", "reshape", "flatten", "squeeze", "unsqueeze", "reshape-unknown", "transpose",
                        "permute"):
                return base
            if isinstance(base, Fresh):
                return base if kind not in ("reduce", "opaque") else CLEAN
            return Unknown(None)
        return CLEAN

    def perstep_method(self, base: PerStep, name: str, kind: str | None, call: "CallSite") -> Value:
        if kind == "reduce":
            dim = self.dim_arg(call)
            if base.zeroed is not None:
                step = self.step(call.node, f"{name}()")
                if name == "mean":
                    self.emit(Event("reduce", step.path, step.line, step.col, status="zeroed-mean",
                                    subject=self.text(call.node, 60), callee=name, trail=base.trail,
                                    details=(("partial", dim is not None),)))
                    return ZeroedReduce("mean", step, base.trail) if dim is None else CLEAN
                return ZeroedReduce("sum", step, base.trail) if dim is None and name == "sum" else CLEAN
            if base.padded:
                if dim is not None:
                    return base
                self.emit(Event("reduce", *self._loc(call.node), status="padded", subject=self.text(call.node, 60),
                                callee=name, reason=base.source, trail=base.trail), call.node)
                return CLEAN
            return CLEAN
        if kind == "masked-fill" and call.pos:
            ref = self.mask_ref_of(call.pos[0]) if not isinstance(call.pos[0], Mask) else call.pos[0].ref
            if ref is not None and len(call.pos) > 1 and _const(call.pos[1]) == 0:
                return replace(base, zeroed=ref)
            return base
        if kind == "mul" and call.pos:
            return self.binop("Multiply", base, call.pos[0], call.node)
        if kind == "masked-select":
            return CLEAN
        if kind == "opaque":
            return CLEAN
        return base

    def dim_arg(self, call: "CallSite") -> object:
        d = call.kw.get("dim", call.kw.get("axis"))
        if d is None and call.pos:
            d = call.pos[0]
        if d is None:
            return None
        c = _const(d)
        if isinstance(d, TupleV):
            return tuple(_const(x) for x in d.items)
        return c if c is not None else "unknown"

    def tensor_method(self, base: Padded, name: str, pos: list[Value], kw: dict[str, Value], node: ast.AST,
                      call: "CallSite | None" = None) -> Value:
        call = call or CallSite(node, pos, kw, [])
        kind = self.tables.methods.get(name)
        axes = base.axes
        if name == "size" and axes is not None:
            d = _norm_dim(_const(kw.get("dim", pos[0] if pos else CLEAN)), len(axes))
            if d is not None and axes[d] == TIME:
                return TimeLen()
            return CLEAN if pos or "dim" in kw else ShapeOf(axes)
        if kind in ("keep", None):
            if kind is None and name not in ("data",):
                return replace(base, pad=None if base.pad != 0 else base.pad)
            return base
        if kind in ("reshape", "flatten"):
            dims = [_const(v) for v in pos]
            if len(pos) == 1 and isinstance(pos[0], TupleV):
                dims = [_const(v) for v in pos[0].items]
            flattening = kind == "flatten" or (-1 in dims and len(dims) <= 2)
            if flattening:
                if base.mismatch is not None:
                    self.emit_batch_first(base)
                if kind == "flatten" and len(dims) >= 2 and dims[:2] != [0, 1]:
                    return replace(base, axes=None)
                new_axes = (FLAT, FEAT) if len(dims) == 2 or (kind == "flatten" and len(dims) >= 2) else (FLAT,)
                return replace(base, axes=new_axes)
            if axes is not None and len(dims) == len(axes):
                return base
            return replace(base, axes=None)
        if kind == "reshape-unknown":
            return replace(base, axes=None)
        if kind in ("transpose", "transpose2d"):
            if kind == "transpose2d":
                a, b = 0, 1
            else:
                a, b = (_const(pos[0]) if pos else None), (_const(pos[1]) if len(pos) > 1 else None)
            if axes is None or not isinstance(a, int) or not isinstance(b, int):
                return replace(base, axes=None)
            ia, ib = _norm_dim(a, len(axes)), _norm_dim(b, len(axes))
            if ia is None or ib is None:
                return replace(base, axes=None)
            new = list(axes)
            new[ia], new[ib] = new[ib], new[ia]
            swapped = {axes[ia], axes[ib]} == {BATCH, TIME}
            return replace(base, axes=tuple(new), mismatch=None if swapped else base.mismatch)
        if kind == "permute":
            order = [_const(v) for v in pos]
            if len(pos) == 1 and isinstance(pos[0], TupleV):
                order = [_const(v) for v in pos[0].items]
            if axes is None or len(order) != len(axes) or not all(isinstance(o, int) for o in order):
                return replace(base, axes=None)
            try:
                new = tuple(axes[o] for o in order)
            except IndexError:
                return replace(base, axes=None)
            moved = axes.index(BATCH) != new.index(BATCH) if BATCH in axes and BATCH in new else False
            return replace(base, axes=new, mismatch=None if moved else base.mismatch)
        if kind == "squeeze":
            if axes is None:
                return base
            if pos or "dim" in kw:
                d = _norm_dim(_const(kw.get("dim", pos[0] if pos else CLEAN)), len(axes))
                if d is None or axes[d] in (TIME, BATCH):
                    return replace(base, axes=None) if d is None else base
                return replace(base, axes=axes[:d] + axes[d + 1:])
            new = tuple(a for a in axes if a != "1")
            if new == axes and axes and axes[-1] == FEAT:
                new = axes[:-1]
            return replace(base, axes=new)
        if kind == "unsqueeze":
            d = _const(kw.get("dim", pos[0] if pos else CLEAN))
            if axes is None or not isinstance(d, int):
                return replace(base, axes=None)
            n = len(axes) + 1
            d = d + n if d < 0 else d
            if not 0 <= d < n:
                return replace(base, axes=None)
            return replace(base, axes=axes[:d] + ("1",) + axes[d:])
        if kind == "split":
            return Many(base)
        if kind in ("softmax", "log-softmax"):
            d = _const(kw.get("dim", pos[0] if pos else CLEAN))
            t = base.time_axis
            if kind == "softmax" and t is not None and isinstance(d, int) and _norm_dim(d, len(axes)) == t:
                if not base.masked:
                    step = self.step(node, "softmax over padded steps")
                    self.emit(Event("softmax", step.path, step.line, step.col, status="padded",
                                    subject=self.text(node, 60),
                                    trail=base.trail))
                    # pad unknown: the leak is reported here once, not again at every pooling of these weights
                    return replace(base, pad=None, pending=base.pending + (step,), masked=False, filled=None)
                return replace(base, pad=0.0, masked=False, filled=None, nonneg=True)
            return replace(base, pad=NONZERO, filled=None, nonneg=kind == "softmax", masked=False, zeroed=None)
        if kind == "nonneg":
            pad = 0.0 if base.pad in (0.0, 0) or (isinstance(base.pad, float) and base.pad < 0) else base.pad
            return replace(base, nonneg=True, pad=pad if name == "relu" else base.pad)
        if kind in ("keep-nonzero", "log"):
            return replace(base, pad=NONZERO if base.pad is not None else None, nonneg=kind != "log", filled=None)
        if kind == "reduce":
            return self.reduce(base, name, call)
        if kind == "masked-fill":
            m = pos[0] if pos else CLEAN
            fill = _const(pos[1]) if len(pos) > 1 else _const(kw.get("value", CLEAN))
            ref = m.ref if isinstance(m, Mask) else self.mask_ref_of(m)
            if ref is None:
                return base
            return replace(base, filled=fill, zeroed=ref if fill == 0 else base.zeroed,
                           masked=_is_neg_large(fill), pad=fill if isinstance(fill, (int, float)) else None)
        if kind == "masked-select":
            m = pos[0] if pos else CLEAN
            if isinstance(m, Mask):
                return Dropped(m.ref, base.trail)
            if isinstance(m, Unknown):
                return Dropped(MaskRef("unknown", m.key), base.trail)
            return base
        if kind == "mul":
            return self.binop("Multiply", base, pos[0] if pos else CLEAN, node)
        if kind == "div":
            return self.binop("Divide", base, pos[0] if pos else CLEAN, node)
        if kind == "add":
            return self.binop("Add", base, pos[0] if pos else CLEAN, node)
        if kind == "gather":
            d = _const(kw.get("dim", pos[0] if pos else CLEAN))
            if axes is not None and isinstance(d, int) and _norm_dim(d, len(axes)) == base.time_axis:
                if base.bidirectional:
                    self.emit(Event("last-step", *self._loc(node), status="bidirectional", subject=self.text(node),
                                    trail=base.trail, details=(("layout", "".join(axes)),)))
                return CLEAN
            return replace(base, axes=None)
        if kind == "index-select":
            d = _const(kw.get("dim", pos[0] if pos else CLEAN))
            if base.mismatch is not None and d in (0, 1):
                self.emit_batch_first(base)
            if axes is not None and isinstance(d, int) and _norm_dim(d, len(axes)) == base.time_axis:
                return CLEAN
            return base
        if kind == "matmul":
            return self.matmul(base, pos[0] if pos else CLEAN)
        if kind and kind.startswith("compare-"):
            return CLEAN
        if kind == "opaque":
            return CLEAN
        return base

    def reduce(self, base: Padded, name: str, call: "CallSite") -> Value:
        dim = self.dim_arg(call)
        axes = base.axes
        if dim is None:
            return CLEAN
        if axes is None or dim == "unknown":
            return CLEAN
        dims = dim if isinstance(dim, tuple) else (dim,)
        norm = [_norm_dim(d, len(axes)) for d in dims]
        if any(d is None for d in norm):
            return CLEAN
        if base.time_axis in norm:
            self.pool(base, name, base.time_axis, call)
            if name in ("max", "min") and "keepdim" not in call.kw:
                return TupleV((CLEAN, CLEAN))
            if name == "sum":
                return TimeSum(base.trail, self._loc(call.node))
            return CLEAN
        keep = tuple(a for i, a in enumerate(axes) if i not in norm)
        if _const(call.kw.get("keepdim", Const(False))) is True:
            keep = axes
        out = replace(base, axes=keep)
        if name in ("max", "min") and "keepdim" not in call.kw:
            return TupleV((out, CLEAN))
        return out

    def pool(self, base: Padded, op: str, axis: int, call: "CallSite", func: str | None = None) -> None:
        self.emit(Event("pool", *self._loc(call.node), status="padded", subject=self.text(call.node),
                        callee=func or op, trail=base.trail,
                        details=(("op", op), ("pad", base.pad), ("zeroed", base.zeroed is not None),
                                 ("filled", base.filled), ("nonneg", base.nonneg),
                                 ("layout", "".join(base.axes or ())))))

    def matmul(self, a: Value, b: Value) -> Value:
        """Scores keep the time axis of the padded operand: ``bmm(out, q)`` (B,T,1); ``bmm(q, out^T)`` (B,1,T)."""
        pa, pb = isinstance(a, Padded), isinstance(b, Padded)
        if not pa and not pb:
            return CLEAN
        if pa and pb:
            assert isinstance(a, Padded) and isinstance(b, Padded)
            if a.axes and b.axes and len(b.axes) >= 2 and a.axes[-1] == TIME and b.axes[-2] == TIME:
                return CLEAN  # weights (.., T) @ values (T, H): a weighted sum over time, the context vector
            if a.axes and b.axes:
                left = tuple(QUERY if x == TIME else x for x in a.axes[:-1])
                return replace(a, axes=left + (b.axes[-1],), pad=None, filled=None, masked=False, zeroed=None)
            return replace(a, axes=None, pad=None)
        if pa:
            assert isinstance(a, Padded)
            axes = a.axes[:-1] + (FEAT,) if a.axes else None
            return replace(a, axes=axes, pad=0.0 if a.pad in (0, 0.0) else None, filled=None, masked=False)
        assert isinstance(b, Padded)
        if b.axes and len(b.axes) >= 2:
            axes = b.axes[:-2] + (FEAT, b.axes[-1])
        else:
            axes = None
        if b.axes and b.axes[-1] != TIME:
            # query @ values over time: (B,1,T) @ (B,T,H) sums over time: the context vector
            return CLEAN if b.zeroed is not None or b.pad in (0, 0.0) else replace(b, axes=None)
        return replace(b, axes=axes, pad=0.0 if b.pad in (0, 0.0) else None, filled=None, masked=False)


def _swaps_first_two_axes(node: ast.expr) -> bool:
    """``x.transpose(0, 1)``, ``x.transpose(1, 0)``, ``x.permute(1, 0, ...)`` or ``x.t()``, written at the call."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    args = [a.value for a in node.args if isinstance(a, ast.Constant)]
    if node.func.attr == "transpose":
        return sorted(args) == [0, 1]
    if node.func.attr == "permute":
        return args[:2] == [1, 0]
    return node.func.attr == "t"


def _inplace_target(node: ast.expr) -> ast.expr | None:
    """The variable an in-place tensor method call statement changes: ``x`` in ``x.masked_fill_(...)`` or
    ``x.data.masked_fill_(...)``; None for anything else."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.endswith("_")
            and not node.func.attr.startswith("_")):
        return None
    base = node.func.value
    if isinstance(base, ast.Attribute) and base.attr == "data":
        base = base.value
    return base if isinstance(base, (ast.Name, ast.Attribute)) else None


_MODULE_RETURNS_SELF = frozenset({"to", "cuda", "cpu", "train", "eval", "float", "double", "half", "requires_grad_",
                                  "share_memory", "type", "bfloat16"})

_BINOPS = {
    ast.Add: "Add", ast.Sub: "Subtract", ast.Mult: "Multiply", ast.Div: "Divide", ast.FloorDiv: "FloorDivide",
    ast.MatMult: "MatrixMultiply", ast.BitAnd: "BitAnd", ast.BitOr: "BitOr", ast.Mod: "Modulo", ast.Pow: "Power",
}
_CMPOPS = {
    ast.Lt: "LessThan", ast.Gt: "GreaterThan", ast.LtE: "LessThanEqual", ast.GtE: "GreaterThanEqual",
    ast.Eq: "Equal", ast.NotEq: "NotEqual", ast.Is: "Is", ast.IsNot: "IsNot", ast.In: "In", ast.NotIn: "NotIn",
}

_METHOD_COMPARE = {
    "compare-ne": "NotEqual", "compare-eq": "Equal", "compare-gt": "GreaterThan", "compare-lt": "LessThan",
    "compare-ge": "GreaterThanEqual", "compare-le": "LessThanEqual",
}


@dataclass
class CallSite:
    """A call being evaluated: its node and its evaluated positional and keyword arguments."""

    node: ast.Call
    pos: list[Value]
    kw: dict[str, Value]
    pos_nodes: list[ast.expr]
