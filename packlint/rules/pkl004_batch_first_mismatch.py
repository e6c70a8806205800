"""PKL004 batch-first-mismatch: pack and unpack disagree on ``batch_first`` and the result is used as if they
agreed (flattened into a loss, indexed by batch): sequences and steps are silently scrambled."""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.diagnostics import Fix
from packlint.rules.base import Rule


def check(event: Event) -> str | None:
    if event.status == "data-layout":
        return (f"`{event.subject}` packs batch-major data ({event.detail('made')}) as time-major: batch_first is "
                f"left False, and with enforce_sorted=False nothing raises; every sequence is cut across the batch")
    if event.detail("asked"):
        return (f"{event.subject}; the output is batch-major as asked, but it is flattened beside a target still "
                f"in the packed data's time-major order, so steps and sequences are paired wrongly")
    return f"{event.subject}; the result is then used with the packing side's layout"


def suggest(event: Event) -> str:
    if event.status == "data-layout":
        return "pass batch_first=True to pack_padded_sequence (the data is (batch, time, ...))"
    if event.detail("asked"):
        return "flatten the target batch-major too (`target.t().reshape(-1)`), or unpack time-major like the pack"
    return SUGGESTION


SUGGESTION = "pass the same batch_first to both calls, or transpose(0, 1) right after unpacking"


def fix(event: Event) -> Fix | None:
    """Pack/unpack disagreement only: the unpack's ``batch_first`` made the pack's (``packlint.fixes.pkl004``).
    Safe: the code after the unpack already reads the packing side's layout; that is what the finding says."""
    if event.status != "mismatch":
        return None
    return Fix(safe=True, title="make the unpack's batch_first equal to the pack's")


RULE = Rule(
    code="PKL004",
    name="batch-first-mismatch",
    summary="pack_padded_sequence and pad_packed_sequence disagree on batch_first.",
    watches=frozenset({"batch-first"}),
    suggestion=SUGGESTION,
    check=check,
    suggest=suggest,
    fix=fix,
)
