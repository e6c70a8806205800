"""PKL007 mask-normalisation: a masked per-step loss reduced with ``.mean()`` divides by every step, padding
included, so the loss and its gradients shrink with the batch's padding fraction."""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.rules.base import Rule


def check(event: Event) -> str | None:
    if event.status != "zeroed-mean":
        return None
    return (f"`{event.subject}` divides a masked per-step loss by every step, padded ones included; the loss "
            f"scales with the batch's padding")


RULE = Rule(
    code="PKL007",
    name="mask-normalisation",
    summary="A masked per-step loss reduced with .mean() instead of divided by the mask's count.",
    watches=frozenset({"reduce"}),
    suggestion="(loss * mask).sum() / mask.sum()",
    check=check,
)
