"""PKL006 unmasked-attention: softmax over the time axis of scores computed from a padded output, no mask first."""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.rules.base import Rule, origin


def check(event: Event) -> str | None:
    return (f"softmax over time of scores from a padded output (`{event.subject}`, {origin(event)}) gives padded "
            f"steps attention weight")


RULE = Rule(
    code="PKL006",
    name="unmasked-attention",
    summary="Attention softmax over padded time steps with no mask on the scores.",
    watches=frozenset({"softmax"}),
    suggestion="scores.masked_fill(~mask, float('-inf')) before the softmax, with mask built from the lengths",
    check=check,
)
