"""Tensor methods: shape and layout changes, reductions and pooling over time, softmax, masking, matmul;
and what methods do to masks, lengths, per-step losses and targets. Given a receiver value, a method name and
the argument values; it never sees syntax and never calls into the project."""

from __future__ import annotations

import ast
from dataclasses import replace
from typing import TYPE_CHECKING

from packlint.analysis import api
from packlint.analysis.events import Event
from packlint.analysis.support import (
    METHOD_COMPARE,
    CallSite,
    at_last_real_step,
    const_of,
    fold,
    is_neg_large,
    key_of,
    norm_dim,
    reshape_axes,
    size_label,
    size_of_axis,
    swaps_batch_and_time,
)
from packlint.analysis.values import (
    BATCH,
    CLEAN,
    FEAT,
    FLAT,
    NONZERO,
    ONE,
    TIME,
    Arange,
    AxisSize,
    BidirGathered,
    BoundMethod,
    ClassRef,
    Const,
    DictV,
    Dropped,
    Fresh,
    FuncRef,
    Instance,
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
    PermStep,
    PerStep,
    ShapeOf,
    StaleState,
    Super,
    TimeSum,
    Transposed,
    TupleV,
    Unknown,
    Value,
    Zeroed,
    ZeroedReduce,
    compose_order,
    inverse_order,
)

if TYPE_CHECKING:
    from packlint.analysis.context import Context
    from packlint.analysis.operations import Operations


