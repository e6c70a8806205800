"""PKL101 batch-sizes-as-lengths: a PackedSequence's ``batch_sizes`` (per time step) used as per-sequence lengths."""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.rules.base import Rule

_READS = {
    "pack": "packs with them as lengths",
    "mask": "builds a length mask from them",
    "index": "indexes each sequence at them minus one",
    "divide": "divides by them as per-sequence counts",
}


def check(event: Event) -> str | None:
    if event.status != "batch-sizes":
        return None
    first = event.trail[0] if event.trail else None
    source = f"{first.what} (line {first.line})" if first is not None else "`batch_sizes`"
    what = _READS.get(str(event.detail("consumer", "")), "uses them as lengths")
    return (f"`{event.subject}` {what}, but {source} is a PackedSequence's batch_sizes: the number of sequences "
            f"still running at each time step (T values), not each sequence's length (B values)")


RULE = Rule(
    code="PKL101",
    name="batch-sizes-as-lengths",
    summary="A PackedSequence's batch_sizes (sequences per time step) used as per-sequence lengths.",
    watches=frozenset({"lengths"}),
    suggestion="keep the lengths you packed with, or take them from pad_packed_sequence(packed)[1]",
    check=check,
)
