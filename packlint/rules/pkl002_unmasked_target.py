"""PKL002 unmasked-target: the loss is masked through the target, but the masking does not match the padding."""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.rules.base import Rule, ignore_index_fix, origin


def check(event: Event) -> str | None:
    if event.status != "mismatch":
        return None
    where = origin(event)
    suffix = f" ({where})" if where else ""
    return f"`{event.callee}`: {event.reason}{suffix}"


RULE = Rule(
    code="PKL002",
    name="unmasked-target",
    summary="The loss masks through the target, but the mask or ignore_index does not match the padding.",
    watches=frozenset({"loss"}),
    suggestion="set ignore_index to the targets' padding_value, and mask output and target with the same mask",
    check=check,
    fix=ignore_index_fix,
)
