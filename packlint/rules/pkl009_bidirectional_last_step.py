"""PKL009 bidirectional-last-step: a bidirectional output gathered at ``lengths - 1`` with its backward half kept.

The forward direction's last real step is at ``lengths - 1``; the backward direction reads each sequence from its
end, so at ``lengths - 1`` it has seen one token and its final state is at step 0. PKL003 used to report this (the
engine's ``last-step`` event with status ``bidirectional``; moved in issue 15, see the page's migration note); it has
its own code so that its message and help say what is right for each half, and PKL003's help can offer
``lengths - 1`` where it is exact.
"""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.diagnostics import Fix
from packlint.rules.base import Rule, origin

#: how step 0 of the backward half is spelled for each layout the engine reports (``out`` of H features per half)
_BACKWARD_AT_STEP_0 = {"BT": "out[:, 0, H:]", "TB": "out[0, :, H:]"}


def check(event: Event) -> str | None:
    if event.status != "bidirectional":
        return None
    return (f"`{event.subject}` reads a bidirectional output at lengths - 1 ({origin(event)}), where its backward "
            f"half has read one token; the backward direction ends at step 0")


def suggest(event: Event) -> str:
    layout = str(event.detail("layout", "") or "")
    step0 = next((f" ({spelled})" for prefix, spelled in _BACKWARD_AT_STEP_0.items() if layout.startswith(prefix)),
                 "")
    return ("use h_n: torch.cat([h_n[-2], h_n[-1]], 1); or keep the forward half at lengths - 1 and take step 0 of "
            f"the backward half{step0}")


def fix(event: Event) -> Fix | None:
    """``torch.cat([h_n[-2], h_n[-1]], 1)`` in place of the gather (``packlint.fixes.pkl009`` checks the code).
    Unsafe: the backward half held a real step's value, and the fix changes it."""
    if event.status != "bidirectional":
        return None
    return Fix(safe=False, title="use torch.cat([h_n[-2], h_n[-1]], 1)")


RULE = Rule(
    code="PKL009",
    name="bidirectional-last-step",
    summary="A bidirectional output gathered at `lengths - 1`: its backward half there has read one token.",
    watches=frozenset({"last-step"}),
    suggestion="use h_n: torch.cat([h_n[-2], h_n[-1]], 1); or keep the forward half at lengths - 1 and take step 0 "
               "of the backward half",
    check=check,
    suggest=suggest,
    fix=fix,
)
