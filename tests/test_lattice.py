"""The abstract values form a join-semilattice (issue 14): ``join`` is commutative, associative and idempotent on
the facts (provenance aside), never loses padding, and keeps every fact both paths share. Checked on generated
values, including containers and values of different kinds."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packlint.analysis.values import (
    CLEAN,
    CLEAN_DATA,
    TOP,
    Arange,
    BidirGathered,
    Const,
    DictV,
    Dropped,
    Fresh,
    Instance,
    Lengths,
    Loader,
    LossFn,
    LossOut,
    Many,
    Mask,
    MaskBias,
    NotLengths,
    PaddedRow,
    MaskRef,
    Packed,
    Padded,
    PermStep,
    PaddedInput,
    PaddedTarget,
    PerStep,
    StaleState,
    TimeLen,
    AxisSize,
    Item,
    Offset,
    Ranked,
    Transposed,
    TupleV,
    Unknown,
    Zeroed,
    ZeroClass,
    facts,
    is_tainted,
    join,
)
from packlint.diagnostics import TrailStep

steps = st.builds(TrailStep, st.sampled_from(["a.py", "b.py"]), st.integers(1, 3), st.integers(1, 2),
                  st.sampled_from(["`out`", "unpacked"]))
trails = st.lists(steps, max_size=2).map(tuple)
refs = st.builds(MaskRef, st.sampled_from(["lengths", "pad", "packed", "unknown"]),
                 st.sampled_from([None, "f:lengths", "g:lengths"]), st.sampled_from([None, 0]))
pads = st.sampled_from([0.0, None, float("-inf"), float("nan"), "nonzero"])
axes = st.sampled_from([None, ("B", "T", "F"), ("T", "B", "F"), ("N", "F")])
_sort = PermStep("f:lengths:descending", "m.py:3:9", "lengths.sort(descending=True)")
orders = st.sampled_from([None, (), (_sort,), (_sort, _sort), (_sort.inverted(),)])  # batch orders (PKL102)

padded = st.builds(Padded, trails, axes, pads, st.none() | refs, st.sampled_from([None, 0, float("-inf")]),
                   st.booleans(), st.booleans(), st.none() | steps, st.sampled_from([None, "f:lengths"]),
                   st.lists(steps, max_size=2).map(tuple), st.booleans(), st.booleans(), st.booleans(),
                   order=orders)
leaves = st.one_of(
    padded,
    st.builds(PaddedTarget, trails, st.sampled_from([0, -100, None]), st.none() | refs,
              st.sampled_from([None, ("B", "T"), ("T", "B")]), st.booleans()),
    st.builds(PaddedInput, trails, axes, st.booleans(), st.booleans()),
    st.builds(StaleState, st.none() | steps, trails, st.booleans()),
    st.builds(PerStep, trails, st.booleans(), st.none() | refs, st.sampled_from(["", "ce"])),
    st.builds(Dropped, refs, trails, st.sampled_from(["", "different lengths"])),
    st.builds(Packed, trails, st.sampled_from([None, True, False]), st.sampled_from([None, "f:lengths"]),
              st.none() | steps, st.booleans()),
    st.builds(Unknown, st.sampled_from([None, "f:x", "f:lengths"]), order=orders),
    st.just(TOP), st.just(CLEAN_DATA), st.just(Fresh()), st.builds(Arange, st.sampled_from([None, "B"])),
    st.builds(NotLengths, st.sampled_from(["batch-sizes", "padded"]), trails, st.sampled_from([0, -1, None])),
    st.builds(PaddedRow, trails),
    st.builds(Const, st.sampled_from([None, 0, 1, "dot", True])),
    st.builds(Mask, refs, st.booleans()),
    st.builds(MaskBias, refs),
    st.builds(Zeroed, refs),
    st.builds(Lengths, st.sampled_from([None, "f:lengths", "g:lengths"])),
    st.builds(Instance, st.sampled_from(["m::Enc", "m::Dec"])),
    st.builds(LossFn, st.sampled_from(["torch.nn.CrossEntropyLoss", "torch.nn.MSELoss"]),
              st.sampled_from([None, 0, -100])),
    st.builds(LossOut, st.frozensets(st.sampled_from([("loss", "a.py", 1, 1, "padded"), ("x",)]), max_size=2)),
    st.builds(ZeroClass, st.frozensets(st.sampled_from([0, 1]), min_size=1)),
    st.builds(TimeLen, st.sampled_from([0, -1])),
    st.builds(BidirGathered, steps),
    st.builds(Offset, st.sampled_from([None, "f:lengths"]), st.builds(Lengths, st.just("f:lengths")),
              st.sampled_from([None, -1, 1])),
    st.builds(Transposed, st.sampled_from([None, "f:x"]), st.builds(Unknown, st.just("f:x"))),
    st.builds(Item, st.sampled_from([None, "f:lengths"]), st.builds(Lengths, st.just("f:lengths"))),
    st.builds(AxisSize, st.sampled_from(["T", "B"])),
    st.builds(Ranked, st.sampled_from([1, 2, 3])),
)


def _extend(children):
    return st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda xs: TupleV(tuple(xs))),
        children.map(Many),
        children.map(Loader),
        st.lists(st.tuples(st.sampled_from(["logits", "mask"]), children), max_size=2, unique_by=lambda kv: kv[0])
        .map(lambda kvs: DictV(tuple(kvs))),
    )


values = st.recursive(leaves, _extend, max_leaves=5)


def carries_padding(value) -> bool:
    """Harm, for this law: padding a sink would read, or padding an iterable yields (a DataLoader of padded
    batches carries them, though passing the loader itself passes no padded tensor)."""
    if is_tainted(value):
        return True
    if isinstance(value, Loader):
        return carries_padding(value.element)
    if isinstance(value, (TupleV, Many, DictV)):
        items = value.items if isinstance(value, TupleV) else [value.elem] if isinstance(value, Many) else \
            [v for _, v in value.items] + ([value.rest] if value.rest is not None else [])
        return any(carries_padding(v) for v in items)
    return False

SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(values, values)
def test_join_is_commutative(a, b) -> None:
    assert facts(join(a, b)) == facts(join(b, a))


@SETTINGS
@given(values, values, values)
def test_join_is_associative(a, b, c) -> None:
    assert facts(join(join(a, b), c)) == facts(join(a, join(b, c)))


@SETTINGS
@given(values, values)
def test_join_is_idempotent_and_an_upper_bound(a, b) -> None:
    assert facts(join(a, a)) == facts(a)
    ab = join(a, b)
    assert facts(join(a, ab)) == facts(ab) and facts(join(b, ab)) == facts(ab)
    assert join(a, None) == a and join(None, a) == a


@SETTINGS
@given(values, values)
def test_join_never_loses_padding(a, b) -> None:
    if carries_padding(a) or carries_padding(b):
        assert carries_padding(join(a, b))


@SETTINGS
@given(padded, padded)
def test_join_keeps_every_fact_both_padded_paths_share(a, b) -> None:
    j = join(a, b)
    assert isinstance(j, Padded)
    for field in ("axes", "zeroed", "filled", "masked", "nonneg", "lengths", "bidirectional", "residual"):
        if getattr(a, field) == getattr(b, field):
            assert getattr(j, field) == getattr(a, field), field
    assert j.bidirectional == (a.bidirectional or b.bidirectional)  # harm survives one path
    assert j.masked == (a.masked and b.masked)  # protection needs both


def test_a_dropout_branch_keeps_bidirectional_and_zeroed() -> None:
    """The defect behind issue 14's `if self.training: out = self.drop(out)` case: the join rebuilt the value and
    forgot these fields."""
    step = TrailStep("m.py", 3, 5, "unpacked")
    out = Padded((step,), ("B", "T", "F"), bidirectional=True, residual=True)
    dropped = Padded((step, TrailStep("m.py", 4, 9, "`out`")), ("B", "T", "F"), bidirectional=True, residual=True)
    j = join(dropped, out)
    assert j.bidirectional and j.residual and j.axes == ("B", "T", "F")
    target = PaddedTarget((step,), pad=0, zeroed=MaskRef("lengths", "f:lengths"))
    assert join(target, PaddedTarget((), pad=0, zeroed=MaskRef("lengths", "f:lengths"))).zeroed == target.zeroed


def test_unknown_and_sanitised_are_different_values() -> None:
    """Nothing known (a parameter: trusted where a mask is expected, by policy) is not the same as known plain
    data (never trusted as a mask)."""
    assert CLEAN != CLEAN_DATA and TOP != CLEAN
    assert isinstance(CLEAN, Unknown) and isinstance(TOP, Unknown) and not isinstance(CLEAN_DATA, Unknown)
    assert join(Fresh(), CLEAN_DATA) == CLEAN_DATA
    assert join(Const(1), Const(2)) == TOP  # numbers may be lengths: not known to be anything


def test_an_unknown_path_keeps_the_known_object_but_two_objects_do_not_merge() -> None:
    enc, dec = Instance("m::Enc"), Instance("m::Dec")
    assert join(Unknown("f:model"), enc) == enc
    assert join(Const(None), enc) == enc
    assert join(enc, dec) == TOP and join(join(enc, dec), enc) == TOP