class TensorEffects:
    """How a method call on a tensor value transforms it, by the value's kind and the method's table entry."""

    def __init__(self, ctx: Context, ops: Operations):
        self.ctx = ctx
        self.ops = ops
        self.frame = ctx.frame
        self.tables = ctx.tables

    def call_method(self, base: Value, name: str, call: CallSite) -> Value:
        if name in ("numel", "nelement") and isinstance(base, (Padded, PerStep, Mask, Unknown, PaddedTarget, Fresh)):
            return Numel()
        if name == "mean" and isinstance(base, Mask) and not call.pos and "dim" not in call.kw:
            return MaskFrac()
        if isinstance(base, (Unknown, Fresh)) and call.pos and isinstance(call.pos[0], Padded):
            other = call.pos[0]
            if name in api.SYMMETRIC_PRODUCTS:  # h.dot(enc[i]): the same product as enc[i].dot(h)
                return self.call_method(other, name, CallSite(call.node, [base, *call.pos[1:]], call.kw, []))
            if self.tables.methods.get(name) == "matmul":
                return self.ops.matmul(base, other)
        if name in ("index_select", "index_copy") and not isinstance(base, (TupleV, Many, DictV)):
            reordered = self.reorder_method(base, name, call)
            if reordered is not None:
                return reordered
        if isinstance(base, BidirGathered):
            return base if self.tables.methods.get(name) in ("keep", "squeeze", "unsqueeze", "reshape") else CLEAN
        if name.startswith("new_") and name in ("new_zeros", "new_ones", "new_empty", "new_full", "new_tensor"):
            if name == "new_full" and len(call.pos) > 1 and isinstance(call.pos[1], Const):
                return call.pos[1]
            return Fresh()  # a new tensor on the same device: not derived from lengths or padding
        if isinstance(base, LossOut):
            return CLEAN if name in ("item", "tolist", "numpy", "cpu") else base
        if isinstance(base, DictV):
            if name == "get" and call.pos and isinstance(call.pos[0], Const):
                v = base.get(call.pos[0].value)
                return v if v is not None else (call.pos[1] if len(call.pos) > 1 else Const(None))
            if name == "values":
                return Many(self.ops.join_all(v for _, v in base.items))
            if name == "items":
                return Many(TupleV((CLEAN, self.ops.join_all(v for _, v in base.items))))
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
            if kind in ("invert",) or (kind == "compare-eq" and call.pos and const_of(call.pos[0]) in (0, False)):
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
                return self.ops.compare(METHOD_COMPARE[kind], base, call.pos[0] if call.pos else CLEAN, call.node)
            return base
        if isinstance(base, NotLengths):
            return self.not_lengths_method(base, name, kind, call)
        if isinstance(base, PaddedRow):
            if name in ("size", "numel", "__len__") and (not call.pos or const_of(call.pos[0]) in (0, -1)):
                step = self.ctx.step(call.node, f"{self.ctx.text(call.node, 30)} of a padded row")
                return NotLengths("padded", base.trail + (step,))
            return CLEAN
        if isinstance(base, Packed):
            if name in ("to", "cuda", "cpu"):
                return base
            return CLEAN
        if isinstance(base, PaddedTarget) and base.axes and kind in ("transpose", "permute", "transpose2d") and \
                swaps_batch_and_time(kind, call.pos):
            return replace(base, axes=(base.axes[1], base.axes[0]) + base.axes[2:])  # `words.t()`: time-major
        if isinstance(base, PaddedInput) and kind in ("transpose", "permute", "transpose2d") and \
                swaps_batch_and_time(kind, call.pos):
            axes = (base.axes[1], base.axes[0]) + base.axes[2:] if base.axes else None
            return replace(base, axes=axes, transposed=not base.transposed)
        if isinstance(base, (StaleState, PaddedInput)):
            # h_n.squeeze(0), h_n.transpose(0, 1).reshape(B, -1), emb.float(), relu(proj(x)): element-wise and
            # shape moves keep the same state or padded batch
            if kind in ("keep", "reshape", "flatten", "reshape-unknown", "squeeze", "unsqueeze", "transpose",
                        "permute", "transpose2d", "nonneg", "keep-nonzero", None):
                return base
            return CLEAN
        if isinstance(base, PaddedTarget):
            if kind and kind.startswith("compare-"):
                return self.ops.compare(METHOD_COMPARE[kind], base, call.pos[0] if call.pos else CLEAN)
            if kind == "masked-fill" and call.pos and isinstance(call.pos[0], Mask) and len(call.pos) > 1:
                return PaddedTarget(trail=base.trail, pad=const_of(call.pos[1]))
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
            return self.sorted_by(base, name, call)
        if isinstance(base, Perm):
            return base
        if isinstance(base, Zeroed):
            if kind in ("keep", "reshape", "flatten", "squeeze", "unsqueeze", "reshape-unknown", "transpose",
                        "permute", "transpose2d"):
                return base
            if kind == "masked-select" and call.pos and isinstance(call.pos[0], Mask):
                return Dropped(call.pos[0].ref)
            return CLEAN
        if isinstance(base, Fresh) and kind == "masked-fill" and call.pos and isinstance(call.pos[0], Mask) and \
                len(call.pos) > 1 and const_of(call.pos[1]) == 0:
            m = call.pos[0]  # ones, zeroed where the mask holds: the complement is a mask
            return Mask(m.ref, inverted=not m.inverted)
        if isinstance(base, Unknown) and kind in ("transpose", "permute", "transpose2d") and swaps_batch_and_time(
                kind, call.pos):
            # remembered for a time-major pack of batch-major data; transposing back restores the value
            if isinstance(base, Transposed):
                return base.of if base.of is not None else CLEAN
            return Transposed(base.key, of=base)  # the same data, so the same origin for masks
        if isinstance(base, Unknown) and kind == "log":
            return MaskBias(MaskRef("unknown", base.key))  # scores + mask.log(): an untraced mask, trusted
        if isinstance(base, (Unknown, Lengths)) and kind in ("add", "sub") and call.pos and isinstance(
                call.pos[0], Const):
            return self.ops.binop(ast.Add if kind == "add" else ast.Sub, base, call.pos[0], call.node)  # lengths.sub(1)
        if isinstance(base, (Unknown, Lengths, Fresh)):
            if kind and kind.startswith("compare-"):
                return self.ops.compare(METHOD_COMPARE[kind], base, call.pos[0] if call.pos else CLEAN)
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
            return Unknown(None, order=base.order if kind != "reduce" or self.dim_arg(call) is not None else None)
        return CLEAN

    def sorted_by(self, base: Value, name: str, call: CallSite) -> Value:
        """``lengths.sort(descending=True)`` / ``argsort``: the batch permutation it makes, named by its site, and
        the sorted values in that order. Sorting a permutation gives its inverse (``perm.sort()[1]``,
        ``perm.argsort()``). A sort along another axis than the batch's (``dim=1``) is not a batch order."""
        dim = self.dim_arg(call)
        if dim not in (None, 0, -1):
            return Perm() if name == "argsort" else TupleV((Unknown(key_of(base)), Perm()))
        if isinstance(base, Perm):
            inverse = Perm(word=inverse_order(base.word) or ()) if base.word else Perm()
            return inverse if name == "argsort" else TupleV((CLEAN, inverse))
        line, col = self.ctx.pos(call.node)
        site = f"{self.ctx.module.path}:{line}:{col}"
        descending = const_of(call.kw.get("descending", call.pos[1] if len(call.pos) > 1 else Const(False)))
        step = PermStep(f"{key_of(base) or site}:{'descending' if descending is True else 'ascending'}", site,
                        self.ctx.text(call.node, 40))
        perm = Perm(word=(step,))
        if name == "argsort":
            return perm
        return TupleV((Unknown(key_of(base), order=compose_order(base.order, (step,))), perm))

    def reorder_method(self, base: Value, name: str, call: CallSite) -> Value | None:
        """``x.index_select(0, perm)`` reorders the batch like ``x[perm]``; ``y.index_copy(0, perm, src)`` puts
        ``src``'s rows back where ``perm`` took them from (``src`` in the order of ``perm``'s inverse)."""
        if len(call.pos) < 2 or not isinstance(call.pos[1], Perm) or \
                const_of(call.pos[0]) != self.ops.batch_axis(base):
            return None
        word = call.pos[1].word or None
        if name == "index_select":
            return replace(base, order=compose_order(base.order, word))
        src = call.pos[2] if len(call.pos) > 2 else CLEAN
        return replace(src, order=compose_order(src.order, inverse_order(word)))

    def not_lengths_method(self, base: NotLengths, name: str, kind: str | None, call: CallSite) -> Value:
        """Methods on lengths that are not per-sequence lengths: shape and dtype moves keep them, ``sub(1)`` is an
        offset, a comparison with a time index is a length mask built from them."""
        if kind and kind.startswith("compare-"):
            return self.ops.compare(METHOD_COMPARE[kind], base, call.pos[0] if call.pos else CLEAN, call.node)
        if kind in ("add", "sub") and call.pos and isinstance(call.pos[0], Const):
            return self.ops.binop(ast.Add if kind == "add" else ast.Sub, base, call.pos[0], call.node)
        if kind in ("keep", "reshape", "flatten", "squeeze", "unsqueeze", "reshape-unknown") or (
                kind is None and name not in ("cumsum", "sum", "flip", "numel", "size")):
            return base
        if base.kind == "batch-sizes" and name in ("max", "amax") and not call.pos and not call.kw:
            return AxisSize(BATCH)  # the most sequences running at any step: the batch size
        return CLEAN

    def mask_operand(self, node: ast.AST) -> str | None:
        """The name of the mask in ``(loss * mask).mean()``: the operand of the product that is bound to a mask,
        when exactly one is (a fix divides by its sum instead); None for any other shape."""
        receiver = node.func.value if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else None
        if not (isinstance(receiver, ast.BinOp) and isinstance(receiver.op, ast.Mult)):
            return None
        names = [side.id for side in (receiver.left, receiver.right)
                 if isinstance(side, ast.Name) and isinstance(self.frame.env.get(side.id), Mask)]
        return names[0] if len(names) == 1 else None

    def perstep_method(self, base: PerStep, name: str, kind: str | None, call: CallSite) -> Value:
        if kind == "reduce":
            dim = self.dim_arg(call)
            if base.zeroed is not None:
                step = self.ctx.step(call.node, f"{name}()")
                if name == "mean":
                    self.ctx.emit(Event("reduce", step.path, step.line, step.col, status="zeroed-mean",
                                    subject=self.ctx.text(call.node, 60), callee=name, trail=base.trail,
                                    details=(("partial", dim is not None), ("mask", self.mask_operand(call.node)))))
                    return ZeroedReduce("mean", step, base.trail) if dim is None else CLEAN
                return ZeroedReduce("sum", step, base.trail) if dim is None and name == "sum" else CLEAN
            if base.padded:
                if dim is not None:
                    return base
                self.ctx.emit(Event("reduce", *self.ctx.loc(call.node), status="padded",
                                    subject=self.ctx.text(call.node, 60), callee=name, reason=base.source,
                                    trail=base.trail), call.node)
                return LossOut(frozenset({self.frame.events[-1].key}))
            return CLEAN
        if kind == "masked-fill" and call.pos:
            ref = self.ctx.mask_ref_of(call.pos[0]) if not isinstance(call.pos[0], Mask) else call.pos[0].ref
            if ref is not None and len(call.pos) > 1 and const_of(call.pos[1]) == 0:
                return replace(base, zeroed=ref)
            return base
        if kind == "mul" and call.pos:
            return self.ops.binop(ast.Mult, base, call.pos[0], call.node)
        if kind == "masked-select":
            return CLEAN
        if kind == "opaque":
            return CLEAN
        return base

    def dim_arg(self, call: CallSite) -> object:
        d = call.kw.get("dim", call.kw.get("axis"))
        if d is None and call.pos:
            d = call.pos[0]
        if d is None:
            return None
        c = const_of(d)
        if isinstance(d, TupleV):
            return tuple(const_of(x) for x in d.items)
        return c if c is not None else "unknown"

    def tensor_method(self, base: Padded, name: str, pos: list[Value], kw: dict[str, Value], node: ast.AST,
                      call: CallSite | None = None) -> Value:
        call = call or CallSite(node, pos, kw, [])
        kind = self.tables.methods.get(name)
        axes = base.axes
        if name == "select" and axes is not None and len(pos) >= 2:
            d, index = norm_dim(const_of(pos[0]), len(axes)), const_of(pos[1])
            if d is not None and axes[d] == TIME:
                if index == -1:  # out.select(1, -1)
                    self.ctx.emit(Event("last-step", *self.ctx.loc(node), status="padded", subject=self.ctx.text(node),
                                    trail=base.trail, details=(("layout", "".join(axes)),
                                                               ("bidirectional", base.bidirectional),
                                                               ("lengths", self.ctx.name_of_lengths(base.lengths)))))
                return CLEAN
            return replace(base, axes=axes[:d] + axes[d + 1:]) if d is not None else replace(base, axes=None)
        if name == "size" and axes is not None:
            if not pos and "dim" not in kw:
                return ShapeOf(axes)
            d = norm_dim(const_of(kw.get("dim", pos[0] if pos else CLEAN)), len(axes))
            return size_of_axis(axes[d]) if d is not None else CLEAN  # a symbolic size naming its axis
        if name == "dim" and axes is not None and not pos and not kw:
            return Const(len(axes))  # a rank query decided from the known axes
        if kind == "unflatten":
            return self.unflatten(base, pos, kw)
        if kind in ("keep", None):
            if kind is None and name not in ("data",):
                return replace(base, pad=None if base.pad != 0 else base.pad)
            return base
        if kind in ("reshape", "flatten"):
            sizes = list(pos)
            if len(pos) == 1 and isinstance(pos[0], TupleV):
                sizes = list(pos[0].items)
            elif len(pos) == 1 and isinstance(pos[0], ShapeOf) and pos[0].axes is not None:
                sizes = [size_of_axis(a) for a in pos[0].axes]  # x.view(out.shape)
            dims = [const_of(v) for v in sizes]
            if kind == "flatten" and axes is not None:
                return replace(base, axes=self.flattened(axes, pos, kw))
            if axes is not None and any(size_label(v) is not None for v in sizes):
                if base.mismatch is not None and axes[0] == FLAT and len(dims) >= 3:
                    self.ctx.emit_batch_first(base)  # flattened time-major, viewed back as (B, T, ...)
                return replace(base, axes=reshape_axes(axes, sizes))
            flattening = kind == "flatten" or (-1 in dims and len(dims) <= 2)
            if flattening:  # a batch_first mismatch is judged where the flattened value meets a loss
                if kind == "flatten" and len(dims) >= 2 and dims[:2] != [0, 1]:
                    return replace(base, axes=None)
                new_axes = (FLAT, FEAT) if len(dims) == 2 or (kind == "flatten" and len(dims) >= 2) else (FLAT,)
                return replace(base, axes=new_axes)
            if base.mismatch is not None and axes and axes[0] == FLAT and len(dims) >= 3:
                self.ctx.emit_batch_first(base)  # flattened time-major, viewed back as (B, T, ...)
            if axes is not None and len(dims) == len(axes):
                return base
            return replace(base, axes=None)
        if kind == "reshape-unknown":
            return replace(base, axes=None)
        if kind in ("transpose", "transpose2d"):
            if kind == "transpose2d":
                a, b = 0, 1
            else:
                a, b = (const_of(pos[0]) if pos else None), (const_of(pos[1]) if len(pos) > 1 else None)
            if axes is None or not isinstance(a, int) or not isinstance(b, int):
                return replace(base, axes=None)
            ia, ib = norm_dim(a, len(axes)), norm_dim(b, len(axes))
            if ia is None or ib is None:
                return replace(base, axes=None)
            new = list(axes)
            new[ia], new[ib] = new[ib], new[ia]
            swapped = {axes[ia], axes[ib]} == {BATCH, TIME}
            return replace(base, axes=tuple(new), mismatch=None if swapped else base.mismatch)
        if kind == "permute":
            order = [const_of(v) for v in pos]
            if len(pos) == 1 and isinstance(pos[0], TupleV):
                order = [const_of(v) for v in pos[0].items]
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
                d = norm_dim(const_of(kw.get("dim", pos[0] if pos else CLEAN)), len(axes))
                if d is None or axes[d] in (TIME, BATCH):
                    return replace(base, axes=None) if d is None else base
                return replace(base, axes=axes[:d] + axes[d + 1:])
            new = tuple(a for a in axes if a != ONE)
            if new == axes and axes and axes[-1] == FEAT:
                new = axes[:-1]
            return replace(base, axes=new)
        if kind == "unsqueeze":
            d = const_of(kw.get("dim", pos[0] if pos else CLEAN))
            if axes is None or not isinstance(d, int):
                return replace(base, axes=None)
            n = len(axes) + 1
            d = d + n if d < 0 else d
            if not 0 <= d < n:
                return replace(base, axes=None)
            return replace(base, axes=axes[:d] + (ONE,) + axes[d:])
        if kind == "split":
            if base.bidirectional and name == "chunk" and pos and const_of(pos[0]) == 2:
                return Many(replace(base, bidirectional=False))  # fwd, bwd = out.chunk(2, -1): one direction each
            return Many(base)
        if kind in ("softmax", "log-softmax"):
            d = const_of(kw.get("dim", pos[0] if pos else CLEAN))
            if d is None and not pos and "dim" not in kw and axes is not None:
                d = 0 if len(axes) in (0, 1, 3) else 1  # softmax without dim: PyTorch's implicit choice
            t = base.time_axis
            if t is not None and isinstance(d, int) and norm_dim(d, len(axes)) == t:
                if not base.masked:
                    step = self.ctx.step(node, f"{name} over padded steps")
                    self.ctx.emit(Event("softmax", step.path, step.line, step.col, status="padded",
                                    subject=self.ctx.text(node, 60),
                                    trail=base.trail,
                                    details=(("layout", "".join(axes) if axes else ""),
                                             ("lengths", self.ctx.name_of_lengths(base.lengths)))))
                    # pad unknown: the leak is reported here once, not again at every pooling of these weights
                    return replace(base, pad=None, pending=base.pending + (step,), masked=False, filled=None)
                if kind == "log-softmax":  # log-probabilities over time, padded ones at -inf: still masked
                    return replace(base, pad=None, masked=True, filled=None)
                return replace(base, pad=0.0, masked=True, filled=None, nonneg=True)  # probabilities, 0 at padding
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
            fill = const_of(pos[1]) if len(pos) > 1 else const_of(kw.get("value", CLEAN))
            ref = m.ref if isinstance(m, Mask) else self.ctx.mask_ref_of(m)
            if ref is None:
                return base
            if isinstance(m, Mask) and not m.inverted:
                # the mask is True at the REAL steps: filling there leaves the padded steps as they were
                return replace(base, masked=False, filled=None)
            return replace(base, filled=fill, zeroed=ref if fill == 0 else base.zeroed,
                           masked=is_neg_large(fill), pad=fill if isinstance(fill, (int, float)) else None)
        if kind == "masked-select":
            m = pos[0] if pos else CLEAN
            if isinstance(m, Mask):
                return Dropped(m.ref, base.trail)
            if isinstance(m, Unknown):
                return Dropped(MaskRef("unknown", m.key), base.trail)
            return base
        if kind == "mul":
            return self.ops.binop(ast.Mult, base, pos[0] if pos else CLEAN, node)
        if kind == "div":
            return self.ops.binop(ast.Div, base, pos[0] if pos else CLEAN, node)
        if kind in ("add", "sub"):
            return self.ops.binop(ast.Add if kind == "add" else ast.Sub, base, pos[0] if pos else CLEAN, node)
        if kind == "gather":
            d = const_of(kw.get("dim", pos[0] if pos else CLEAN))
            wrong = self.ctx.wrong_lengths(pos[1] if len(pos) > 1 else kw.get("index", CLEAN))
            if wrong is not None and wrong.delta is not None and wrong.delta < 0:
                self.ctx.emit_not_lengths(wrong, "index", node)  # out.gather(1, (x - 1).view(-1, 1, 1)...)
            if axes is not None and isinstance(d, int) and norm_dim(d, len(axes)) == base.time_axis:
                index = pos[1] if len(pos) > 1 else kw.get("index", CLEAN)
                if base.bidirectional and at_last_real_step(index, base.lengths):
                    return self.ops.bidirectional_gather(base, node)
                return CLEAN
            return replace(base, axes=None)
        if kind == "index-select":
            d = const_of(kw.get("dim", pos[0] if pos else CLEAN))
            if base.mismatch is not None and d in (0, 1):
                self.ctx.emit_batch_first(base)
            if axes is not None and isinstance(d, int) and norm_dim(d, len(axes)) == base.time_axis:
                return CLEAN
            return base
        if kind == "matmul":
            return self.ops.matmul(base, pos[0] if pos else CLEAN)
        if kind and kind.startswith("compare-"):
            return CLEAN
        if kind == "opaque":
            return CLEAN
        return base

    def flattened(self, axes: tuple[str, ...], pos: list[Value], kw: dict[str, Value]) -> tuple[str, ...] | None:
        """The axes of ``x.flatten(start_dim=0, end_dim=-1)``: the axes from start to end folded into one."""
        start = const_of(kw.get("start_dim", pos[0] if pos else Const(0)))
        end = const_of(kw.get("end_dim", pos[1] if len(pos) > 1 else Const(-1)))
        s, e = norm_dim(start, len(axes)), norm_dim(end, len(axes))
        if s is None or e is None or e < s:
            return None
        return axes[:s] + (fold(list(axes[s:e + 1])),) + axes[e + 1:]

    def unflatten(self, base: Padded, pos: list[Value], kw: dict[str, Value]) -> Value:
        """``x.unflatten(dim, sizes)``: one axis split into several, placed by the symbolic sizes given."""
        axes = base.axes
        d = const_of(kw.get("dim", pos[0] if pos else CLEAN))
        sizes = kw.get("sizes", pos[1] if len(pos) > 1 else CLEAN)
        if axes is None or not isinstance(sizes, TupleV) or norm_dim(d, len(axes)) is None:
            return replace(base, axes=None)
        i = norm_dim(d, len(axes))
        assert i is not None
        split = reshape_axes((axes[i],), list(sizes.items))
        if split is None:
            return replace(base, axes=None)
        return replace(base, axes=axes[:i] + split + axes[i + 1:])

    def reduce(self, base: Padded, name: str, call: CallSite) -> Value:
        dim = self.dim_arg(call)
        axes = base.axes
        if dim is None:
            if base.residual and name in ("mean", "sum"):
                return self.handwritten_loss(base, name, call)
            return CLEAN
        if axes is None or dim == "unknown":
            return CLEAN
        dims = dim if isinstance(dim, tuple) else (dim,)
        norm = [norm_dim(d, len(axes)) for d in dims]
        if any(d is None for d in norm):
            return CLEAN
        if base.time_axis in norm:
            self.pool(base, name, base.time_axis, call)
            if name in ("max", "min") and "keepdim" not in call.kw:
                return TupleV((CLEAN, CLEAN))
            if name == "sum":
                return TimeSum(base.trail, self.ctx.loc(call.node))
            return CLEAN
        keep = tuple(a for i, a in enumerate(axes) if i not in norm)
        if const_of(call.kw.get("keepdim", Const(False))) is True:
            keep = axes
        out = replace(base, axes=keep)
        if name in ("max", "min") and "keepdim" not in call.kw:
            return TupleV((out, CLEAN))
        return out

    def handwritten_loss(self, base: Padded, name: str, call: CallSite) -> Value:
        """``((pred - y) ** 2).mean()`` over a padded prediction is a loss written out by hand: judged like a
        per-step loss (PKL001 unmasked, PKL007 masked but averaged over every step)."""
        status = "zeroed-mean" if base.zeroed is not None else "padded"
        if status == "zeroed-mean" and name != "mean":
            return CLEAN  # a masked sum: exact until divided by the wrong count
        self.ctx.emit(Event("reduce", *self.ctx.loc(call.node), status=status, subject=self.ctx.text(call.node, 60),
                        callee=name, reason="a loss written out by hand", trail=base.trail), call.node)
        return LossOut(frozenset({self.frame.events[-1].key}))

    def pool(self, base: Padded, op: str, axis: int, call: CallSite, func: str | None = None) -> None:
        self.ctx.emit(Event("pool", *self.ctx.loc(call.node), status="padded", subject=self.ctx.text(call.node),
                        callee=func or op, trail=base.trail,
                        details=(("op", op), ("pad", base.pad), ("zeroed", base.zeroed is not None),
                                 ("filled", base.filled), ("nonneg", base.nonneg), ("masked", base.masked),
                                 ("layout", "".join(base.axes or ())),
                                 ("lengths", self.ctx.name_of_lengths(base.lengths)))))
