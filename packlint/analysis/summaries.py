"""Summaries of analyses already made, the stack of those in progress, and what each one depends on.

A summary (a function's return value and events in one context) is kept for reuse only where reuse is exact:

- a call summary that no bound and no cycle cut is a function of (callee, arguments) alone; it serves any later
  call with room for its height below the depth bound;
- one cut by the depth bound is a function of (callee, arguments, depth);
- one cut by a cycle (a function already on the stack, a root or a module body still in progress) is a function of
  that stack too.

Every record also remembers the class attributes read by it or by anything it used, so that when a round of the
whole-program analysis finds that some attribute changed after it was read, exactly the summaries that read it are
dropped (``invalidate``), and the next round recomputes only those. Statistics (unresolved calls, loop bounds hit)
are counted on the record that met them, so a summary reused from an earlier round keeps its counts and the totals
do not depend on how many rounds ran.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

AttrKey = tuple[str, str]  # (class id, attribute)


@dataclass
class Record:
    """An analysis in progress."""

    height: int = 0  # how many calls deep the analyses below it went
    cut: bool = False  # a cycle or something in progress cut it: valid only on the same stack
    deep: bool = False  # the depth bound cut it: valid only at the same depth
    reads: set[AttrKey] = field(default_factory=set)
    counts: Counter = field(default_factory=Counter)  # (statistic, path) -> n, met by this analysis itself
    live: dict[tuple[str, str], object] = field(default_factory=dict)  # globals of a running module body, read
    constructed: tuple | None = None  # a constructor's own ``self.x`` values, sorted by name
    leaks: bool = False  # padding was handed to a callable that came in as an argument (see ``note_leak``)

    def absorb(self, used: "Summary") -> None:
        """This analysis used ``used``: it depends on what that one depends on."""
        self.leaks = self.leaks or used.leaks
        self.height = max(self.height, used.height + 1)
        self.cut = self.cut or used.cut
        self.deep = self.deep or used.deep
        self.reads |= used.reads
        self.live.update(used.live)


@dataclass(frozen=True)
class Summary:
    result: tuple
    height: int = 0
    cut: bool = False
    deep: bool = False
    reads: frozenset[AttrKey] = frozenset()
    counts: tuple[tuple[tuple[str, str], int], ...] = ()
    #: ((module key, name), facts) of each global read while its module's body was still running (a function
    #: called from ``if __name__ == "__main__":``): the summary holds while those globals still hold those facts
    live: tuple = ()
    constructed: tuple | None = None
    leaks: bool = False

    @classmethod
    def of(cls, result: tuple, record: Record) -> "Summary":
        return cls(result, record.height, record.cut, record.deep, frozenset(record.reads),
                   tuple(sorted(record.counts.items())), tuple(record.live.items()), record.constructed,
                   record.leaks)


class Summaries:
    """The stores of summaries (calls, roots, module bodies) and the stack of analyses in progress."""

    def __init__(self) -> None:
        self.calls: dict[tuple, Summary] = {}  # exact: (callee, args, kwargs)
        self.cut_calls: dict[tuple, Summary] = {}  # by depth, or by depth and stack
        self.roots: dict[str, Summary] = {}
        self.cut_roots: dict[tuple, Summary] = {}  # by root and what was in progress around it
        self.modules: dict[str, Summary] = {}  # module key -> its body's dependencies and counts
        self.stack: list[Record] = []

    # ---- the stack
    def begin(self) -> Record:
        record = Record()
        self.stack.append(record)
        return record

    def end(self) -> Record:
        return self.stack.pop()

    def used(self, summary: Summary) -> None:
        """The innermost analysis in progress used ``summary``."""
        if self.stack:
            self.stack[-1].absorb(summary)

    def mark_cut(self) -> None:
        if self.stack:
            self.stack[-1].cut = True

    def note_leak(self) -> None:
        """The innermost analysis handed padding to a callable it was given (``def run(model, batch):
        model(pad_sequence(batch))``): only its callers know what runs, so they must be analysed
        (``packlint.demand``)."""
        if self.stack:
            self.stack[-1].leaks = True

    def mark_deep(self) -> None:
        if self.stack:
            self.stack[-1].deep = True

    def read(self, key: AttrKey) -> None:
        if self.stack:
            self.stack[-1].reads.add(key)

    def read_live_global(self, module_key: str, name: str, value_facts: object) -> None:
        if self.stack:
            self.stack[-1].live.setdefault((module_key, name), value_facts)

    def count(self, statistic: str, path: str) -> None:
        if self.stack:
            self.stack[-1].counts[(statistic, path)] += 1

    def swap_stack(self, stack: list[Record]) -> list[Record]:
        """Start an independent analysis (a root, a module body) on a stack of its own; returns the old one."""
        old, self.stack = self.stack, stack
        return old

    # ---- rounds
    def clear(self) -> None:
        self.calls.clear()
        self.cut_calls.clear()
        self.roots.clear()
        self.cut_roots.clear()
        self.modules.clear()

    def invalidate(self, changed: set[AttrKey]) -> None:
        """Drop every summary that read an attribute in ``changed`` (module bodies are the caller's business)."""
        for store in (self.calls, self.cut_calls, self.roots, self.cut_roots):
            for key in [k for k, s in store.items() if s.reads & changed]:
                del store[key]

    def totals(self, statistic: str) -> dict[str, int]:
        """``statistic`` per path over every summary kept: each analysis counted once, whatever the rounds."""
        out: Counter = Counter()
        for store in (self.calls, self.cut_calls, self.roots, self.cut_roots, self.modules):
            for summary in store.values():
                for (name, path), n in summary.counts:
                    if name == statistic:
                        out[path] += n
        return dict(sorted(out.items()))
