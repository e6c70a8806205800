"""PKL003 padded-last-step: ``out[:, -1]`` on an unpacked output reads padding for every shorter sequence."""

from __future__ import annotations

from packlint.analysis.events import Event
from packlint.rules.base import Rule, origin


def check(event: Event) -> str | None:
    if event.status == "bidirectional":
        return (f"`{event.subject}` gathers each sequence's last real step of a bidirectional output "
                f"({origin(event)}): the backward direction's final state is at step 0, not at lengths - 1")
    layout = event.detail("layout", "")
    major = "batch-first" if str(layout).startswith("B") else "time-major"
    return (f"`{event.subject}` takes the last padded step of a {major} unpacked output ({origin(event)}), "
            f"not each sequence's last real step")


RULE = Rule(
    code="PKL003",
    name="padded-last-step",
    summary="`out[:, -1]` on a padded output is padding for every sequence shorter than the longest.",
    watches=frozenset({"last-step"}),
    suggestion="use h_n[-1] (or torch.cat([h_n[-2], h_n[-1]], 1) when bidirectional), or gather at lengths - 1",
    check=check,
)
