"""PKL004 batch-first-mismatch: pack and unpack disagree on ``batch_first`` and the result is used as if they
agreed (flattened into a loss, indexed by batch): sequences and steps are silently scrambled."""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.rules.base import Rule


def check(event: Event) -> str | None:
    return f"{event.subject}; the result is then used with the packing side's layout"


RULE = Rule(
    code="PKL004",
    name="batch-first-mismatch",
    summary="pack_padded_sequence and pad_packed_sequence disagree on batch_first.",
    watches=frozenset({"batch-first"}),
    suggestion="pass the same batch_first to both calls, or transpose(0, 1) right after unpacking",
    check=check,
)
