"""PKL003 padded-last-step: ``out[:, -1]`` on an unpacked output reads padding for every shorter sequence."""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.diagnostics import Fix
from packlint.rules.base import Rule, origin


def check(event: Event) -> str | None:
    if event.status == "bidirectional":
        return None  # a bidirectional output gathered at lengths - 1 is PKL009's (moved out in issue 15)
    layout = event.detail("layout", "")
    major = "batch-first" if str(layout).startswith("B") else "time-major"
    return (f"`{event.subject}` takes the last padded step of a {major} unpacked output ({origin(event)}), "
            f"not each sequence's last real step")


def fix(event: Event) -> Fix | None:
    """``h_n[-1]`` where the output read is the RNN's own, else a gather at ``lengths - 1`` where a name holds the
    lengths (``packlint.fixes.pkl003`` checks the code). Safe for a unidirectional RNN: only the padded reads
    change. Unsafe when bidirectional (``torch.cat([h_n[-2], h_n[-1]], 1)``): the backward half of the longest
    sequences changes too (from one token read to all of them)."""
    if event.status == "bidirectional":
        return None
    both = bool(event.detail("bidirectional"))
    title = "use torch.cat([h_n[-2], h_n[-1]], 1)" if both else "use h_n[-1], or gather at lengths - 1"
    return Fix(safe=not both, title=title, facts=(("bidirectional", both), ("lengths", event.detail("lengths")),
                                                  ("layout", event.detail("layout"))))


RULE = Rule(
    code="PKL003",
    name="padded-last-step",
    summary="`out[:, -1]` on a padded output is padding for every sequence shorter than the longest.",
    watches=frozenset({"last-step"}),
    # lengths - 1 is offered for a unidirectional RNN only: on a bidirectional output it is PKL009
    suggestion="use h_n[-1] (torch.cat([h_n[-2], h_n[-1]], 1) for a bidirectional RNN); for a unidirectional RNN, "
               "gathering at lengths - 1 is exact too",
    check=check,
    fix=fix,
)
