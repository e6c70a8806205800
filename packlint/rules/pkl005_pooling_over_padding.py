"""PKL005 pooling-over-padding: mean/sum/max over the time axis of a padded output with no mask or lengths.

What is exact and stays clean: a sum when the padded steps are 0 (the default padding, straight from the unpack, or
zeroed with a mask), so ``sum(1) / lengths`` is a true mean; a max after ``masked_fill(~mask, -inf)``, after
``padding_value=-inf``, or after a ReLU (real values >= 0, so zero padding cannot win).
"""

from __future__ import annotations

import math

from packlint.analysis.events import Event
from packlint.diagnostics import Fix
from packlint.rules.base import Rule, origin


def _zero(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0


def _neg_large(v: object) -> bool:
    return isinstance(v, (int, float)) and (v <= -1e4 or (isinstance(v, float) and math.isinf(v) and v < 0))


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def check(event: Event) -> str | None:
    op = event.detail("op")
    pad, filled = event.detail("pad"), event.detail("filled")
    zeroed, nonneg = event.detail("zeroed"), event.detail("nonneg")
    where = origin(event)
    if op in ("sum", "prod", "norm"):
        if _zero(pad) or zeroed or pad is None:
            return None
        return f"`{event.subject}` sums over padded steps that are not zero ({where})"
    if op in ("max", "amax", "logsumexp"):
        if _neg_large(filled) or _neg_large(pad) or (nonneg and _zero(pad)) or event.detail("masked"):
            return None
        return f"`{event.subject}` takes {_article(op)} {op} over time that padded steps can win ({where})"
    if op in ("min", "amin"):
        if isinstance(filled, (int, float)) and filled >= 1e4:
            return None
        return f"`{event.subject}` takes {_article(op)} {op} over time that padded steps can win ({where})"
    if op == "mean":
        return f"`{event.subject}` averages over padded steps: divides by the padded length ({where})"
    return None


def fix(event: Event) -> Fix | None:
    """A masked mean, or a max after ``masked_fill`` with ``-inf``, with the mask built from the lengths the engine
    saw bound to a name here (``packlint.fixes.pkl005``). Safe: only the padded steps stop counting."""
    op, lengths = event.detail("op"), event.detail("lengths")
    if op not in ("mean", "max", "amax") or not isinstance(lengths, str) or event.callee not in ("mean", "max", "amax"):
        return None
    what = "average over the real steps" if op == "mean" else "fill the padded steps with -inf first"
    return Fix(safe=True, title=f"{what} (mask from {lengths})",
               facts=(("op", op), ("lengths", lengths), ("layout", event.detail("layout"))))


RULE = Rule(
    code="PKL005",
    name="pooling-over-padding",
    summary="mean/sum/max over the time axis of a padded output without a mask or lengths.",
    watches=frozenset({"pool"}),
    suggestion="mean: (out * mask).sum(1) / lengths[:, None]; max: out.masked_fill(~mask, float('-inf')).max(1)",
    check=check,
    fix=fix,
)
