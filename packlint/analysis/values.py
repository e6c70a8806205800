"""Abstract values: what the engine knows about each expression.

A small lattice rather than booleans, because the rules need more than "tainted": where batch and time sit
(``axes``), what the padded steps hold (``pad``), which mask touched a value and how (dropped or zeroed), and the
trail of steps that brought padding here. ``join`` keeps the worst case so one unmasked path is reported.
Every value is frozen and hashable so call-site analyses can be memoised on their arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from packlint.diagnostics import TrailStep

Trail = tuple[TrailStep, ...]

# Axis labels in Padded.axes: B batch, T time, F feature (anything else), N flattened batch*time.
BATCH, TIME, FEAT, FLAT = "B", "T", "F", "N"
NONZERO = "nonzero"  # pad value known to differ from 0, exact value unknown


class Value:
    """Base of all abstract values."""

    def with_trail(self, step: TrailStep) -> "Value":
        return self


@dataclass(frozen=True)
class Unknown(Value):
    """Nothing is known (a parameter, an unresolved call). ``key`` names where it came from, so two masks built
    from the same unknown lengths can be recognised as the same (``train:lengths``)."""

    key: str | None = None


CLEAN = Unknown(None)


@dataclass(frozen=True)
class Const(Value):
    """A Python constant (numbers, strings, None, booleans)."""

    value: object


@dataclass(frozen=True)
class MaskRef:
    """What a mask was derived from. Two masks agree when their refs are compatible (see ``refs_agree``).

    kind: ``lengths`` (arange < lengths), ``pad`` (tokens != PAD), ``packed`` (packing order), ``unknown``.
    """

    kind: str
    origin: str | None = None
    pad: object = None


def refs_agree(a: MaskRef, b: MaskRef) -> bool:
    """Whether dropping with ``a`` and ``b`` keeps the same positions in the same order."""
    if (a.kind == "packed") != (b.kind == "packed"):
        return False  # packed data is time-major, a boolean mask selects batch-major
    if a.kind == b.kind and a.origin and b.origin and a.origin != b.origin:
        return False
    return True


@dataclass(frozen=True)
class Padded(Value):
    """A tensor with padded time steps, from ``pad_packed_sequence`` through propagators.

    axes: labels per dimension when known. pad: the padded steps' value (0.0, -inf, NONZERO) or None if unknown.
    zeroed: a mask multiplied into it (does not sanitize a mean-reduced loss). filled: value masked_fill put at
    padded steps (-inf before max/softmax). masked: an additive mask was applied (for attention scores).
    nonneg: real values are >= 0 (after relu), so zero padding cannot win a max. mismatch: the unpack step whose
    batch_first disagrees with its pack. lengths: origin key of the lengths it was unpacked with.
    """

    trail: Trail
    axes: tuple[str, ...] | None = None
    pad: object = 0.0
    zeroed: MaskRef | None = None
    filled: object = None
    masked: bool = False
    nonneg: bool = False
    mismatch: TrailStep | None = None
    lengths: str | None = None
    pending: tuple[TrailStep, ...] = ()
    bidirectional: bool = False
    residual: bool = False  # a difference with another tensor (`pred - y`): a hand-written loss in the making

    def with_trail(self, step: TrailStep) -> "Padded":
        if self.trail and self.trail[-1] == step:
            return self
        return replace(self, trail=self.trail + (step,))

    @property
    def time_axis(self) -> int | None:
        if self.axes is None or self.axes.count(TIME) != 1:
            return None
        return self.axes.index(TIME)


@dataclass(frozen=True)
class PaddedTarget(Value):
    """Targets padded with a known value (``pad_sequence(..., padding_value=P)``); ``pad`` None when unknown."""

    trail: Trail
    pad: object = 0
    zeroed: MaskRef | None = None  # multiplied by a mask (the target side is masked)

    def with_trail(self, step: TrailStep) -> "PaddedTarget":
        return replace(self, trail=self.trail + (step,))


@dataclass(frozen=True)
class Dropped(Value):
    """Padded steps removed by a mask (``x[mask]``, ``masked_select``, packed ``.data``). Clean on its own; a loss
    still checks that both sides were dropped the same way."""

    by: MaskRef
    trail: Trail = ()
    conflict: str = ""  # why the mask does not fit the value (built from other lengths than it was unpacked with)


@dataclass(frozen=True)
class Mask(Value):
    """A boolean or float mask derived from lengths or from the padding value. ``inverted`` marks pad positions."""

    ref: MaskRef
    inverted: bool = False


@dataclass(frozen=True)
class MaskBias(Value):
    """An additive mask: ``(mask - 1) * 1e9``, ``mask.log()``, ``(~mask) * -inf``: large negative at padding."""

    ref: MaskRef


@dataclass(frozen=True)
class Arange(Value):
    """A time index from ``torch.arange``: compared with lengths it builds a length mask."""


@dataclass(frozen=True)
class Lengths(Value):
    """Per-sequence lengths; ``origin`` ties masks built from them together."""

    origin: str | None


@dataclass(frozen=True)
class Packed(Value):
    """A PackedSequence: packing remembers its lengths and its ``batch_first`` (for PKL004)."""

    trail: Trail
    batch_first: bool | None = None
    lengths: str | None = None
    pack_step: TrailStep | None = None
    bidirectional: bool = False


@dataclass(frozen=True)
class PerStep(Value):
    """A per-step loss (``reduction='none'``). ``padded`` holds the unsanitized input it scored, if any; ``zeroed``
    the mask multiplied in. Reducing it decides PKL001 (padded, not zeroed) and PKL007 (zeroed, then mean)."""

    trail: Trail
    padded: bool = True
    zeroed: MaskRef | None = None
    source: str = ""


@dataclass(frozen=True)
class LossFn(Value):
    """A loss object (``nn.CrossEntropyLoss(...)``): its kind and the keyword arguments that matter."""

    qualname: str
    ignore_index: object = None  # None: not given explicitly
    reduction: str = "mean"
    created: TrailStep | None = None
    weight: object = None  # the weight= argument's value


@dataclass(frozen=True)
class Ext(Value):
    """A name outside the linted tree, by qualified name (``torch.nn.functional.cross_entropy``)."""

    qualname: str


@dataclass(frozen=True)
class ExtObj(Value):
    """An instance of an external class (``nn.Linear(...)``); ``flags`` keeps constructor options that matter
    (``bidirectional``, ``batch_first``)."""

    qualname: str
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class FuncRef(Value):
    """A function or method defined in the linted tree."""

    func_id: str


@dataclass(frozen=True)
class ClassRef(Value):
    class_id: str


@dataclass(frozen=True)
class Instance(Value):
    """An object of a class defined in the linted tree: calling it calls ``forward`` (or ``__call__``)."""

    class_id: str


@dataclass(frozen=True)
class BoundMethod(Value):
    func_id: str
    self_value: Value


@dataclass(frozen=True)
class Super(Value):
    class_id: str
    self_value: Value


@dataclass(frozen=True)
class TupleV(Value):
    items: tuple[Value, ...]


@dataclass(frozen=True)
class DictV(Value):
    items: tuple[tuple[object, Value], ...]

    def get(self, key: object) -> Value | None:
        for k, v in self.items:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class Many(Value):
    """A list or iterable whose elements are all (at worst) ``elem``."""

    elem: Value


@dataclass(frozen=True)
class Loader(Value):
    """An iterable of batches (a DataLoader): iterating yields ``element``."""

    element: Value


# Values the interpreter needs for shapes, masks and reductions.

@dataclass(frozen=True)
class SequentialV(Value):
    """``nn.Sequential(a, b, c)``: calling it calls each layer in turn (a user module inside may move axes)."""

    layers: tuple


@dataclass(frozen=True)
class BidirGathered(Value):
    """Steps gathered at ``lengths - 1`` of a bidirectional output, reported unless cut to one direction."""

    step: TrailStep


@dataclass(frozen=True)
class Zeroed(Value):
    """A tensor of unknown origin multiplied by a mask (``y * mask``): zero at padding."""

    ref: MaskRef


@dataclass(frozen=True)
class ZeroClass(Value):
    """Per-class loss weights with some classes weighted 0 (``w = torch.ones(C); w[PAD] = 0``): for a
    cross-entropy loss, the same as ``ignore_index`` for those classes."""

    classes: frozenset

@dataclass(frozen=True)
class LossOut(Value):
    """The result of a loss packlint reported on, with the keys of those events: a function that returns it is a
    loss helper, so its finding moves to the caller that passed the padded value in."""

    keys: frozenset



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


# ---------------------------------------------------------------------------------------------------------------

def is_tainted(value: Value) -> bool:
    """Whether a value carries padding a sink must not read."""
    if isinstance(value, (Padded, PaddedTarget)):
        return True
    if isinstance(value, PerStep):
        return value.padded
    if isinstance(value, (TupleV,)):
        return any(is_tainted(v) for v in value.items)
    if isinstance(value, Many):
        return is_tainted(value.elem)
    if isinstance(value, DictV):
        return any(is_tainted(v) for _, v in value.items)
    return False


def _rank(value: Value) -> int:
    if isinstance(value, Padded):
        return 6
    if isinstance(value, PerStep):
        return 5 if value.padded else 2
    if isinstance(value, PaddedTarget):
        return 4
    if isinstance(value, Dropped):
        return 3
    return 0


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def join(a: Value | None, b: Value | None) -> Value:
    """Least upper bound: the worse of two paths (padded beats masked beats clean)."""
    if a is None:
        return b if b is not None else CLEAN
    if b is None or a == b:
        return a
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return a if ra > rb else b
    if isinstance(a, Padded) and isinstance(b, Padded):
        return Padded(
            trail=a.trail,
            axes=a.axes if a.axes == b.axes else None,
            pad=a.pad if _same(a.pad, b.pad) else None,
            zeroed=a.zeroed if a.zeroed == b.zeroed else None,
            filled=a.filled if _same(a.filled, b.filled) else None,
            masked=a.masked and b.masked,
            nonneg=a.nonneg and b.nonneg,
            mismatch=a.mismatch or b.mismatch,
            lengths=a.lengths if a.lengths == b.lengths else None,
            pending=tuple(dict.fromkeys(a.pending + b.pending)),
        )
    if isinstance(a, PerStep) and isinstance(b, PerStep):
        return PerStep(trail=a.trail, padded=a.padded or b.padded,
                       zeroed=a.zeroed if a.zeroed == b.zeroed else None, source=a.source)
    if isinstance(a, PaddedTarget) and isinstance(b, PaddedTarget):
        return PaddedTarget(trail=a.trail, pad=a.pad if a.pad == b.pad else None)
    if isinstance(a, TupleV) and isinstance(b, TupleV) and len(a.items) == len(b.items):
        return TupleV(tuple(join(x, y) for x, y in zip(a.items, b.items)))
    if isinstance(a, Many) and isinstance(b, Many):
        return Many(join(a.elem, b.elem))
    if isinstance(a, DictV) and isinstance(b, DictV):
        keys = list(dict.fromkeys([k for k, _ in a.items] + [k for k, _ in b.items]))
        return DictV(tuple((k, join(a.get(k), b.get(k))) for k in keys))
    if isinstance(a, Mask) and isinstance(b, Mask) and a.inverted == b.inverted:
        if refs_agree(a.ref, b.ref):
            return a
    if isinstance(a, Loader) and isinstance(b, Loader):
        return Loader(join(a.element, b.element))
    if isinstance(a, LossOut) and isinstance(b, LossOut):
        return LossOut(a.keys | b.keys)
    if isinstance(a, Dropped) and isinstance(b, Dropped):
        return a if refs_agree(a.by, b.by) else Dropped(MaskRef("unknown"), a.trail)
    if isinstance(a, Const) and isinstance(b, Const):
        return CLEAN
    # Keep an object identity when the other side is just "unknown" or None (``x = None`` then ``x = Net()`` in a
    # branch; ``self.model = model`` seen once with an unknown parameter and once with a model): which code runs
    # is what matters for objects, and the known one is the only candidate we can follow.
    for x, y in ((a, b), (b, a)):
        if isinstance(x, (Const, Unknown)) and (not isinstance(x, Const) or x.value is None):
            if isinstance(y, _OBJECTS):
                return y
            if isinstance(y, TupleV):  # a path returning an unknown value keeps the other path's padded parts
                return TupleV(tuple(join(item, CLEAN) for item in y.items))
            if isinstance(y, Many):
                return Many(join(y.elem, CLEAN))
            if isinstance(y, DictV):
                return DictV(tuple((k, join(v, CLEAN)) for k, v in y.items))
    if isinstance(a, Const) and a.value is None:
        return b
    if isinstance(b, Const) and b.value is None:
        return a
    return CLEAN


_OBJECTS = (Instance, ExtObj, LossFn, ClassRef, FuncRef, BoundMethod, Loader, LossOut)


def carries(value: Value, key: tuple) -> bool:
    """Whether ``value`` (a return value) holds the result of the sink event ``key``."""
    if isinstance(value, LossOut):
        return key in value.keys
    if isinstance(value, ZeroedReduce):
        s = value.step
        return key == ("reduce", s.path, s.line, s.col, "zeroed-mean")
    if isinstance(value, TupleV):
        return any(carries(v, key) for v in value.items)
    if isinstance(value, DictV):
        return any(carries(v, key) for _, v in value.items)
    if isinstance(value, Many):
        return carries(value.elem, key)
    return False


def rekey(value: Value, old: tuple, new: tuple) -> Value:
    """``value`` with an event key replaced (the event was relocated to the caller's line)."""
    if isinstance(value, LossOut) and old in value.keys:
        return LossOut((value.keys - {old}) | {new})
    if isinstance(value, ZeroedReduce) and carries(value, old):
        return LossOut(frozenset({new}))
    if isinstance(value, TupleV):
        return TupleV(tuple(rekey(v, old, new) for v in value.items))
    if isinstance(value, DictV):
        return DictV(tuple((k, rekey(v, old, new)) for k, v in value.items))
    return value


# ---------------------------------------------------------------------------------------------------------------
# Typed facts of the expression interpreter: index elements, offsets on lengths, transposes, symbolic sizes.

@dataclass(frozen=True)
class SliceIndex(Value):
    """A slice in an index (``lower:upper:step``), each bound's abstract value or None where it is not written.

    ``out[i, :l]`` (an upper bound that is a length) trims a row to its real steps; ``out[:, -1:]`` keeps the last
    (padded) step as an axis; ``out[:, :, :H]`` (any written upper bound on the features) cuts out one direction."""

    lower: Value | None = None
    upper: Value | None = None
    step: Value | None = None

    @property
    def bound(self) -> Value | None:
        """The bound that is not a constant (lower before upper), or None: what a slice may trim to."""
        for b in (self.lower, self.upper):
            if b is not None and not isinstance(b, Const):
                return b
        return None

    @property
    def last_only(self) -> bool:
        """``-1:``: the last step, kept as an axis of size 1."""
        return self.upper is None and isinstance(self.lower, Const) and self.lower.value == -1

    @property
    def literal(self) -> slice | None:
        """The Python slice when every written bound is an integer constant (``[:2]``, ``[1:]``), else None."""
        parts = []
        for b in (self.lower, self.upper, self.step):
            if b is None:
                parts.append(None)
            elif isinstance(b, Const) and isinstance(b.value, int) and not isinstance(b.value, bool):
                parts.append(b.value)
            else:
                return None
        return slice(*parts)


@dataclass(frozen=True)
class EllipsisIndex(Value):
    """``...`` in an index: as many full slices as the remaining axes need."""


@dataclass(frozen=True)
class Offset(Unknown):
    """Per-sequence lengths plus a constant: ``lengths - 1`` (``delta`` -1), ``lengths.sub(1)``, ``(lengths - 1)
    .long()``. ``of`` is the lengths value itself (:class:`Lengths`, or an unknown tensor keyed by where it came
    from); ``key`` identifies the offset value for masks built from it. Still an unknown tensor for everything else.

    Only ``delta == -1`` on values known to be lengths is each sequence's last real step (see
    ``support.at_last_real_step``): ``entity_pos - 1`` is an offset too, but not of lengths."""

    of: Value | None = None
    delta: int | None = None  # None: not known (two paths with different offsets)


@dataclass(frozen=True)
class Transposed(Unknown):
    """An unknown tensor with its first two axes swapped (``x.transpose(0, 1)``, ``x.t()``, ``x.permute(1, 0, 2)``):
    packing it time-major, or flattening it against a time-major output, restores the caller's batch-major layout on
    purpose. Still an unknown tensor for everything else; transposing it again gives ``of`` back."""

    of: Value | None = None


@dataclass(frozen=True)
class AxisSize(Value):
    """The size of one axis of a padded tensor other than time (``out.size(0)``, ``out.shape[-1]``, ``b`` of
    ``b, t, _ = out.shape``), naming that axis by its label (batch, feature, folded batch*time, query). With
    :class:`TimeLen` (the size of the time axis) it lets ``view``/``reshape``/``unflatten`` tell which axes a new
    shape keeps: ``scores.view(-1, s)`` with ``s = ctx.size(1)`` still ends in time."""

    axis: str


@dataclass(frozen=True)
class Ranked(Fresh):
    """A tensor made from nothing with a known number of axes (``torch.randn(64)``, ``nn.Parameter(torch.zeros(H))``):
    a learned query vector. Multiplying a padded output by a vector (``out.matmul(v)``) drops the feature axis."""

    rank: int = 0


@dataclass(frozen=True)
class Item(Unknown):
    """An element or row read out of an unknown tensor (``lengths[i]``, ``for l in lens``): ``of`` is the tensor it
    came from, so ``lengths[i] - 1`` is still an offset of those lengths. Still an unknown tensor otherwise."""

    of: Value | None = None
