"""Which inputs of a loss call are still padded: the design's paragraph on masks, as one function.

A dropping mask (``x[mask]``, ``masked_select``, packed ``.data``) sanitizes when the other side is dropped the same
way; ``ignore_index=P`` sanitizes both sides when the target's padding value is P (an explicit ``ignore_index`` is
trusted when the padding value is unknown; the implicit default is not); zeroing the prediction sanitizes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from packlint.analysis.values import (
    TIME,
    Dropped,
    Mask,
    Padded,
    PaddedTarget,
    Trail,
    Unknown,
    Value,
    Zeroed,
    refs_agree,
)


@dataclass(frozen=True)
class LossVerdict:
    """status: ``clean`` | ``padded`` (PKL001) | ``mismatch`` (PKL002) | ``ignored`` (clean through ignore_index) |
    ``zeroed`` (masked by zeroing both sides or by per-element weights)."""

    status: str
    reason: str = ""
    trail: Trail = ()


CLEAN_VERDICT = LossVerdict("clean")


def _fmt(pad: object) -> str:
    if isinstance(pad, float) and pad.is_integer():
        return str(int(pad))
    return repr(pad)


def _masked_scores(v: object) -> bool:
    """Scores over time with the padded positions pushed to -inf (a pointer network's logits)."""
    if not isinstance(v, Padded) or not v.axes or len(v.axes) < 2 or v.axes[1] != TIME:
        return False
    fill = v.filled
    big_negative = isinstance(fill, (int, float)) and not isinstance(fill, bool) and fill <= -1e4
    return v.masked or big_negative or bool(v.pending)


def _zeroed_side(v: Value) -> bool:
    return (isinstance(v, Padded) and v.zeroed is not None) or isinstance(v, Zeroed) or (
        isinstance(v, PaddedTarget) and v.zeroed is not None)


def assess_loss(pred: Value, target: Value, *, honours_ignore_index: bool, ignore_explicit: bool,
                ignore_index: object, zero_at_zero: bool = False, element_weights: Value | None = None
                ) -> LossVerdict:
    """Judge one loss call's prediction and target.

    ``zero_at_zero``: the loss's term is 0 where both sides are 0 (MSE, L1), so zeroing both with a mask masks.
    ``element_weights``: a per-element ``weight=`` (BCE) that is a mask zeroes the padded terms the same way.
    Status ``zeroed`` means masked by zeroing: exact with a sum over the mask's count, PKL007 with a mean.
    """
    if _masked_scores(pred):
        # classes are time positions (pointer/QA span logits): masking the scores is the mask (a softmax over
        # them was reported by PKL006 already when unmasked)
        return CLEAN_VERDICT
    if isinstance(pred, Padded) and element_weights is not None and isinstance(element_weights, (Mask, Unknown,
                                                                                               Zeroed)):
        return LossVerdict("zeroed", "", pred.trail)
    if zero_at_zero and _zeroed_side(pred) and _zeroed_side(target):
        return LossVerdict("zeroed", "", pred.trail if isinstance(pred, Padded) else ())
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
        if isinstance(target, Padded) and isinstance(target.pad, (int, float)) and target.pad == ignore_index:
            return LossVerdict("ignored")  # targets unpacked with padding_value=ignore_index
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
