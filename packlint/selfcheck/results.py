"""What the self-check measured, as plain data, and how it is judged and rendered.

Nothing here imports torch: the CLI, the docs generator and the tests read these records (or their JSON) without
needing a tensor library, and the verdict logic lives in one place so text, JSON and docs can never disagree.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

#: Every good variant must match its reference this closely (float64), unless a row states its own margin.
GOOD_TOLERANCE = 1e-6
#: Deviations below this are float64 rounding noise, and which variant lands where depends on the CPU, its vector
#: width and the BLAS path taken: they tie. Well below GOOD_TOLERANCE, well above any rounding seen (3e-16).
TIE_FLOOR = 1e-9
#: Smallest figure printed as a number; anything below reads as rounding level.
DISPLAY_FLOOR = 1e-12


@dataclass
class Measure:
    """One variant's figure on one row: how far it is from the reference, and the raw value when it has one."""

    name: str
    deviation: float
    value: float | None = None


@dataclass
class Row:
    """One line of evidence: a case of a rule, one quantity, the bad variant against the good ones.

    ``tolerance`` is the deviation the bad variant must exceed for the row to show a real difference;
    ``good_tolerance`` is the most any good variant may deviate. A row without a bad variant only proves that
    accepted idioms are exact. An ``info`` row reports a figure (e.g. a different but legitimate weighting) and
    never affects the verdict.
    """

    rule: str
    case: str
    quantity: str
    tolerance: float | None
    bad: Measure | None
    goods: list[Measure] = field(default_factory=list)
    good_tolerance: float = GOOD_TOLERANCE
    reference_value: float | None = None
    kind: str = "check"
    note: str = ""
    error: str = ""

    @property
    def worst_good(self) -> Measure | None:
        """The good variant farthest from the reference; see ``worst_of``."""
        return worst_of(self.goods)

    @property
    def bad_deviates(self) -> bool:
        return self.bad is None or (self.tolerance is not None and self.bad.deviation > self.tolerance)

    @property
    def goods_match(self) -> bool:
        return all(m.deviation <= self.good_tolerance for m in self.goods)

    @property
    def confirmed(self) -> bool:
        if self.kind == "info":
            return not self.error
        return not self.error and self.bad_deviates and self.goods_match

    def verdict(self) -> str:
        if self.error:
            return "ERROR"
        if self.kind == "info":
            return "info"
        if self.confirmed:
            return "confirmed"
        if not self.bad_deviates:
            return "NOT CONFIRMED: bad within tolerance"
        worst = self.worst_good
        return f"NOT CONFIRMED: {worst.name} off" if worst else "NOT CONFIRMED"

    def to_json(self) -> dict:
        return {
            "rule": self.rule,
            "case": self.case,
            "quantity": self.quantity,
            "kind": self.kind,
            "tolerance": self.tolerance,
            "good_tolerance": self.good_tolerance,
            "reference_value": _num(self.reference_value),
            "bad": self.bad.name if self.bad else None,
            "bad_deviation": _num(self.bad.deviation) if self.bad else None,
            "bad_value": _num(self.bad.value) if self.bad else None,
            "good": [{"name": m.name, "deviation": _num(m.deviation), "value": _num(m.value)} for m in self.goods],
            "confirmed": self.confirmed,
            "note": self.note,
            "error": self.error,
        }


def deviation_rank(deviation: float | str | None) -> float:
    """How bad a deviation is, for picking the worst variant: NaN (or a non-number) is worst, noise ties at 0."""
    try:
        x = float(deviation)
    except (TypeError, ValueError):
        return math.inf
    if math.isnan(x):
        return math.inf
    return 0.0 if abs(x) < TIE_FLOOR else x


def worst_of(goods: list[Measure]) -> Measure | None:
    """The good variant farthest from the reference, the same on every machine.

    Ties (every deviation below ``TIE_FLOOR``) go to the first variant in the case's own order, because ``max``
    keeps the first of equal keys; which variant carries 0 and which 3e-16 is the CPU's choice, not the code's.
    """
    if not goods:
        return None
    return max(goods, key=lambda m: deviation_rank(m.deviation))


def all_tie(goods: list[Measure]) -> bool:
    """Whether every good variant is within rounding noise of the reference (no single one is 'the worst')."""
    return bool(goods) and all(deviation_rank(m.deviation) == 0.0 for m in goods)


def _num(x: float | None) -> float | str | None:
    """JSON has no NaN or infinity; spell them as strings so the output stays strict JSON."""
    if x is None or math.isfinite(x):
        return x
    return str(x)


def rule_verdicts(rows: list[Row], rules: list[str]) -> dict[str, bool]:
    """A rule is confirmed when every one of its check rows is, and at least one row shows a bad variant deviating."""
    verdicts = {}
    for rule in rules:
        mine = [r for r in rows if r.rule == rule]
        checks = [r for r in mine if r.kind == "check"]
        verdicts[rule] = (
            bool(checks)
            and all(r.confirmed for r in mine)
            and any(r.bad is not None for r in checks)
        )
    return verdicts


def fmt(x: float | None) -> str:
    """Figures for people: three significant digits; anything at float64 rounding level reads as such."""
    if x is None:
        return "-"
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if x == 0:
        return "0"
    if abs(x) < DISPLAY_FLOOR:
        return "<1e-12"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.3g}"
    return f"{x:.2e}"


def render_text(rows: list[Row], verdicts: dict[str, bool], meta: dict) -> str:
    """A fixed-width table, one row per (case, quantity), then one verdict line per rule."""
    header = ("rule", "case", "quantity", "bad", "worst good", "tolerance", "verdict")
    lines = [header]
    for r in rows:
        worst = r.worst_good
        tol = "-" if r.tolerance is None or r.kind == "info" else f">{r.tolerance:g}"
        tol += f" / <={r.good_tolerance:g}" if r.goods and r.kind == "check" else ""
        lines.append((
            r.rule,
            r.case,
            r.quantity,
            fmt(r.bad.deviation) if r.bad else "-",
            f"{fmt(worst.deviation)} ({worst.name})" if worst else "-",
            tol,
            r.verdict() + (f": {r.error}" if r.error else ""),
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = []
    for line in lines:
        out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[-1])
    notes = [f"  {r.rule} {r.case}: {r.note}" for r in rows if r.note]
    if notes:
        out += ["", "notes:"] + notes
    out.append("")
    for rule, ok in verdicts.items():
        out.append(f"{rule}: {'confirmed' if ok else 'NOT CONFIRMED'}")
    out.append(
        f"device {meta['device']}, torch {meta['torch_version']}, {meta['threads']} threads, "
        f"seed {meta['seed']}, {meta['elapsed_s']:.2f} s"
    )
    return "\n".join(out) + "\n"


def render_json(rows: list[Row], verdicts: dict[str, bool], meta: dict) -> str:
    doc = dict(meta)
    doc["confirmed"] = all(verdicts.values())
    doc["rules"] = verdicts
    doc["cases"] = [r.to_json() for r in rows]
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
