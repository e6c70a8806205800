"""Where the interpreter is and what it reports: positions, source text, trail steps and sink events of the
function being analysed. Every other part of the interpreter reads it; it reads none of them."""

from __future__ import annotations

import ast
from dataclasses import replace
from typing import TYPE_CHECKING

from packlint.analysis.events import Event
from packlint.analysis.values import Lengths, Many, Mask, MaskRef, NotLengths, Padded, TimeLen, Unknown, Value
from packlint.diagnostics import TrailStep

if TYPE_CHECKING:
    from packlint.analysis.project import Project
    from packlint.analysis.support import Frame


class Context:
    """The frame being analysed, its module and the tables; positions, snippets and the events it emits."""

    def __init__(self, project: Project, frame: Frame):
        self.project = project
        self.frame = frame
        self.module = frame.module
        self.tables = project.tables

    def pos(self, node: ast.AST) -> tuple[int, int]:
        line = getattr(node, "lineno", 1)
        return (line, self.module.column(line, getattr(node, "col_offset", 0)))

    def step(self, node: ast.AST, what: str) -> TrailStep:
        line, col = self.pos(node)
        return TrailStep(self.module.path, line, col, what)

    def text(self, node: ast.AST, limit: int = 48) -> str:
        code = self.module.segment(node)
        code = " ".join(code.split())
        if len(code) <= limit:
            return code
        cut = code[: limit - 3]
        for sep in (", ", "(", " "):  # end at an argument or call boundary, not inside a name
            at = cut.rfind(sep)
            if at > limit // 2:
                cut = cut[: at + len(sep.strip())]
                break
        return cut + "..."

    def emit(self, event: Event, node: ast.AST | None = None) -> None:
        if node is not None:
            end = getattr(node, "end_lineno", None)
            if end is not None and end != event.line:
                event = replace(event, end_line=end)
            end_col = getattr(node, "end_col_offset", None)
            if end is not None and end_col is not None:
                event = replace(event, end_col=self.module.column(end, end_col))
        self.frame.events.append(event)

    def wrong_lengths(self, value: Value, time_len: ast.AST | None = None) -> NotLengths | None:
        """``value`` where per-sequence lengths are expected, when it is known not to be them: a PackedSequence's
        ``batch_sizes`` or lengths measured on padded rows (a list or tensor of them too); with ``time_len``, the
        padded length T itself (``torch.full((B,), out.size(1))``: every length is T), given the node that passes it.
        None for anything else."""
        if isinstance(value, Many):
            value = value.elem
        if isinstance(value, NotLengths):
            return value
        if time_len is not None and isinstance(value, TimeLen) and value.offset == 0:
            return NotLengths("padded", (self.step(time_len, f"`{self.text(time_len, 30)}`: the padded length"),))
        return None

    def emit_not_lengths(self, value: NotLengths, consumer: str, node: ast.AST) -> None:
        """A per-sequence length consumer (``pack``, ``mask``, ``index``, ``divide``) reads lengths that are not
        per-sequence lengths (PKL101 for ``batch_sizes``, PKL100 for lengths of padded rows)."""
        step = self.step(node, f"used as lengths ({consumer})")
        self.emit(Event("lengths", step.path, step.line, step.col, status=value.kind, subject=self.text(node, 60),
                        callee=consumer, trail=value.trail + (step,), details=(("consumer", consumer),)), node)

    def name_of_lengths(self, origin: str | None) -> str | None:
        """A local name bound, here, to the lengths the padded value was packed with (a fix builds its mask from
        it); None when no name is, or the origin is unknown. The first in name order, so the answer is stable."""
        if origin is None:
            return None
        for name in sorted(self.frame.env):
            if name == "_":
                continue  # a throwaway name, however it is bound now
            value = self.frame.env[name]
            key = value.origin if isinstance(value, Lengths) else value.key if isinstance(value, Unknown) else None
            if key == origin:
                return name
        return None

    def loc(self, node: ast.AST) -> tuple[str, int, int]:
        line, col = self.pos(node)
        return (self.module.path, line, col)

    def emit_batch_first(self, value: Padded, against_data: bool = False) -> None:
        """PKL004 where a mismatched unpack is used with the packing side's layout. An unpack that asked for
        ``batch_first=True`` after a time-major pack gives the batch-major output the code asked for: indexing or
        feeding it batch-major is right, so only a use ``against_data`` (flattened beside a target in the data's
        own, time-major order) is reported for it."""
        if value.asked_batch_first and not against_data:
            return
        step = value.mismatch
        assert step is not None
        self.emit(Event("batch-first", step.path, step.line, step.col, status="mismatch", subject=step.what,
                        trail=value.trail, details=(("asked", value.asked_batch_first),)))

    def mask_ref_of(self, v: Value) -> MaskRef | None:
        """The mask a multiplication zeroes with: a derived mask, or an unknown tensor given the benefit of doubt."""
        if isinstance(v, Mask):
            return v.ref
        if isinstance(v, Unknown):
            return MaskRef("unknown", v.key)
        return None
