"""PKL102 unsorted-batch: values of one batch meet in different orders. A sort permutation was applied to one
side (inputs sorted by length before packing, lengths reordered) and never undone on the way, or undone with the
permutation itself instead of its inverse; nothing raises, every row is paired with another sequence's."""

from __future__ import annotations

from collections import Counter

from packlint.analysis.events import Event
from packlint.rules.base import Rule


def _describe(word: tuple) -> str:
    """One side's order in words, from the event's plain data: (sort text, site, inverted) per permutation."""
    if not word:
        return "in the batch's own order"
    parts: list[list] = []  # [text, count]: the same permutation applied in a row is said once, with a count
    for what, site, inverse in word:
        text = f"{'un' if inverse else ''}sorted by `{what}` (line {site.rsplit(':', 2)[1]})"
        if parts and parts[-1][0] == text:
            parts[-1][1] += 1
        else:
            parts.append([text, 1])
    return "reordered: " + ", then ".join(text if n == 1 else f"{text}, {n} times over" for text, n in parts)


def _applied_twice(word: tuple) -> bool:
    """``out[perm]`` after ``x[perm]``: the same permutation twice, as an "unsort" that is not one."""
    counts = Counter((site, inverse) for _, site, inverse in word)
    return any(n > 1 for n in counts.values())


def check(event: Event) -> str | None:
    if event.status == "returned":
        word = event.detail("first_order", ())
        why = ("the permutation itself was applied again where its inverse undoes it" if _applied_twice(word)
               else "its callers get the rows in another order than the batch they passed")
        return f"`{event.callee}` returns `{event.detail('first')}` {_describe(word)}: {why}"
    if event.status != "unsorted":
        return None
    first, second = event.detail("first", "the output"), event.detail("second", "the other side")
    a, b = event.detail("first_order", ()), event.detail("second_order", ())
    why = ("the permutation itself was applied again where its inverse undoes it"
           if _applied_twice(a) or _applied_twice(b) else "nothing puts the rows back in one order")
    return (f"`{first}` is {event.callee} `{second}`, but `{first}` is {_describe(a)} and `{second}` is "
            f"{_describe(b)}: {why}, so each row is paired with another sequence's")


def suggest(event: Event) -> str:
    a, b = event.detail("first_order", ()), event.detail("second_order", ())
    if _applied_twice(a) or _applied_twice(b):
        return "undo a sort with its inverse: `unsort = perm.argsort()` (or `perm.sort()[1]`), then `out[unsort]`"
    if event.status == "returned":
        return "put the rows back before returning: `out[perm.argsort()]` (or return the permutation with them)"
    return ("put the outputs back with the inverse permutation (`out[perm.argsort()]`), or sort every tensor of "
            "the batch (inputs, lengths, targets) together; `enforce_sorted=False` lets packing sort for you")


RULE = Rule(
    code="PKL102",
    name="unsorted-batch",
    summary="Values of one batch meet in different orders: a sort permutation applied to one side is never undone.",
    watches=frozenset({"batch-order"}),
    suggestion="undo the sort with its inverse permutation (`out[perm.argsort()]`) before the outputs meet targets",
    check=check,
    suggest=suggest,
)
