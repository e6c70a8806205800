"""PKL007 mask-normalisation: a masked per-step loss reduced with ``.mean()`` divides by every step, padding
included, so the loss and its gradients shrink with the batch's padding fraction."""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.diagnostics import Fix
from packlint.rules.base import Rule


def check(event: Event) -> str | None:
    if event.status != "zeroed-mean":
        return None
    return (f"`{event.subject}` divides a masked per-step loss by every step, padded ones included; the loss "
            f"scales with the batch's padding")


def fix(event: Event) -> Fix | None:
    """``(loss * mask).mean()`` to ``(loss * mask).sum() / mask.sum()`` where the engine saw which operand is the
    mask. Unsafe: the loss of the real tokens is rescaled (it was shrunk by the padding fraction), like a change
    of learning rate."""
    mask = event.detail("mask")
    if event.status != "zeroed-mean" or not isinstance(mask, str):
        return None
    return Fix(safe=False, title=f"divide by {mask}.sum() instead of every step (rescales the loss)",
               facts=(("mask", mask),))


RULE = Rule(
    code="PKL007",
    name="mask-normalisation",
    summary="A masked per-step loss reduced with .mean() instead of divided by the mask's count.",
    watches=frozenset({"reduce"}),
    suggestion="(loss * mask).sum() / mask.sum()",
    check=check,
    fix=fix,
)
