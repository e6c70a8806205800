"""PKL001 unmasked-loss: a loss reads padded time steps of an unpacked sequence with nothing masking them."""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.rules.base import Rule, ignore_index_fix, origin


def check(event: Event) -> str | None:
    if event.status != "padded":
        return None
    where = origin(event)
    if event.kind == "reduce":
        verb = "averages" if event.callee == "mean" else "adds up"
        return f"`{event.subject}` {verb} a per-step loss that scores padded steps ({where}); no mask zeroes them"
    if event.detail("steps_are_classes") and not event.reason:
        return (f"`{event.callee}` scores `{event.subject}`, {where}, whose classes are the time steps: padded "
                f"positions compete with the real ones")
    detail = f"; {event.reason}" if event.reason else "; no length mask or ignore_index removes them"
    return f"`{event.callee}` reads `{event.subject}`, {where}{detail}"


SUGGESTION = ("use reduction='none', multiply by a length mask and divide by mask.sum(); or pass ignore_index "
              "matching the target padding; or pack both sides")


def suggest(event: Event) -> str:
    """Pointer and span logits need their padded positions out of the softmax; ignore_index cannot help there."""
    if event.detail("steps_are_classes") and not event.reason:
        return (f"mask the padded positions out of the scores: `{event.subject}.masked_fill(~mask, float('-inf'))` "
                f"with mask true at the real steps (ignore_index does not apply: the padding is on the class axis)")
    return SUGGESTION


RULE = Rule(
    code="PKL001",
    name="unmasked-loss",
    summary="A loss reads padded time steps of an unpacked sequence with no mask.",
    watches=frozenset({"loss", "reduce"}),
    suggestion=SUGGESTION,
    check=check,
    suggest=suggest,
    fix=ignore_index_fix,
)
