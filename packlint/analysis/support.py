"""Shared pieces of the interpreter: the frame of one analysis, the call being evaluated, operator tables, and
small helpers on abstract values."""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packlint.analysis.events import Event
from packlint.analysis.values import (
    BATCH,
    FEAT,
    FLAT,
    ONE,
    TIME,
    AxisSize,
    Const,
    Item,
    Lengths,
    Offset,
    TimeLen,
    TupleV,
    Unknown,
    Value,
)
from packlint.diagnostics import TrailStep

if TYPE_CHECKING:
    from packlint.analysis.program import FunctionInfo, ModuleInfo

MAX_DEPTH = 6
QUERY = "Q"  # the query axis of attention scores computed from two padded operands

class TimeBudgetExceeded(Exception):
    """Raised by the interpreter when one analysis runs past its time budget (``--file-timeout``); the engine
    reports it as a ``timeout`` problem for that file."""


#: Passes over a loop body before its fixpoint is given up, by how deeply the loop is nested: nested loops run
#: their inner fixpoint on every outer pass, so deeper loops get fewer passes (n nested loops cost the product).
LOOP_BOUNDS = (8, 6, 4, 3)


def loop_bound(loop_depth: int) -> int:
    return LOOP_BOUNDS[min(loop_depth, len(LOOP_BOUNDS) - 1)]


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
    loop_depth: int = 0
    ended: bool = False  # the current path returned or raised: later statements do not run on it
    closure: dict | None = None  # the enclosing function's variables, for a nested function
    root: bool = False  # analysed on its own (parameters unknown), not for one caller's arguments
    trained: set = field(default_factory=set)  # keys of loss events whose value is trained on (backward, returned)

    @property
    def qual(self) -> str:
        return self.func.qualname if self.func else "<module>"


def const_of(v: Value) -> object:
    return v.value if isinstance(v, Const) else None


