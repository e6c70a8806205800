"""What a rule is: a declaration (code, name, summary, the event kinds it watches, message, suggestion) plus one
function that turns an engine event into a finding or nothing, and optionally one that picks the help for that
finding. Rules never walk the CST."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable as Fn

from packlint.analysis.events import Event
from packlint.diagnostics import Finding


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
                       end_line=event.end_line, end_col=event.end_col)


def origin(event: Event) -> str:
    """``padded since model.py:41`` for the first step of the trail, or an empty string."""
    if not event.trail:
        return ""
    first = event.trail[0]
    cell = f"cell {first.cell}:" if getattr(first, "cell", 0) else ""
    return f"padded since {first.path}:{cell}{first.line}"
