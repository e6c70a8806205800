"""PKL100 lengths-from-padding: lengths measured on rows already padded to one length (every length is T)."""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.rules.base import Rule

_READS = {
    "pack": "packs with them",
    "mask": "builds a length mask from them, which masks nothing",
    "index": "indexes each sequence at them minus one, the last padded step",
    "divide": "divides by them, the padded length",
}


def check(event: Event) -> str | None:
    if event.status != "padded":
        return None
    first = event.trail[0] if event.trail else None
    where = f" ({first.what}, line {first.line})" if first is not None else ""
    what = _READS.get(str(event.detail("consumer", "")), "uses them as lengths")
    return (f"`{event.subject}` {what}, but these lengths were measured after padding{where}: every one is the "
            f"padded length T, so the padding is read as real steps")


RULE = Rule(
    code="PKL100",
    name="lengths-from-padding",
    summary="Lengths measured on rows already padded (all equal T) used as per-sequence lengths.",
    watches=frozenset({"lengths"}),
    suggestion="take the lengths before padding (len(seq) per sequence), or count real tokens: (x != PAD).sum(1)",
    check=check,
)