def is_large(v: object) -> bool:
    """A constant big enough to act as an additive mask (1e4 and beyond, either sign, or infinite)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) >= 1e4


def is_neg_large(v: object) -> bool:
    return isinstance(v, (int, float)) and (v <= -1e4 or (isinstance(v, float) and math.isinf(v) and v < 0))


def norm_dim(dim: object, ndim: int) -> int | None:
    if not isinstance(dim, int) or isinstance(dim, bool):
        return None
    if dim < 0:
        dim += ndim
    return dim if 0 <= dim < ndim else None


def short_key(key: str) -> str:
    """A lengths origin key for messages: ``train_step:lengths - 1`` -> ``lengths - 1``."""
    return key.split(":", 1)[1] if ":" in key else key


def key_of(v: Value) -> str | None:
    if isinstance(v, Unknown):
        return v.key
    if isinstance(v, Lengths):
        return v.origin
    return None


# Operators are ``ast`` operator classes throughout (``ast.Sub``, ``ast.Lt``): ``binop``/``compare`` take the class
# of the node's ``op``; the comparing tensor methods map onto the same classes.
Operator = type[ast.operator]
CmpOp = type[ast.cmpop]

METHOD_COMPARE: dict[str, CmpOp] = {
    "compare-ne": ast.NotEq, "compare-eq": ast.Eq, "compare-gt": ast.Gt, "compare-lt": ast.Lt,
    "compare-ge": ast.GtE, "compare-le": ast.LtE,
}
FLIPPED: dict[CmpOp, CmpOp] = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}

_NO_LITERAL = object()
_LITERAL_OPS: dict[type, object] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: lambda a, b: a == b and type(a) is type(b), ast.IsNot: lambda a, b: not (a == b and type(a) is type(b)),
}


def _literal(value: Value) -> object:
    if isinstance(value, Const) and (value.value is None or isinstance(value.value, (bool, int, float, str))):
        return value.value
    if isinstance(value, TupleV):
        items = tuple(_literal(v) for v in value.items)
        return _NO_LITERAL if any(i is _NO_LITERAL for i in items) else items
    return _NO_LITERAL


def compare_literals(op: CmpOp, left: Value, right: Value) -> bool | None:
    """The outcome of ``left <op> right`` when both are known literals (numbers, strings, booleans, None, tuples of
    them); None when either side is not known or the comparison is not defined."""
    a, b, fn = _literal(left), _literal(right), _LITERAL_OPS.get(op)
    if a is _NO_LITERAL or b is _NO_LITERAL or fn is None:
        return None
    try:
        return bool(fn(a, b))  # type: ignore[operator]
    except TypeError:
        return None


def offset(value: Value, delta: int) -> Value | None:
    """``value + delta`` as a typed :class:`Offset` when ``value`` is lengths, an offset of them or another unknown
    tensor with a known origin (``entity_pos - 1`` is an offset too, just not of lengths); None for anything else."""
    if isinstance(value, Offset):
        if value.delta is None:
            return None
        base, total = value.of, value.delta + delta
    elif isinstance(value, (Lengths, Unknown)) and key_of(value):
        base, total = value, delta
    else:
        return None
    if total == 0 or base is None:
        return base
    return Offset(f"{key_of(base)} {'+' if total > 0 else '-'} {abs(total)}", of=base, delta=total)


def at_last_real_step(index: Value, lengths: str | None) -> bool:
    """Whether ``index`` picks each sequence's last real step: lengths minus one, where the lengths are known to be
    per-sequence lengths (``pad_packed_sequence``'s, or ``lengths``: the key of the lengths the indexed output was
    packed with). An offset of anything else (an entity position, a span end) is just an index."""
    if not (isinstance(index, Offset) and index.delta == -1):
        return False
    of = index.of
    while isinstance(of, Item):  # `lengths[i] - 1`, `for l in lens: ... l - 1`
        of = of.of
    if isinstance(of, Lengths):
        return True
    return lengths is not None and of is not None and key_of(of) == lengths


def swaps_batch_and_time(kind: str | None, args: list[Value]) -> bool:
    """Whether a transposing method (table kind ``transpose``, ``transpose2d``, ``permute``) called with these
    argument values swaps the first two axes: ``t()``, ``transpose(0, 1)`` or ``(1, 0)``, ``permute(1, 0, 2)``."""
    if kind == "transpose2d":
        return True
    if len(args) == 1 and isinstance(args[0], TupleV):
        args = list(args[0].items)
    dims = [const_of(a) for a in args]
    if kind == "transpose":
        return len(dims) == 2 and sorted(d for d in dims if isinstance(d, int)) == [0, 1]
    return kind == "permute" and dims[:2] == [1, 0]


# ---------------------------------------------------------------------------------------------------------------
# Axis layouts with symbolic sizes: which axes a view/reshape/unflatten keeps, from the sizes it is given.

def size_of_axis(label: str) -> Value:
    """The symbolic size of an axis labelled ``label``: time is :class:`TimeLen`, a kept singleton is 1."""
    if label == TIME:
        return TimeLen()
    if label == ONE:
        return Const(1)
    return AxisSize(label)


def size_label(value: Value) -> str | None:
    """The axis a size value names (``x.size(1)`` on the time axis: time), or None for any other value."""
    if isinstance(value, TimeLen) and value.offset == 0:
        return TIME
    if isinstance(value, AxisSize):
        return value.axis
    return None


def fold(labels: list[str]) -> str:
    """The label of one axis made by folding ``labels`` together: batch and time fold into the flat axis; time with
    features is still an axis over every step, padded ones included; batch with features (heads) is batch-like."""
    labels = [a for a in labels if a != ONE]
    if not labels:
        return ONE
    if len(labels) == 1:
        return labels[0]
    has_time = TIME in labels or FLAT in labels
    has_batch = BATCH in labels or FLAT in labels
    if has_time and has_batch:
        return FLAT
    if has_time:
        return TIME
    if has_batch:
        return BATCH
    return QUERY if labels.count(QUERY) == 1 and set(labels) <= {QUERY, FEAT} else FEAT


def _is_minus_one(value: Value) -> bool:
    return isinstance(value, Const) and value.value == -1


def _segment(src: list[str], dims: list[Value]) -> list[str] | None:
    """Axes for ``dims`` made from the source axes ``src`` (both lie between two axes the view keeps); None when
    the sizes cannot say which axis goes where."""
    def singleton(d: Value) -> bool:
        return isinstance(d, Const) and d.value == 1

    if not dims:
        return []  # the source axes between two kept axes have size 1 (or the view would fail)
    if len(dims) == 1:
        return [fold(src) if src else (FEAT if _is_minus_one(dims[0]) else ONE)]
    if not src:
        return [ONE if singleton(d) else FEAT for d in dims]
    tracked = [a for a in src if a not in (FEAT, ONE)]
    if not tracked:
        return [ONE if singleton(d) else FEAT for d in dims]  # features split into heads: (h, d)
    if len(src) == 1 and sum(not singleton(d) for d in dims) == 1:
        return [src[0] if not singleton(d) else ONE for d in dims]  # unsqueezed by a view: (B, 1, T)
    minus = [i for i, d in enumerate(dims) if _is_minus_one(d)]
    if len(tracked) == 1 and len(minus) == 1:
        # `view(B, -1, h, d)`: the -1 takes the tracked axis, the written sizes split the features around it
        j, i = src.index(tracked[0]), minus[0]
        before, after = _segment(src[:j], dims[:i]), _segment(src[j + 1:], dims[i + 1:])
        if before is None or after is None or any(a not in (FEAT, ONE) for a in src[:j] + src[j + 1:]):
            return None
        return before + [tracked[0]] + after
    return None


def reshape_axes(axes: tuple[str, ...], dims: list[Value]) -> tuple[str, ...] | None:
    """The axes of ``x.view(*dims)`` for ``x`` with ``axes``, when some of ``dims`` are symbolic sizes naming axes of
    ``x`` (``x.size(1)``, ``b`` of ``b, t, _ = x.shape``): those axes are kept, and the axes between them are
    folded (``-1``) or split (heads) by :func:`_segment`. None when no size is named or the view cannot be
    placed (a view never reorders axes)."""
    names = [size_label(d) for d in dims]
    src = list(axes)
    if FLAT in src and BATCH not in src and TIME not in src:
        # batch*time viewed back with batch or time named: unfold it in the order the sizes say
        for i, name in enumerate(names):
            if name in (BATCH, TIME):
                leading = not any(not (isinstance(d, Const) and d.value == 1) for d in dims[:i])
                other = TIME if name == BATCH else BATCH
                at = src.index(FLAT)
                src[at:at + 1] = [name, other] if leading else [other, name]
                break
    anchors: list[tuple[int, int]] = []
    for i, name in enumerate(names):
        if name is None or name == ONE or src.count(name) != 1:
            continue
        j = src.index(name)
        if anchors and j <= anchors[-1][1]:
            return None
        anchors.append((i, j))
    if not anchors:
        return None
    out: list[str] = []
    prev_i = prev_j = -1
    for i, j in anchors + [(len(dims), len(src))]:
        seg = _segment(src[prev_j + 1:j], list(dims[prev_i + 1:i]))
        if seg is None:
            return None
        out.extend(seg)
        if i < len(dims):
            out.append(src[j])
        prev_i, prev_j = i, j
    return tuple(out)


def swaps_first_two_axes(node: ast.expr) -> bool:
    """``x.transpose(0, 1)``, ``x.transpose(1, 0)``, ``x.permute(1, 0, ...)`` or ``x.t()``, written at the call."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    args = [a.value for a in node.args if isinstance(a, ast.Constant)]
    if node.func.attr == "transpose":
        return sorted(args) == [0, 1]
    if node.func.attr == "permute":
        return args[:2] == [1, 0]
    return node.func.attr == "t"


def inplace_target(node: ast.expr) -> ast.expr | None:
    """The variable an in-place tensor method call statement changes: ``x`` in ``x.masked_fill_(...)`` or
    ``x.data.masked_fill_(...)``; None for anything else."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.endswith("_")
            and not node.func.attr.startswith("_")):
        return None
    base = node.func.value
    if isinstance(base, ast.Attribute) and base.attr == "data":
        base = base.value
    return base if isinstance(base, (ast.Name, ast.Attribute)) else None


MODULE_RETURNS_SELF = frozenset({"to", "cuda", "cpu", "train", "eval", "float", "double", "half", "requires_grad_",
                                  "share_memory", "type", "bfloat16"})


@dataclass
class CallSite:
    """A call being evaluated: its node and its evaluated positional and keyword arguments."""

    node: ast.Call
    pos: list[Value]
    kw: dict[str, Value]
    pos_nodes: list[ast.expr]
