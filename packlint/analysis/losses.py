"""Which inputs of a loss call are still padded: the design's paragraph on masks, as one function.

A dropping mask (``x[mask]``, ``masked_select``, packed ``.data``) sanitizes when the other side is dropped the same
way; ``ignore_index=P`` sanitizes both sides when the target's padding value is P (an explicit ``ignore_index`` is
trusted when the padding value is unknown; the implicit default is not); zeroing the prediction sanitizes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from packlint.analysis.values import Dropped, Padded, PaddedTarget, Trail, Value, refs_agree


@dataclass(frozen=True)
class LossVerdict:
    """status: ``clean`` | ``padded`` (PKL001) | ``mismatch`` (PKL002) | ``ignored`` (clean through ignore_index)."""

    status: str
    reason: str = ""
    trail: Trail = ()


CLEAN_VERDICT = LossVerdict("clean")


def _fmt(pad: object) -> str:
    if isinstance(pad, float) and pad.is_integer():
        return str(int(pad))
    return repr(pad)


def assess_loss(pred: Value, target: Value, *, honours_ignore_index: bool, ignore_explicit: bool,
                ignore_index: object) -> LossVerdict:
    """Judge one loss call's prediction and target."""
    for side in (pred, target):
        if isinstance(side, Dropped) and side.conflict:
            return LossVerdict("mismatch", side.conflict, side.trail)
    # A zeroing mask on the target only: the prediction still has its padded steps.
    if isinstance(target, PaddedTarget) and target.zeroed is not None and isinstance(pred, Padded) and \
            pred.zeroed is None:
        return LossVerdict("mismatch", "the target is masked but the output is not", pred.trail)
    # Dropping masks: both sides must be dropped alike.
    if isinstance(pred, Dropped) or isinstance(target, Dropped):
        if isinstance(pred, Dropped) and isinstance(target, Dropped):
            if refs_agree(pred.by, target.by):
                return CLEAN_VERDICT
            if "packed" in (pred.by.kind, target.by.kind):
                why = "one side is packed `.data` (time-major order), the other a boolean mask (batch-major order)"
            else:
                why = f"the two sides are masked with masks built from different lengths ({pred.by.origin} vs " \
                      f"{target.by.origin})"
            return LossVerdict("mismatch", why, pred.trail)
        if isinstance(pred, Dropped):
            if isinstance(target, (PaddedTarget, Padded)):
                return LossVerdict("mismatch", "the output is masked but the target is not", target.trail)
            return CLEAN_VERDICT
        if isinstance(pred, Padded):
            return LossVerdict("mismatch", "the target is masked but the output is not", pred.trail)
        return CLEAN_VERDICT

    if honours_ignore_index:
        if isinstance(target, PaddedTarget) and target.pad is not None:
            if target.pad == ignore_index:
                return LossVerdict("ignored")
            if ignore_explicit:
                return LossVerdict(
                    "mismatch",
                    f"ignore_index={_fmt(ignore_index)} but the targets are padded with {_fmt(target.pad)}",
                    target.trail)
            return LossVerdict("padded", f"targets padded with {_fmt(target.pad)} are scored (ignore_index is the "
                                         f"default -100)", target.trail if not isinstance(pred, Padded) else pred.trail)
        if ignore_explicit:
            return LossVerdict("ignored")  # trusted: the target's padding value is unknown

    if isinstance(pred, Padded):
        why = "zeroing the prediction with a mask still scores every padded step" if pred.zeroed else ""
        return LossVerdict("padded", why, pred.trail)
    if isinstance(target, PaddedTarget):
        return LossVerdict("padded", f"targets padded with {_fmt(target.pad)} are scored", target.trail)
    if isinstance(target, Padded):
        return LossVerdict("padded", "the target is a padded output", target.trail)
    return CLEAN_VERDICT
