"""Sink events: what the flow analysis saw at a sink, for the rules to judge.

The engine records an event wherever a possibly padded value meets a sink (a loss, a reduction of a per-step loss,
a last-step index, a pooling, a softmax, an unpack whose layout disagrees with its pack). Rules only read events;
they never walk the CST. When a callee's event is caused by its caller's arguments, the engine relocates it to the
caller's call line and extends its ``via`` trail, so findings cross functions without any rule knowing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from packlint.diagnostics import TrailStep

Trail = tuple[TrailStep, ...]


@dataclass(frozen=True)
class Event:
    """One observation at a sink.

    kind: ``loss`` | ``reduce`` | ``last-step`` | ``batch-first`` | ``pool`` | ``softmax``.
    status: the engine's verdict on the inputs (``padded``, ``mismatch``, ``zeroed-mean``, ...), reason: why.
    subject: source text of the value read; callee: the sink's own text; trail: how padding got here.
    """

    kind: str
    path: str
    line: int
    col: int
    status: str
    subject: str = ""
    callee: str = ""
    reason: str = ""
    trail: Trail = ()
    via: Trail = ()
    details: tuple[tuple[str, object], ...] = field(default=())
    end_line: int | None = None
    end_col: int | None = None  # 1-based character column past the expression's end (see Finding.end_col)
    #: (callee function id, the event's key there) for each call it was moved out of, innermost first: the
    #: engine drops a moved event when that callee reports the same event on its own (one bug, one finding).
    moved_from: tuple[tuple[str, tuple], ...] = ()

    @property
    def key(self) -> tuple:
        return (self.kind, self.path, self.line, self.col, self.status)

    def detail(self, name: str, default: object = None) -> object:
        for k, v in self.details:
            if k == name:
                return v
        return default

    def relocated(self, path: str, line: int, col: int, step: TrailStep, callee: str = "") -> "Event":
        """The same observation reported at a call site that passed the padded value in."""
        inner = TrailStep(self.path, self.line, self.col, f"{self.callee or self.kind} reads it")
        return replace(self, path=path, line=line, col=col, trail=self.trail + (step, inner), via=self.via + (inner,),
                       end_line=None, end_col=None, moved_from=self.moved_from + ((callee, self.key),))
