"""Abstract values: what the engine knows about each expression.

A small lattice rather than booleans, because the rules need more than "tainted": where batch and time sit
(``axes``), what the padded steps hold (``pad``), which mask touched a value and how (dropped or zeroed), and the
trail of steps that brought padding here. ``join`` keeps the worst case so one unmasked path is reported.
Every value is frozen and hashable so call-site analyses can be memoised on their arguments.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields, replace

from packlint.diagnostics import TrailStep

Trail = tuple[TrailStep, ...]

# Axis labels in Padded.axes: B batch, T time, F feature (anything else), N flattened batch*time.
BATCH, TIME, FEAT, FLAT = "B", "T", "F", "N"
ONE = "1"  # an axis of size 1 (a kept or inserted singleton): it holds neither batch nor time
NONZERO = "nonzero"  # pad value known to differ from 0, exact value unknown


@dataclass(frozen=True)
class PermStep:
    """One batch permutation, taken as is or inverted (``argsort`` of a permutation, ``perm.sort()[1]``).

    ``key`` is which permutation: what was sorted (its origin key, or the sort's site when it has none) and in
    which direction, so sorting the same lengths the same way in two places is the same permutation. ``site``
    (``path:line:col``) and ``what`` (source text) say where, for messages; they are not part of the identity."""

    key: str
    site: str = field(compare=False)
    what: str = field(compare=False)
    inverse: bool = False

    def inverted(self) -> "PermStep":
        return PermStep(self.key, self.site, self.what, not self.inverse)

    def trail_step(self) -> TrailStep:
        """Where the sort is, as a step of a finding's trail."""
        path, line, col = self.site.rsplit(":", 2)
        return TrailStep(path, int(line), int(col), f"`{self.what}` sorts the batch")


def sort_trail(order: "Order") -> tuple[TrailStep, ...]:
    """The sorts an order (or two) went through, once each, in the order of their sites."""
    return tuple(step.trail_step() for _, step in sorted({s.site: s for s in order}.items()))


#: A batch order: the permutations applied to the batch axis since the function was given it, in order.
Order = tuple[PermStep, ...]


def compose_order(order: Order | None, word: Order | None) -> Order | None:
    """``order`` followed by ``word`` (``x[p]`` then ``[q]``), a permutation next to its own inverse cancelled;
    None (not known) when either is."""
    if order is None or word is None:
        return None
    out: list[PermStep] = []
    for step in (*order, *word):
        if out and out[-1].key == step.key and out[-1].inverse != step.inverse:
            out.pop()
        else:
            out.append(step)
    return tuple(out)


def word_data(order: Order) -> tuple[tuple[str, str, bool], ...]:
    """A batch order as plain data for an event: (sort's source text, its site, inverted) per permutation."""
    return tuple((step.what, step.site, step.inverse) for step in order)


def inverse_order(word: Order | None) -> Order | None:
    return None if word is None else tuple(step.inverted() for step in reversed(word))


@dataclass(frozen=True)
class Value:
    """Base of all abstract values.

    order: the value's batch order, as the permutations applied to its batch axis since the function was given
    it: ``()`` the order it was given in, None not known (PKL102 compares orders where batch-aligned values meet).
    Keyword-only, so every kind of value carries it without changing how it is built.
    """

    order: Order | None = field(default=None, kw_only=True)

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
    batch_first disagrees with its pack. asked_batch_first: that unpack asked for batch_first=True after a
    time-major pack, so the output is batch-major as the code asked; only meeting data still in the packing side's
    layout (a flattened target) is a clash, indexing it batch-major is right. lengths: origin key of the lengths it
    was unpacked with.
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
    asked_batch_first: bool = False
    stepped: bool = False  # one time step of it (`out[:, t]` in a loop over t): stacking the steps restores time

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
    # where batch and time sit when known (``pad_sequence``: time-major unless ``batch_first=True``), and whether
    # the padding is on the left (``padding_side="left"``): read when the batch is used as a model input
    axes: tuple[str, ...] | None = None
    left: bool = False

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
    """A time index from ``torch.arange``: compared with lengths it builds a length mask. ``over`` is the axis its
    extent is known to be the size of (``B`` for ``torch.arange(batch_sizes[0])``), None when not known."""

    over: str | None = None


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
    """An object of a class defined in the linted tree: calling it calls ``forward`` (or ``__call__``).

    ``own``: the attributes its own construction set (``Enc(pool=False)`` here, ``Enc(pool=True)`` there are two
    instances with two ``forward`` analyses), sorted by name; None for an instance known only by its class (a
    ``self`` analysed alone), whose attributes are the join over every construction of the class."""

    class_id: str
    own: tuple[tuple[str, Value], ...] | None = None

    def own_attr(self, name: str) -> Value | None:
        for attr, value in self.own or ():
            if attr == name:
                return value
        return None


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
    """A dict (or batch mapping) with known string keys. ``rest`` is the value of any key not listed: None when
    such keys are absent, or what a path that was not a dict contributed after a join."""

    items: tuple[tuple[object, Value], ...]
    rest: Value | None = None

    def get(self, key: object) -> Value | None:
        for k, v in self.items:
            if k == key:
                return v
        return self.rest


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
class StepIndex(Value):
    """A loop counter over ``range(...)``: one position of an axis at a time. On the time axis of a padded tensor
    it picks each step in turn (``out[:, t]``), padded steps included; not a gather at one real step."""


@dataclass(frozen=True)
class Perm(Value):
    """A permutation from ``sort``/``argsort``: indexing with it reorders the batch and keeps padding. ``word``:
    which permutation, as the sorts it composes (``()``: one packlint cannot name, so orders through it are not
    known)."""

    word: Order = ()


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
        return any(is_tainted(v) for _, v in value.items) or (value.rest is not None and is_tainted(value.rest))
    return False


# --------------------------------------------------------------------------------------------------------------
# The lattice. ``join`` is the least upper bound of two paths' values; it is commutative, associative and
# idempotent on the facts (``facts`` strips provenance: a trail is where a fact came from, not the fact, so a
# join keeps the first path's trail and equality of facts ignores it). Property tests in tests/test_lattice.py.
#
# Values are ordered first by how much harm they carry (``_rank``): Padded > padded PerStep > PaddedTarget >
# StaleState > PaddedInput > Dropped > unpadded PerStep > the rest. Two values of different harm join to the more harmful one; two of the
# same kind join field by field (``_FIELD_JOIN``): a harmful flag (bidirectional, residual, a batch_first
# mismatch) survives if either path has it, a protective one (masked, nonneg) only if both do, any other fact is
# kept when both paths agree and otherwise falls back to the field's "not known" default.
#
# Among harmless values (rank 0):
#   absent (``None``) < unknown (a parameter, an unresolved call) < an object (instance, function, loss object)
#   absent < unknown / known data (masks, lengths, constants) < TOP
# ``None`` on one path is an optional value that is given on the other. An unknown joined with an object keeps the
# object: which code runs is what matters, and the known object is the only candidate to follow (a deliberate,
# documented imprecision). Different objects, or an object and data, join to TOP; so do two different constants
# (numbers may be lengths). Two different values known not to be masks (fresh tensors) join to CLEAN_DATA. TOP, like any unknown,
# is trusted where a mask is expected (the documented trust in untraced masks); CLEAN_DATA never is.
# Containers join item by item (a dict's unlisted keys through its ``rest``), and with anything that is not a
# container, each item joins with that value, so a padded element survives a path that returns something else.


@dataclass(frozen=True)
class Top(Unknown):
    """Several known, incompatible values met (an instance on one path, a mask on the other): nothing is known,
    as with an unknown value, but it is not below an object the way a plain unknown is."""


@dataclass(frozen=True)
class CleanData(Value):
    """A plain value known to carry no padding and not to be a mask (two different constants, say). Unlike an
    unknown value it is never trusted as an untraced mask."""


TOP = Top()
CLEAN_DATA = CleanData()


def _rank(value: Value) -> int:
    if isinstance(value, Padded):
        return 8
    if isinstance(value, PerStep):
        return 7 if value.padded else 2
    if isinstance(value, PaddedTarget):
        return 6
    if isinstance(value, StaleState):
        return 5
    if isinstance(value, PaddedInput):
        return 4
    if isinstance(value, Dropped):
        return 3
    return 0


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _step_key(step: TrailStep) -> tuple:
    return (step.path, step.line, step.col, step.what, step.cell)


# Field policies: how one field of two values of the same kind joins. Each returns the joined field, or raises
# _NoJoin when the whole value must go to TOP.
class _NoJoin(Exception):
    pass


def _first(a, b, default):
    return a  # provenance: the first path's trail (outside the facts)


def _agree(a, b, default):
    """Kept when both paths agree; otherwise no join of the two values at all (a default may mean something:
    a loss object's ``ignore_index=None`` is "not given", not "not known")."""
    if _same(a, b):
        return a
    raise _NoJoin


def _or_none(a, b, default):
    return a if _same(a, b) else None


def _or_default(a, b, default):
    return a if _same(a, b) else default


def _join_values(a, b, default):
    return join(a, b)


def _either(a, b, default):
    return a or b  # a harmful flag: one path having it is enough


def _both(a, b, default):
    return a and b  # a protective flag: every path must have it


def _some_step(a, b, default):
    """A harmful step (where a mismatch or a gather happened): either path's, the same one whatever the order."""
    if a is None or b is None:
        return a if b is None else b
    return min(a, b, key=_step_key)


def _step_union(a, b, default):
    return tuple(sorted(set(a) | set(b), key=_step_key))


def _mask_ref(a, b, default):
    if a is None or b is None:
        return None if default is None else _agree(a, b, default)
    joined = join_refs(a, b)
    if joined is None:
        if default is _MISSING:
            raise _NoJoin
        return default
    return joined


def _key_union(a, b, default):
    return a | b


def _key_intersection(a, b, default):
    both = a & b
    if not both:
        raise _NoJoin
    return both


_MISSING = object()

_FIELD_JOIN: dict[type, dict[str, object]] = {
    Padded: {"trail": _first, "axes": _or_none, "pad": _or_none, "zeroed": _mask_ref, "filled": _or_none,
             "masked": _both, "nonneg": _both, "mismatch": _some_step, "asked_batch_first": _both, "stepped": _either,
             "lengths": _or_none, "pending": _step_union,
             "bidirectional": _either, "residual": _either},
    PaddedTarget: {"trail": _first, "pad": _or_none, "zeroed": _mask_ref, "axes": _or_none, "left": _either},
    PerStep: {"trail": _first, "padded": _either, "zeroed": _mask_ref, "source": _or_default},
    Dropped: {"trail": _first, "by": lambda a, b, d: join_refs(a, b) or MaskRef("unknown"),
              "conflict": lambda a, b, d: min((c for c in (a, b) if c), default="")},
    Packed: {"trail": _first, "batch_first": _or_none, "lengths": _or_none, "pack_step": _some_step,
             "bidirectional": _either},
    Mask: {"ref": _mask_ref},
    MaskBias: {"ref": _mask_ref},
    Zeroed: {"ref": _mask_ref},
    Lengths: {"origin": lambda a, b, d: a if a == b else None},
    Arange: {"over": _or_none},
    LossOut: {"keys": _key_union},
    ZeroClass: {"classes": _key_intersection},
    BidirGathered: {"step": _some_step},
    Loader: {"element": _join_values},
    Instance: {"own": lambda a, b, d: _join_own(a, b)},
}
# PaddedInput and StaleState (defined at the end of this module) get their policies there.


def _join_own(a, b):
    """Two constructions of one class: the attributes both set, each joined; the others from the class."""
    if a is None or b is None:
        return None
    theirs = dict(b)
    return tuple((name, join(value, theirs[name])) for name, value in a if name in theirs)


def join_refs(a: MaskRef, b: MaskRef) -> MaskRef | None:
    """Two masks' provenance joined: None when they do not keep the same positions (see ``refs_agree``)."""
    if a == b:
        return a
    if not refs_agree(a, b):
        return None
    return MaskRef(a.kind if a.kind == b.kind else "unknown", a.origin if a.origin == b.origin else None,
                   a.pad if _same(a.pad, b.pad) else None)


def _order(a, b, default):
    """Two paths' batch orders: kept when they agree, otherwise not known (never a finding of its own)."""
    return a if a == b else None


def _fieldwise(a: Value, b: Value) -> Value:
    """Two values of one kind, joined field by field. A field without a policy of its own is kept when both agree;
    otherwise it takes its default on a value that carries padding (whose harm must survive the join), and for a
    harmless value the join goes to TOP."""
    policies = _FIELD_JOIN.get(type(a), {})
    fallback = _or_default if _rank(a) > 0 else _agree
    out = {}
    for f in fields(a):
        default = f.default if f.default is not MISSING else _MISSING
        policy = policies.get(f.name, _order if f.name == "order" else fallback)
        out[f.name] = policy(getattr(a, f.name), getattr(b, f.name), default)
    return type(a)(**out)


# Harmless values by category, for the order above.
_OBJECTS = (Instance, ExtObj, LossFn, ClassRef, FuncRef, BoundMethod, Loader, LossOut, Ext, SequentialV, Super)
_CONTAINERS = (TupleV, Many, DictV, Loader)  # a loader yields its element: it joins like a container of it
_PLAIN = (Fresh, CleanData)  # known not to be a mask; constants are not among them: numbers can be lengths


def _is_absent(v: Value) -> bool:
    return isinstance(v, Const) and v.value is None


def _items(v: Value) -> list[Value]:
    if isinstance(v, TupleV):
        return list(v.items)
    if isinstance(v, Many):
        return [v.elem]
    if isinstance(v, Loader):
        return [v.element]
    return [x for _, x in v.items] + ([v.rest] if v.rest is not None else [])  # DictV


def _map_items(c: Value, other: Value) -> Value:
    """A container on one path, something else on the other: each item may be that other value."""
    if isinstance(c, TupleV):
        return TupleV(tuple(join(x, other) for x in c.items))
    if isinstance(c, Many):
        return Many(join(c.elem, other))
    if isinstance(c, Loader):
        return Loader(join(c.element, other))
    return DictV(tuple((k, join(x, other)) for k, x in c.items), join(c.rest, other))


def _join_containers(a: Value, b: Value) -> Value:
    if isinstance(a, TupleV) and isinstance(b, TupleV) and len(a.items) == len(b.items):
        return TupleV(tuple(join(x, y) for x, y in zip(a.items, b.items)))
    if isinstance(a, Loader) and isinstance(b, Loader):
        return Loader(join(a.element, b.element))
    if isinstance(a, DictV) and isinstance(b, DictV):
        keys = sorted({k for k, _ in a.items} | {k for k, _ in b.items}, key=repr)  # one order, whoever came first
        return DictV(tuple((k, join(a.get(k), b.get(k))) for k in keys), join(a.rest, b.rest) if a.rest or b.rest
                     else None)
    # tuples of different lengths, a list and a tuple: an iterable of any of their items
    elem: Value | None = None
    for x in _items(a) + _items(b):
        elem = join(elem, x)
    return Many(elem if elem is not None else CLEAN)


def _join_harmless(a: Value, b: Value) -> Value:
    if _is_absent(a) or _is_absent(b):
        other = b if _is_absent(a) else a
        return TOP if isinstance(other, Const) else other  # `x = None` then `x = 3`: not known to be 3
    if isinstance(a, Top) or isinstance(b, Top):
        return TOP
    a_unknown, b_unknown = isinstance(a, Unknown), isinstance(b, Unknown)
    if a_unknown and b_unknown:
        return CLEAN  # two different unknowns: still unknown, no longer one named origin
    if a_unknown or b_unknown:
        other = b if a_unknown else a
        return other if isinstance(other, _OBJECTS) else TOP
    if isinstance(a, Fresh) and isinstance(b, Fresh):
        return Fresh()  # fresh tensors of different ranks: still fresh (lengths may yet be written into it)
    if type(a) is type(b):
        if isinstance(a, _PLAIN):
            return CLEAN_DATA
        if isinstance(a, Const):
            return TOP
        try:
            return _fieldwise(a, b)
        except _NoJoin:
            return TOP
    if isinstance(a, _PLAIN) and isinstance(b, _PLAIN):
        return CLEAN_DATA
    return TOP


def join(a: Value | None, b: Value | None) -> Value:
    """Least upper bound of two paths' values (see the lattice above)."""
    if a is None:
        return b if b is not None else CLEAN
    if b is None or a is b or a == b:
        return a
    a_box, b_box = isinstance(a, _CONTAINERS), isinstance(b, _CONTAINERS)
    if a_box or b_box:
        if a_box and b_box:
            return _join_containers(a, b)
        return _map_items(a, b) if a_box else _map_items(b, a)
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return a if ra > rb else b
    if ra > 0:
        return _fieldwise(a, b)
    return _join_harmless(a, b)


def facts(value: object) -> object:
    """``value`` without provenance (trails, trail steps of events kept for messages): what a fixpoint compares
    and what the lattice laws are stated on."""
    if isinstance(value, (TupleV,)):
        return ("tuple", tuple(facts(v) for v in value.items))
    if isinstance(value, Many):
        return ("many", facts(value.elem))
    if isinstance(value, DictV):
        items = sorted(value.items, key=lambda kv: repr(kv[0]))  # a dict's facts do not depend on insertion order
        return ("dict", tuple((k, facts(v)) for k, v in items), facts(value.rest))
    if isinstance(value, Loader):
        return ("loader", facts(value.element))
    if isinstance(value, (Padded, PaddedTarget, PerStep, Dropped, Packed, NotLengths, PaddedRow, PaddedInput)):
        return replace(value, trail=())
    if isinstance(value, StaleState):
        return replace(value, trail=(), rnn=None)
    return value


def same_facts(a: dict[str, Value], b: dict[str, Value]) -> bool:
    """Whether two environments hold the same facts (trails aside): a loop has reached its fixpoint."""
    if a.keys() != b.keys():
        return False
    return all(a[k] is b[k] or facts(a[k]) == facts(b[k]) for k in a)


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
    a learned query vector. Multiplying a padded output by a vector (``out.matmul(v)``) drops the feature axis.
    ``axes``: the axis each size names when every size was read off a padded tensor (``torch.zeros(B, T)`` with
    ``B, T = out.size(0), out.size(1)``), so a buffer written step by step knows where time is."""

    rank: int = 0
    axes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Item(Unknown):
    """An element or row read out of an unknown tensor (``lengths[i]``, ``for l in lens``): ``of`` is the tensor it
    came from, so ``lengths[i] - 1`` is still an offset of those lengths. Still an unknown tensor otherwise."""

    of: Value | None = None


@dataclass(frozen=True)
class NotLengths(Value):
    """A tensor used as per-sequence lengths that is not one. ``kind`` ``batch-sizes``: a PackedSequence's
    ``batch_sizes``, for each time step the number of sequences longer than it (T entries, time-indexed, not B);
    ``padded``: lengths measured on rows already padded to one length (every entry is T). ``trail``: where it came
    from; ``delta``: a constant added to it (``- 1``), None when two paths disagree. A per-sequence length
    consumer (packing, a length mask, an index at ``x - 1``, a division) that reads it is PKL101 / PKL100."""

    kind: str
    trail: Trail = ()
    delta: int | None = 0


@dataclass(frozen=True)
class PaddedRow(Value):
    """One row of a batch padded to a common length (``for row in pad_sequence(...)``, ``ids + [PAD] * (n -
    len(ids))``): its length is T, not the sequence's length. ``pad``: the value written after the real steps,
    when known; a tensor made of such rows is a padded batch with that padding value."""

    trail: Trail = ()
    pad: object = None


_FIELD_JOIN[NotLengths] = {"trail": _first, "kind": _agree, "delta": _or_none}
_FIELD_JOIN[PaddedRow] = {"trail": _first, "pad": _or_none}


# ---------------------------------------------------------------------------------------------------------------
# Padded batches as model inputs (PKL008).

@dataclass(frozen=True)
class PaddedInput(Value):
    """A padded batch on its way into a model: ``pad_sequence`` output or a hand-padded batch (a
    :class:`PaddedTarget` until its use decides) after an embedding or another layer. Harmless to losses and
    pooling (its padded steps are inputs, not outputs); an RNN run over it unpacked reads the padding.

    axes: batch and time when known (features last). left: padded on the left. transposed: a packing of it
    time-major restores the caller's layout on purpose, as for an unknown :class:`Transposed` tensor."""

    trail: Trail
    axes: tuple[str, ...] | None = None
    left: bool = False
    transposed: bool = False  # its first two axes swapped since it was built (see :class:`Transposed`)

    def with_trail(self, step: TrailStep) -> "PaddedInput":
        if self.trail and self.trail[-1] == step:
            return self
        return replace(self, trail=self.trail + (step,))


@dataclass(frozen=True)
class StaleState(Value):
    """``h_n`` (or ``c_n``) of an RNN run over a padded batch without packing: every sequence shorter than the
    batch's longest kept stepping through the padding, so the state is not the one at its last real step. Using it
    as the sequence's summary (a head, a loss, a return, another RNN's initial state) is PKL008, reported at the
    RNN call ``rnn`` (where the fix goes: pack before it). ``rnn`` is provenance, like the trail: two stale states
    join to one whatever their RNN; ``left``: the padding came before the real steps."""

    rnn: TrailStep | None
    trail: Trail = ()
    left: bool = False


_FIELD_JOIN[PaddedInput] = {"trail": _first, "axes": _or_none, "left": _either, "transposed": _or_default}
_FIELD_JOIN[StaleState] = {"rnn": _some_step, "trail": _first, "left": _either}


#: Values that hold padding, or what a rule needs to judge it later (a packed batch, a selection by a mask).
_CARRIERS = (Padded, PaddedTarget, PerStep, StaleState, PaddedInput, PaddedRow, Dropped, Packed, BidirGathered,
             ZeroedReduce)


def carries_padding(value: Value | None, depth: int = 0) -> bool:
    """Whether a value holds padding, in itself or in a container: what makes an analysis worth making where it
    goes (``packlint.demand``). Wider than ``is_tainted``: a padded model input, rows padded by hand, packed data
    and masked selections count too. A selection by a mask packlint could not trace (a lookup table indexed by a
    key) holds no padding."""
    if isinstance(value, _CARRIERS):
        return not isinstance(value, Dropped) or value.by.kind != "unknown" or bool(value.trail)
    if value is None or depth > 6:
        return False
    if isinstance(value, TupleV):
        return any(carries_padding(v, depth + 1) for v in value.items)
    if isinstance(value, Many):
        return carries_padding(value.elem, depth + 1)
    if isinstance(value, Loader):
        return carries_padding(value.element, depth + 1)
    if isinstance(value, DictV):
        return any(carries_padding(v, depth + 1) for _, v in value.items) or carries_padding(value.rest, depth + 1)
    return False


def parameter_key(qualname: str, name: str) -> str:
    """The key of the unknown value a function's parameter holds when nothing says more (``Tagger.forward:x``)."""
    return f"{qualname}:{name}"


def is_parameter_key(key: str | None) -> bool:
    """Whether an unknown value's key is a ``parameter_key`` (or an attribute read off one: ``run:model.predict``),
    not a class attribute (``path::module:Class.attr``) or a computed value."""
    return key is not None and ":" in key and "::" not in key
