"""PKL006 unmasked-attention: softmax over the time axis of scores computed from a padded output, no mask first."""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.diagnostics import Fix
from packlint.rules.base import Rule, origin


def check(event: Event) -> str | None:
    return (f"softmax over time of scores from a padded output (`{event.subject}`, {origin(event)}) gives padded "
            f"steps attention weight")


def fix(event: Event) -> Fix | None:
    """``masked_fill`` of the padded steps with ``-inf`` before the softmax, the mask built from the lengths the
    engine saw bound to a name here (``packlint.fixes.pkl006``). Safe: only the padded steps' weights change
    (to 0); the real steps' weights are renormalised over the real steps, which is what attention meant."""
    lengths, layout = event.detail("lengths"), event.detail("layout")
    if not isinstance(lengths, str) or not isinstance(layout, str) or not layout:
        return None
    return Fix(safe=True, title=f"mask the scores past {lengths} with -inf before the softmax",
               facts=(("lengths", lengths), ("layout", layout)))


RULE = Rule(
    code="PKL006",
    name="unmasked-attention",
    summary="Attention softmax over padded time steps with no mask on the scores.",
    watches=frozenset({"softmax"}),
    suggestion="scores.masked_fill(~mask, float('-inf')) before the softmax, with mask built from the lengths",
    check=check,
    fix=fix,
)
