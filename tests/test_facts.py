"""Typed facts of the expression interpreter (issue 14): offsets on lengths, transposes, slices, symbolic sizes and
the axis layouts they place, literal comparisons. Each is a value or a pure function, never a string to parse."""

from __future__ import annotations

import ast

from packlint.analysis.support import (
    at_last_real_step,
    compare_literals,
    fold,
    offset,
    reshape_axes,
    size_label,
    size_of_axis,
    swaps_batch_and_time,
)
from packlint.analysis.values import (
    BATCH,
    FEAT,
    FLAT,
    TIME,
    AxisSize,
    Const,
    Lengths,
    Offset,
    SliceIndex,
    TimeLen,
    TupleV,
    Unknown,
)

B, T, F, N = BATCH, TIME, FEAT, FLAT
LENGTHS = Unknown("Model.forward:lengths")


def test_offset_on_lengths_is_typed_and_composes() -> None:
    minus_one = offset(LENGTHS, -1)
    assert isinstance(minus_one, Offset) and minus_one.of == LENGTHS and minus_one.delta == -1
    assert offset(offset(LENGTHS, -2), 1) == minus_one  # (lengths - 2) + 1
    assert offset(minus_one, 1) == LENGTHS  # back to the lengths themselves
    assert offset(Unknown(None), -1) is None  # nothing known: no offset


def test_only_lengths_minus_one_is_the_last_real_step() -> None:
    assert at_last_real_step(offset(Lengths("a.py:12"), -1), None)  # pad_packed_sequence's lengths
    assert at_last_real_step(offset(LENGTHS, -1), LENGTHS.key)  # the lengths the output was packed with
    assert not at_last_real_step(offset(Unknown("Model.forward:entity_pos"), -1), LENGTHS.key)
    assert not at_last_real_step(offset(LENGTHS, -1), None)  # lengths of unknown provenance
    assert not at_last_real_step(offset(LENGTHS, -2), LENGTHS.key)
    assert not at_last_real_step(LENGTHS, LENGTHS.key)


def test_transposes_are_decided_from_the_dims() -> None:
    one, zero, two = Const(1), Const(0), Const(2)
    assert swaps_batch_and_time("transpose2d", [])
    assert swaps_batch_and_time("transpose", [zero, one]) and swaps_batch_and_time("transpose", [one, zero])
    assert not swaps_batch_and_time("transpose", [one, two])
    assert swaps_batch_and_time("permute", [one, zero, two])
    assert swaps_batch_and_time("permute", [TupleV((one, zero, two))])
    assert not swaps_batch_and_time("permute", [zero, two, one])


def test_slice_index_facts() -> None:
    assert SliceIndex(Const(-1)).last_only
    assert SliceIndex(None, Const(2)).literal == slice(None, 2)
    assert SliceIndex(None, LENGTHS).bound == LENGTHS and SliceIndex(None, LENGTHS).literal is None
    assert SliceIndex(Const(1), None).bound is None


def test_sizes_name_their_axis() -> None:
    assert size_of_axis(T) == TimeLen() and size_label(TimeLen()) == T
    assert size_of_axis(B) == AxisSize(B) and size_label(AxisSize(B)) == B
    assert size_of_axis("1") == Const(1) and size_label(Const(1)) is None
    assert size_label(TimeLen(-1)) is None  # T - 1 is an index, not a size


def test_fold_labels() -> None:
    assert fold([B, T]) == N and fold([T, B]) == N
    assert fold([T, F]) == T  # still an axis over every step, padded ones included
    assert fold([F, B]) == B  # heads folded into the batch
    assert fold([F, F]) == F and fold(["1", T]) == T and fold([]) == "1"


def test_views_keep_the_axes_their_sizes_name() -> None:
    s, b, h, d = TimeLen(), AxisSize(B), Const(4), Const(16)
    minus = Const(-1)
    assert reshape_axes((B, F, T), [minus, s]) == (B, T)  # scores.view(-1, s), s = ctx.size(1)
    assert reshape_axes((B, T), [b, minus, s]) == (B, F, T)  # and back to (B, L, S)
    assert reshape_axes((N, F), [b, minus]) == (B, T)  # fold-layer-unfold: e.view(out.size(0), -1)
    assert reshape_axes((N, F), [s, minus]) == (T, B)  # time-major: e.view(out.size(0), -1) on (T, B, H)
    assert reshape_axes((B, T, F), [b, s, h, d]) == (B, T, F, F)  # heads split
    assert reshape_axes((F, B, T, F), [minus, s, d]) == (B, T, F)  # after permute(2, 0, 1, 3): (h * B, T, d)
    assert reshape_axes((B, T, F), [b, minus, h, d]) == (B, T, F, F)  # view(B, -1, h, d)
    assert reshape_axes((B, T, F), [b, s]) == (B, T)  # a size-1 feature axis dropped
    assert reshape_axes((B, T, F), [s, b]) is None  # a view never reorders axes
    assert reshape_axes((B, T, F), [minus, Const(8)]) is None  # no size named: left to the plain rules


def test_literal_comparisons() -> None:
    assert compare_literals(ast.Eq, Const("dot"), Const("dot")) is True
    assert compare_literals(ast.Eq, Const(3), Const(2)) is False  # k.dim() == 2 on (B, T, H)
    assert compare_literals(ast.In, Const("general"), TupleV((Const("dot"), Const("general")))) is True
    assert compare_literals(ast.NotEq, Const("dot"), Unknown("Attn.method")) is None
    assert compare_literals(ast.Lt, Const("a"), Const(1)) is None  # not defined in Python: unknown
