"""Where each event is reported, so that one bug gives one finding, on the line a user must change.

A callee's event caused by a padded argument is moved to the call site (``calls.py``), and remembers the callees it
left (``Event.moved_from``). Once a round's analyses are done, this module decides between the places:

- the callee reports the same event on its own (its root analysis has it: it makes its own padding): the moved
  copies go, the callee's finding stays;
- the callee reads padding in *every* context where it is given padding (an attention method that never masks,
  reached from three call sites): the bug is in the callee, so one finding at its sink, the call sites in the trail;
- (when the callee's file is not among the linted paths, its callers keep their findings);
- otherwise the outcome depends on what each caller passes (an optional mask left out, a loss helper given padded
  logits): each caller that gets it wrong keeps its finding.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable

from packlint.analysis.events import Event
from packlint.analysis.summaries import Summaries
from packlint.analysis.values import is_tainted
from packlint.diagnostics import TrailStep


def place(events: list[Event], root_keys: Callable[[str], set], summaries: Summaries,
          reported: Callable[[str], bool]) -> list[Event]:
    """``events`` with moved copies dropped or merged as above. ``reported(fid)``: whether the callee's file is
    among the linted paths; when it is not, the callers keep their findings (they are all the user sees)."""
    kept = [ev for ev in events if not any(key in root_keys(fid) for fid, key in ev.moved_from if fid)]
    groups: dict[tuple, list[Event]] = {}
    for ev in kept:
        if ev.moved_from and ev.moved_from[0][0]:
            groups.setdefault(ev.moved_from[0], []).append(ev)
    replaced: dict[int, Event | None] = {}
    for (fid, key), moved in sorted(groups.items(), key=lambda item: (item[0][0], repr(item[0][1]))):
        sites = sorted({(ev.path, ev.line, ev.col) for ev in moved})
        if len(sites) < 2 or not reported(fid):
            continue
        original = _always_there(fid, key, summaries)
        if original is None:
            continue
        calls = tuple(TrailStep(path, line, col, "calls it with padding") for path, line, col in sites)
        merged = replace(original, trail=original.trail + calls, moved_from=())
        for i, ev in enumerate(moved):
            replaced[id(ev)] = merged if i == 0 else None
    out = []
    for ev in kept:
        new = replaced.get(id(ev), ev)
        if new is not None:
            out.append(new)
    return out


def _always_there(fid: str, key: tuple, summaries: Summaries) -> Event | None:
    """The callee's event ``key`` when every analysed context that passed it padding produced it; else None. Of
    the contexts' copies, the one with the shortest trail (then the first by its steps) is told: which context was
    analysed first depends on the order the roots ran in, never on the code."""
    found: list[Event] = []
    for call_key, summary in _contexts(fid, summaries):
        _, args, kwargs = call_key
        if not (any(is_tainted(a) for a in args) or any(is_tainted(v) for _, v in kwargs)):
            continue
        events = {ev.key: ev for ev in summary.result[1]}
        if key not in events:
            return None
        found.append(events[key])
    if not found:
        return None
    return min(found, key=lambda ev: (len(ev.trail), tuple((s.path, s.line or 0, s.col or 0, s.what)
                                                             for s in ev.trail)))


def _contexts(fid: str, summaries: Summaries) -> Iterable[tuple[tuple, object]]:
    for key, summary in summaries.calls.items():
        if key[0] == fid:
            yield key, summary
    for key, summary in summaries.cut_calls.items():
        if key[0][0] == fid:
            yield key[0], summary
