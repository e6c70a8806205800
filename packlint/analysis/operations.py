"""Operations on abstract values: indexing, arithmetic, comparison, unpacking and matrix products.

They take values and give values (an AST node only says where, for trails and events); they never evaluate
syntax or call anything."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from packlint.analysis.events import Event
from packlint.analysis.support import (
    FLIPPED,
    QUERY,
    CmpOp,
    Operator,
    at_last_real_step,
    is_large,
    is_neg_large,
    key_of,
    norm_dim,
    offset,
    short_key,
    size_of_axis,
)
from packlint.analysis.values import (
    BATCH,
    CLEAN,
    FEAT,
    ONE,
    TIME,
    Arange,
    AxisSize,
    BidirGathered,
    Const,
    DictV,
    Dropped,
    EllipsisIndex,
    Fresh,
    Item,
    Lengths,
    Loader,
    LossOut,
    Many,
    Mask,
    MaskBias,
    MaskFrac,
    MaskRef,
    NotLengths,
    Numel,
    Packed,
    Padded,
    PaddedInput,
    PaddedRow,
    PaddedTarget,
    Perm,
    PerStep,
    Ranked,
    ShapeOf,
    SliceIndex,
    StaleState,
    TimeLen,
    TimeSum,
    TupleV,
    Unknown,
    Value,
    Zeroed,
    ZeroedReduce,
    compose_order,
    is_tainted,
    join,
)

if TYPE_CHECKING:
    from packlint.analysis.context import Context


class Operations:
    """Indexing, arithmetic and comparisons on abstract values."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.frame = ctx.frame

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
        if isinstance(value, ShapeOf) and value.axes is not None and len(value.axes) == n:
            return [size_of_axis(a) for a in value.axes]  # b, t, _ = x.shape
        if isinstance(value, Unknown) and value.order:
            return [Unknown(None, order=value.order)] * n  # (h_n, c_n) of a sorted batch: both in its order
        return [CLEAN] * n

    def join_all(self, values: Iterable[Value]) -> Value:
        out: Value | None = None
        for v in values:
            out = join(out, v) if out is not None else v
        return out if out is not None else CLEAN

    def element_of(self, value: Value) -> Value:
        """What iterating ``value`` yields."""
        if isinstance(value, Loader):
            return value.element
        if isinstance(value, Many):
            return value.elem
        if isinstance(value, TupleV):
            return self.join_all(value.items)
        if isinstance(value, Padded):
            axes = value.axes[1:] if value.axes else None
            return replace(value, axes=axes)
        if isinstance(value, Lengths):
            return Item(value.origin, of=value)  # each element is one sequence's length
        if isinstance(value, PaddedTarget):
            return PaddedRow(value.trail)  # a row of a padded batch: its length is T
        if isinstance(value, PaddedRow):
            return CLEAN
        if isinstance(value, Unknown):
            return Unknown(key_of(value))
        if isinstance(value, DictV):
            return CLEAN
        return CLEAN

    def batch_sizes_of(self, packed: Packed, node: ast.AST | None) -> NotLengths:
        """``packed.batch_sizes`` / ``packed[1]``: per time step, how many sequences are still running."""
        what = self.ctx.text(node, 40) if node is not None else "batch_sizes"
        step = self.ctx.step(node, f"`{what}`") if node is not None else None
        return NotLengths("batch-sizes", (step,) if step else ())

    def subscript(self, base: Value, indices: list[Value], node: ast.AST) -> Value:
        result = self.index(base, indices, node)
        if result.order is not None and not isinstance(base, (TupleV, Many, DictV, Loader)):
            at = self.batch_axis(base)
            picked = indices[at] if at < len(indices) else None
            if isinstance(picked, (Unknown, Many, TupleV)) and not isinstance(picked, Perm):
                # rows picked by indices packlint cannot name (an inverse built by hand in a loop, a list):
                # the order that comes out is not known
                return replace(result, order=None)
        return result

    def index(self, base: Value, indices: list[Value], node: ast.AST) -> Value:
        """``base[indices]`` (see :meth:`subscript`, which also settles the batch order)."""
        if any(isinstance(v, NotLengths) for v in indices):
            for v in indices:
                if isinstance(v, NotLengths) and v.delta is not None and v.delta < 0:
                    self.ctx.emit_not_lengths(v, "index", node)  # out[arange(B), x - 1]: one step per sequence
            # the index is still a tensor index (a gather), whatever it holds
            indices = [Unknown(None) if isinstance(v, NotLengths) else v for v in indices]
        reordered = self.reorder(base, indices, node)
        if reordered is not None:
            return reordered
        single = indices[0] if len(indices) == 1 else None
        if isinstance(base, NotLengths):
            if all(isinstance(v, (SliceIndex, EllipsisIndex)) or (isinstance(v, Const) and v.value is None)
                   for v in indices):
                return base  # batch_sizes[:, None]: still all of them
            if base.kind == "batch-sizes" and isinstance(single, Const) and single.value == 0 and base.delta == 0:
                return AxisSize(BATCH)  # batch_sizes[0]: every sequence runs at step 0, so the batch size
            return CLEAN
        if isinstance(base, PaddedRow):
            return CLEAN
        if isinstance(base, TupleV):
            if isinstance(single, Const) and isinstance(single.value, int):
                try:
                    return base.items[single.value]
                except IndexError:
                    return CLEAN
            if isinstance(single, SliceIndex) and single.literal is not None:
                return TupleV(base.items[single.literal])
            if isinstance(single, (SliceIndex, EllipsisIndex)):
                return base
            return self.join_all(base.items)
        if isinstance(base, DictV):
            if isinstance(single, Const):
                v = base.get(single.value)
                return v if v is not None else CLEAN
            # a key packlint cannot read: any of the values (so a padded one is never lost)
            return self.join_all([v for _, v in base.items] + ([base.rest] if base.rest is not None else []))
        if isinstance(base, BidirGathered):
            if any(isinstance(v, SliceIndex) and v.upper is not None for v in indices):
                self.frame.resolved.add(base.step)  # [:, :H]: one direction's half, which is right
            return CLEAN
        if isinstance(base, ShapeOf):
            if base.axes and isinstance(single, SliceIndex) and single.literal is not None:
                return TupleV(tuple(size_of_axis(a) for a in base.axes[single.literal]))  # b, t = x.shape[:2]
            if base.axes and isinstance(single, Const) and isinstance(single.value, int):
                d = norm_dim(single.value, len(base.axes))
                if d is not None:
                    return size_of_axis(base.axes[d])  # x.shape[1]: a symbolic size naming its axis
            return CLEAN
        if isinstance(base, Many):
            return base.elem if not isinstance(single, (SliceIndex, EllipsisIndex)) else base
        if isinstance(base, StaleState):
            return base  # h_n[-1], h_n[-2:], h_n[-2:].transpose(0, 1)
        if isinstance(base, PaddedInput):
            # a slice keeps the padded batch; one step (`emb[:, t]` in a decoding loop) or one row is not a
            # padded sequence
            return base if all(self.keeps_axis(v) for v in indices) else CLEAN
        if isinstance(base, Loader):
            return base.element
        masks = [v for v in indices if isinstance(v, Mask)]
        if isinstance(base, Padded):
            if masks:
                ref = masks[0].ref
                conflict = ""
                if ref.kind == "lengths" and ref.origin and base.lengths and ref.origin != base.lengths:
                    conflict = (f"the mask is built from `{short_key(ref.origin)}` but the output was unpacked with "
                                f"`{short_key(base.lengths)}`")
                return Dropped(ref, base.trail + (self.ctx.step(node, "boolean-indexed"),), conflict)
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
            if any(isinstance(v, SliceIndex) and v.bound is not None for v in indices):
                return CLEAN
            if not all(self.keeps_axis(v) for v in indices):
                # `tgt[:, t]`: still padded targets for a loss, but one step (or one row) is no longer a padded
                # sequence an RNN could run over (a teacher-forcing loop feeds it step by step)
                return replace(base, axes=None, left=False)
            return base
        if isinstance(base, (Mask, MaskBias, Arange)):
            return base
        if isinstance(base, Perm):
            return base
        if isinstance(base, Unknown) and base.order and all(isinstance(v, Const) for v in indices):
            return Unknown(None, order=base.order)  # h_n[-1] of a sorted batch: the last layer, still in that order
        if isinstance(base, (Unknown, Lengths, Fresh)):
            if masks:
                return Dropped(masks[0].ref)
            if len(indices) == 1 and isinstance(single, Unknown) and isinstance(base, Unknown):
                return Dropped(MaskRef("unknown", single.key))
            if all(isinstance(v, (SliceIndex, EllipsisIndex)) or (isinstance(v, Const) and v.value is None)
                   for v in indices):
                return base
            if key_of(base):  # an element of it: `lengths[i]` stays tied to the lengths it was read from
                where = self.ctx.text(node.slice, 24) if hasattr(node, "slice") else ""
                return Item(f"{key_of(base)}[{where}]", of=base)
            return Unknown(None)
        if isinstance(base, Packed):
            if isinstance(single, Const) and single.value == 1:
                return self.batch_sizes_of(base, node)  # a PackedSequence is a tuple: [1] is batch_sizes
            return CLEAN
        return CLEAN

    @staticmethod
    def keeps_axis(index: Value) -> bool:
        """An index element that keeps its axis: a slice, ``...``, or ``None`` (a new axis)."""
        return isinstance(index, (SliceIndex, EllipsisIndex)) or (isinstance(index, Const) and index.value is None)

    @staticmethod
    def batch_axis(value: Value) -> int:
        """Where a value's batch axis is: from its known axes, else the first (``x[perm]`` reorders rows)."""
        axes = getattr(value, "axes", None)
        if isinstance(axes, tuple) and BATCH in axes:
            return axes.index(BATCH)
        return 0

    def reorder(self, base: Value, indices: list[Value], node: ast.AST) -> Value | None:
        """``x[perm]`` (``out[:, perm]`` time-major): the batch reordered by a sort permutation, every other fact
        kept; ``p[q]`` composes two permutations (``idx[idx]`` is not an inverse). None when no index is one."""
        if isinstance(base, (TupleV, Many, DictV, Loader)):
            return None
        at = self.batch_axis(base)
        perm = indices[at] if at < len(indices) else None
        if isinstance(base, Perm) and len(indices) == 1 and isinstance(perm, Perm):
            word = compose_order(base.word, perm.word) if base.word and perm.word else None
            return Perm(word=word or ()) if word else Perm()
        if not isinstance(perm, Perm) or any(isinstance(v, Perm) for k, v in enumerate(indices) if k != at):
            return None
        moved = replace(base, order=compose_order(base.order, perm.word or None))
        rest = [SliceIndex() if k == at else v for k, v in enumerate(indices)]
        if all(self.keeps_axis(v) for v in rest):
            return moved
        return self.subscript(moved, rest, node)

    def subscript_padded(self, base: Padded, indices: list[Value], node: ast.AST) -> Value:
        """Indexing a padded tensor: slices keep padding, ``[:, -1]`` reads a padded step, a gather is clean."""
        axes = base.axes
        if axes is None:
            if any(isinstance(v, SliceIndex) and v.bound is not None for v in indices):
                return CLEAN
            return base
        if base.mismatch is not None and any(
                not isinstance(v, (SliceIndex, EllipsisIndex)) and not (isinstance(v, Const) and v.value is None)
                for v in indices[:2]):
            self.ctx.emit_batch_first(base)  # indexing a batch or a step as if the layout were the packing side's
        out_axes: list[str] = []
        i = 0
        clean = False
        gathered: Value = CLEAN
        halved = False
        for idx in indices:
            if isinstance(idx, EllipsisIndex):
                after = indices[indices.index(idx) + 1:]
                remaining = len([x for x in after if not (isinstance(x, Const) and x.value is None)])
                keep = max(0, len(axes) - i - remaining)
                out_axes.extend(axes[i:i + keep])
                i += keep
                continue
            if isinstance(idx, Const) and idx.value is None:
                out_axes.append(ONE)
                continue
            label = axes[i] if i < len(axes) else FEAT
            i += 1
            if isinstance(idx, SliceIndex):
                if idx.bound is not None and label == TIME:
                    clean = True  # trimmed to a length: out[i, :l]
                if idx.upper is not None and label == FEAT:
                    halved = True  # out[:, :, :H]: one direction of a bidirectional output
                if idx.last_only and label == TIME:  # out[:, -1:, :]
                    self.ctx.emit(Event("last-step", *self.ctx.loc(node), status="padded", subject=self.ctx.text(node),
                                    trail=base.trail, details=(("layout", "".join(axes)),
                                                               ("bidirectional", base.bidirectional),
                                                               ("lengths", self.ctx.name_of_lengths(base.lengths)))))
                    clean = True
                out_axes.append(label)
                continue
            if isinstance(idx, TimeLen):
                idx = Const(idx.offset)  # T - 1 is the same step as -1
            if isinstance(idx, Const) and isinstance(idx.value, int):
                if label == TIME:
                    one_row = any(isinstance(v, Const) and isinstance(v.value, int) and axes[k] == BATCH
                                  for k, v in enumerate(indices[:len(axes)]) if k < len(axes))
                    if idx.value == -1 and not one_row:  # out[1, -1] reads one named row: not "the last steps"
                        self.ctx.emit(Event("last-step", *self.ctx.loc(node), status="padded",
                                            subject=self.ctx.text(node), trail=base.trail,
                                            details=(("layout", "".join(axes)),
                                                     ("bidirectional", base.bidirectional),
                                                     ("lengths", self.ctx.name_of_lengths(base.lengths)))))
                        if base.mismatch is not None:
                            self.ctx.emit_batch_first(base)
                    clean = True
                    continue
                if label == BATCH and base.mismatch is not None:
                    self.ctx.emit_batch_first(base)
                continue  # integer on batch or feature axis drops it
            # a tensor index
            if label == TIME:
                clean = True  # gathered at an index (lengths - 1): one real step per row
                # a later slice (`[..., :H]`) or integer (`[..., 0]` on a (2, H) view) keeps one direction
                if base.bidirectional and at_last_real_step(idx, base.lengths) and not any(
                        (isinstance(v, SliceIndex) and v.upper is not None) or (
                            isinstance(v, Const) and isinstance(v.value, int) and not isinstance(v.value, bool))
                        for v in indices[i:]):
                    gathered = self.bidirectional_gather(base, node)
            else:
                out_axes.append(label)
        out_axes.extend(axes[i:])
        if clean:
            return gathered
        if halved and base.bidirectional:
            return replace(base, axes=tuple(out_axes), bidirectional=False)
        return replace(base, axes=tuple(out_axes))

    def bidirectional_gather(self, base: Padded, node: ast.AST) -> Value:
        """Each sequence's step at ``lengths - 1`` of a bidirectional output: right for the forward half only. The
        finding stands unless the features are then cut to one half (``[:, :H]``)."""
        step = self.ctx.step(node, "gathered at lengths - 1")
        self.ctx.emit(Event("last-step", step.path, step.line, step.col, status="bidirectional",
                            subject=self.ctx.text(node), trail=base.trail,
                            details=(("layout", "".join(base.axes or ())),)))
        return BidirGathered(step)

    def sequence_op(self, left: Value, right: Value) -> Value:
        """``a + b`` and ``a * n`` of lists and tuples: the same items, concatenated or repeated. (Other arithmetic on
        a list is a TypeError at run time; the same answer keeps whatever padding the items hold.)"""
        if isinstance(left, TupleV) and isinstance(right, TupleV):
            return TupleV(left.items + right.items)
        items: list[Value] = []
        for side in (left, right):
            if isinstance(side, TupleV):
                items.extend(side.items)
            elif isinstance(side, Many):
                items.append(side.elem)
            elif not isinstance(side, Const):
                items.append(side)  # not a count: whatever it is, it may end up among the items
        return Many(self.join_all(items)) if items else CLEAN

    def binop(self, op: Operator, left: Value, right: Value, node: ast.AST) -> Value:
        if isinstance(left, LossOut) or isinstance(right, LossOut):  # `loss + aux`, `loss / n`: still that loss
            keys = (left.keys if isinstance(left, LossOut) else frozenset()) | (
                right.keys if isinstance(right, LossOut) else frozenset())
            return LossOut(keys)
        if isinstance(left, (Many, TupleV)) or isinstance(right, (Many, TupleV)):
            return self.sequence_op(left, right)
        if op == ast.MatMult:
            return self.matmul(left, right)
        if isinstance(left, NotLengths) or isinstance(right, NotLengths):
            return self.binop_not_lengths(op, left, right, node)
        for a, b in ((left, right), (right, left)):
            if isinstance(a, StaleState) and not is_tainted(b):
                return a  # `h_n[-2] + h_n[-1]`, `h_n * scale`: still the state that read the padding
        if isinstance(left, ZeroedReduce):
            if left.op == "mean" and op == ast.Div and isinstance(right, MaskFrac):
                self.frame.resolved.add(left.step)  # mean / mask.mean() == sum / count
                return CLEAN
            if left.op == "mean" and op == ast.Mult and isinstance(right, Numel):
                self.frame.resolved.add(left.step)  # mean * numel == sum: exact until divided
                return ZeroedReduce("sum", left.step, left.trail)
            if left.op == "sum" and op == ast.Div and isinstance(right, Numel):
                step = left.step
                self.ctx.emit(Event("reduce", step.path, step.line, step.col, status="zeroed-mean",
                                subject=self.ctx.text(node), callee="sum", trail=left.trail,
                                details=(("numel", True),)))
                return CLEAN
            return left if op in (ast.Mult, ast.Add, ast.Sub) and isinstance(right, Const) else CLEAN
        if isinstance(left, TimeSum) and isinstance(right, TimeLen) and op == ast.Div:
            path, line, col = left.node_pos
            self.ctx.emit(Event("pool", path, line, col, status="padded", subject=self.ctx.text(node), callee="mean",
                            trail=left.trail, details=(("op", "mean"), ("pad", 0.0), ("zeroed", False),
                                                       ("filled", None), ("nonneg", False), ("layout", ""))))
            return CLEAN
        if isinstance(left, TimeLen) and isinstance(right, Const) and isinstance(right.value, int) and op in (
                ast.Add, ast.Sub):
            return TimeLen(left.offset + (right.value if op == ast.Add else -right.value))
        if isinstance(left, Const) and isinstance(right, Const):
            try:
                a, b = left.value, right.value
                return Const({ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b}
                             .get(op, lambda: None)())
            except Exception:  # noqa: BLE001
                return CLEAN
        # masks: arithmetic that keeps them masks, or turns them into additive biases
        for m, other in ((left, right), (right, left)):
            if op == ast.Mult and isinstance(m, Mask) and m.inverted and isinstance(other, Const) and is_large(
                    other.value):
                return MaskBias(m.ref)  # (1 - mask) * 1e30: subtracted from scores; * -1e9: added
            if isinstance(m, Mask) and isinstance(other, (Const, Mask, Unknown)) and not isinstance(other, Unknown):
                if op in (ast.Sub, ast.Add) and isinstance(other, Const):
                    return MaskBias(m.ref) if (op == ast.Sub and m is left) else replace(m, inverted=not m.inverted)
                if op == ast.Mult and isinstance(other, Const) and is_neg_large(other.value):
                    return MaskBias(m.ref)
                if op in (ast.Mult, ast.BitAnd) and isinstance(other, (Mask, Const)):
                    return m
            if isinstance(m, MaskBias) and op == ast.Mult:
                return m
        if isinstance(left, Const) and isinstance(right, Mask) and op == ast.Sub:
            return replace(right, inverted=not right.inverted)  # 1 - mask: ones at padding
        if op == ast.Mult:
            for a, b in ((left, right), (right, left)):
                if isinstance(a, Mask) and a.inverted and isinstance(b, Const) and is_large(b.value):
                    return MaskBias(a.ref)  # (1 - mask) * -1e9, added; or (1 - mask) * 1e30, subtracted
                if isinstance(a, Unknown) and isinstance(b, Const) and is_large(b.value):
                    # an untraced mask (batch["mask"]) turned into an additive bias: trusted, as masked_fill is
                    return MaskBias(MaskRef("unknown", a.key))
        if op in (ast.Add, ast.Sub):
            if isinstance(left, Const) and isinstance(right, Unknown) and right.key:
                return Unknown(f"{left.value} - {right.key}")  # 1 - mask
        # padded values
        for p, other in ((left, right), (right, left)):
            if isinstance(p, PerStep):
                ref = self.ctx.mask_ref_of(other)
                if op == ast.Mult and ref is not None:
                    return replace(p, zeroed=ref)
                return p
        for p, other in ((left, right), (right, left)):
            if isinstance(p, Padded):
                if isinstance(other, Padded) and other is not p and p is right:
                    p, other = left, right  # keep the left operand's layout
                if op == ast.Mult:
                    ref = self.ctx.mask_ref_of(other)
                    if ref is not None:
                        if p.pending:
                            self.frame.resolved.update(p.pending)
                        return replace(p, zeroed=ref, pad=0.0 if p.pad is not None else None)
                    return replace(p, pad=None if not isinstance(other, Const) else p.pad)
                if op in (ast.Add, ast.Sub) and isinstance(other, MaskBias):
                    return replace(p, masked=True)
                if op == ast.Sub and isinstance(other, (Unknown, PaddedTarget, Padded)) and other is not p:
                    return replace(p, residual=True, pad=None)
                if op == ast.Div:
                    return p
                return replace(p, pad=None if not (isinstance(other, Const) and other.value == 0) else p.pad)
        if isinstance(left, PaddedTarget) or isinstance(right, PaddedTarget):
            target = left if isinstance(left, PaddedTarget) else right
            other = right if target is left else left
            if op == ast.Mult and isinstance(other, Mask):
                return replace(target, zeroed=other.ref)
            return target
        if isinstance(left, Dropped):
            return left
        if isinstance(right, Dropped):
            return right
        if op == ast.Mult:
            for a, b in ((left, right), (right, left)):
                if isinstance(a, Unknown) and isinstance(b, Mask):
                    return Zeroed(b.ref)  # y * mask: zero at padding
        if isinstance(left, Fresh) or isinstance(right, Fresh):
            return Fresh()
        if isinstance(left, (Unknown, Lengths)) and isinstance(right, Const) and op in (ast.Add, ast.Sub):
            if isinstance(right.value, int) and not isinstance(right.value, bool):  # `lengths - 1`
                shifted = offset(left, right.value if op is ast.Add else -right.value)
                if shifted is not None:
                    return shifted
            if key_of(left):
                return Unknown(f"{key_of(left)} {'+' if op is ast.Add else '-'} {right.value}")
        return CLEAN

    def binop_not_lengths(self, op: Operator, left: Value, right: Value, node: ast.AST) -> Value:
        """Arithmetic with lengths that are not per-sequence lengths: ``x - 1`` keeps them (an offset), a division
        by them is a per-sequence mean divided by the wrong counts."""
        if isinstance(left, NotLengths) and isinstance(right, Const) and isinstance(right.value, int) and \
                not isinstance(right.value, bool) and op in (ast.Add, ast.Sub):
            d = right.value if op is ast.Add else -right.value
            return replace(left, delta=None if left.delta is None else left.delta + d)
        if op == ast.Div and isinstance(right, NotLengths) and not isinstance(left, (Const, NotLengths)):
            self.ctx.emit_not_lengths(right, "divide", node)
            return CLEAN
        if isinstance(left, NotLengths) and isinstance(right, Const) and op in (ast.Mult, ast.Div, ast.FloorDiv):
            return CLEAN
        return CLEAN

    def compare(self, op: CmpOp, left: Value, right: Value, node: ast.AST | None = None) -> Value:
        """Masks are recognised by what they compare: a time index with lengths, or tokens with a pad value."""
        if isinstance(right, Arange) and not isinstance(left, Arange):
            left, right, op = right, left, FLIPPED.get(op, op)
        if isinstance(left, Arange) and isinstance(right, NotLengths) and op in (ast.Lt, ast.GtE, ast.LtE, ast.Gt):
            if not (right.kind == "batch-sizes" and left.over == BATCH):  # arange(B) < batch_sizes: time-major
                if node is not None:
                    self.ctx.emit_not_lengths(right, "mask", node)
            return Mask(MaskRef("lengths", None), inverted=op in (ast.GtE, ast.Gt))
        if isinstance(left, Arange) and isinstance(right, (Unknown, Lengths)):
            if op in (ast.Lt,):
                return Mask(MaskRef("lengths", key_of(right)))
            if op in (ast.GtE,):
                return Mask(MaskRef("lengths", key_of(right)), inverted=True)
            return CLEAN
        if isinstance(left, Padded) and isinstance(right, Const) and isinstance(left.pad, (int, float)) and \
                right.value == left.pad and op in (ast.Eq, ast.NotEq):
            # `out == 0` on a zero-padded output marks the padded steps (and any exact zeros, which is harmless)
            return Mask(MaskRef("pad", left.lengths, left.pad), inverted=op == ast.Eq)
        if isinstance(left, (Padded, Mask, Const, Arange)) or isinstance(left, PerStep):
            return CLEAN
        if isinstance(left, (Unknown, PaddedTarget, Lengths)):
            pad = right.value if isinstance(right, Const) else None
            key = key_of(left) if not isinstance(left, PaddedTarget) else "target"
            if isinstance(left, PaddedTarget):
                pad = left.pad if pad is None else pad
            ref = MaskRef("pad", key, pad)
            if isinstance(right, (Const, Unknown)) and not isinstance(right, Padded):
                if op in (ast.NotEq, ast.Gt, ast.GtE):
                    return Mask(ref)
                if op == ast.Eq:
                    return Mask(ref, inverted=True)
        return CLEAN

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
            vector = isinstance(b, Ranked) and b.rank == 1  # (.., H) @ (H,): the feature axis is contracted away
            axes = (a.axes[:-1] if vector else a.axes[:-1] + (FEAT,)) if a.axes else None
            return replace(a, axes=axes, pad=0.0 if a.pad in (0, 0.0) else None, filled=None, masked=False)
        assert isinstance(b, Padded)
        if b.axes and len(b.axes) >= 2:
            vector = isinstance(a, Ranked) and a.rank == 1  # (H,) @ (.., H, T): no query axis is added
            axes = b.axes[:-2] + ((b.axes[-1],) if vector else (FEAT, b.axes[-1]))
        else:
            axes = None
        if b.axes and b.axes[-1] != TIME:
            # query @ values over time: (B,1,T) @ (B,T,H) sums over time: the context vector
            return CLEAN if b.zeroed is not None or b.pad in (0, 0.0) else replace(b, axes=None)
        return replace(b, axes=axes, pad=0.0 if b.pad in (0, 0.0) else None, filled=None, masked=False)
