"""What a rule is: a declaration (code, name, summary, the event kinds it watches, message, suggestion) plus one
function that turns an engine event into a finding or nothing, optionally one that picks the help for that
finding, and optionally one that offers a fix (plain data; ``packlint.fixes`` edits the file). Rules never walk
the CST."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable as Fn

from packlint.analysis.events import Event
from packlint.diagnostics import Finding, Fix


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    watches: frozenset[str]
    suggestion: str
    check: Fn[[Event], str | None]  # returns the message, or None when the event is not this rule's
    #: the help for one finding, when it depends on the event (its layout, say); ``suggestion`` otherwise. The
    #: rule-wide ``suggestion`` stays the summary shown where no finding is at hand.
    suggest: Fn[[Event], str] | None = None
    #: the fix offered for one finding, or None. Never for an event moved to a caller (``via``): the code to change
    #: is inside the callee, and the same callee may be reached from callers that need no change.
    fix: Fn[[Event], Fix | None] | None = None

    def finding(self, event: Event) -> Finding | None:
        if event.kind not in self.watches:
            return None
        message = self.check(event)
        if message is None:
            return None
        if event.via:
            inner = event.via[0]
            message = f"{message} (inside the call, at {inner.path}:{inner.line})"
        return Finding(path=event.path, line=event.line, col=event.col, code=self.code, name=self.name,
                       message=message, suggestion=self.suggest(event) if self.suggest else self.suggestion,
                       trail=event.trail,
                       end_line=event.end_line, end_col=event.end_col,
                       fix=self.fix(event) if self.fix is not None and not event.via else None)


def origin(event: Event) -> str:
    """``padded since model.py:41`` for the first step of the trail, or an empty string."""
    if not event.trail:
        return ""
    first = event.trail[0]
    cell = f"cell {first.cell}:" if getattr(first, "cell", 0) else ""
    return f"padded since {first.path}:{cell}{first.line}"


def ignore_index_fix(event: Event) -> Fix | None:
    """PKL001's and PKL002's fix at a functional loss whose target's padding value the engine knows: pass
    ``ignore_index=<pad>``. Safe for a negative padding value (never a class); unsafe otherwise (0 may be a real
    class, whose tokens would be dropped too)."""
    pad = event.detail("target_pad")
    if event.kind != "loss" or not isinstance(pad, int) or event.detail("steps_are_classes"):
        return None
    return Fix(safe=pad < 0, title=f"pass ignore_index={pad} (the targets' padding value)",
               facts=(("ignore_index", pad),))
