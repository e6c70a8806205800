"""Shared pieces of the interpreter: the frame of one analysis, the call being evaluated, operator tables, and
small helpers on abstract values."""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packlint.analysis.events import Event
from packlint.analysis.values import Const, Lengths, Offset, TupleV, Unknown, Value
from packlint.diagnostics import TrailStep

if TYPE_CHECKING:
    from packlint.analysis.project import FunctionInfo, ModuleInfo

MAX_DEPTH = 6
QUERY = "Q"  # the query axis of attention scores computed from two padded operands

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
    closure: dict | None = None  # the enclosing function's variables, for a nested function

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



def offset(value: Value, delta: int) -> Value | None:
    """``value + delta`` as a typed :class:`Offset` when ``value`` is lengths, an offset of them or another unknown
    tensor with a known origin (``entity_pos - 1`` is an offset too, just not of lengths); None for anything else."""
    if isinstance(value, Offset):
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
    if isinstance(index.of, Lengths):
        return True
    return lengths is not None and key_of(index.of) == lengths


def swaps_batch_and_time(kind: str | None, args: list[Value]) -> bool:
    """Whether a transposing method (table kind ``transpose``, ``transpose2d``, ``permute``) called with these
    argument values swaps the first two axes: ``t()``, ``transpose(0, 1)``, ``transpose(1, 0)``, ``permute(1, 0, 2)``."""
    if kind == "transpose2d":
        return True
    if len(args) == 1 and isinstance(args[0], TupleV):
        args = list(args[0].items)
    dims = [const_of(a) for a in args]
    if kind == "transpose":
        return len(dims) == 2 and sorted(d for d in dims if isinstance(d, int)) == [0, 1]
    return kind == "permute" and dims[:2] == [1, 0]


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

# Operators are ``ast`` operator classes throughout (``ast.Sub``, ``ast.Lt``): ``binop``/``compare`` take the class
# of the node's ``op``; the comparing tensor methods map onto the same classes.
Operator = type[ast.operator]
CmpOp = type[ast.cmpop]

METHOD_COMPARE: dict[str, CmpOp] = {
    "compare-ne": ast.NotEq, "compare-eq": ast.Eq, "compare-gt": ast.Gt, "compare-lt": ast.Lt,
    "compare-ge": ast.GtE, "compare-le": ast.LtE,
}
FLIPPED: dict[CmpOp, CmpOp] = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}


@dataclass
class CallSite:
    """A call being evaluated: its node and its evaluated positional and keyword arguments."""

    node: ast.Call
    pos: list[Value]
    kw: dict[str, Value]
    pos_nodes: list[ast.expr]
