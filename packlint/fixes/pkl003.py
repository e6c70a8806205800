"""PKL003's fix: ``out[:, -1]`` (batch-first) or ``out[-1]`` (time-major) becomes ``h_n[-1]``, or
``torch.cat([h_n[-2], h_n[-1]], 1)`` for a bidirectional RNN.

Offered where the sink indexes the unpacked output of an RNN whose ``h_n`` is bound (``rnn_state``). For a
packed input, ``h_n[-1]`` is the last layer's state at each sequence's own last step: for the longest sequences it
equals ``out[:, -1]``, for the others it replaces padding. So the unidirectional fix is safe. The bidirectional
one also changes the backward half for the longest sequences (from the state after one token to the state after
all of them), a real step's value: unsafe. Where ``h_n`` is not bound and the RNN is unidirectional, the read
becomes a gather at ``lengths - 1`` (a name bound to the lengths in scope): safe for the same reason.
"""

from __future__ import annotations

import libcst as cst

from packlint.diagnostics import Finding
from packlint.fixes import masks
from packlint.fixes.edits import Code, Edit, imports_module
from packlint.fixes.rnn_state import final_state_for


def fix(code: Code, finding: Finding) -> Edit | None:
    sink = code.node_at(finding.line, finding.col, cst.Subscript, lambda s: isinstance(s.value, cst.Name))
    if sink is None:
        return None
    state = final_state_for(code, sink)
    if state is None:
        return _gather(code, finding, sink)
    if not _reads_last_step(sink, state.batch_first):
        return None
    if finding.fix is not None and finding.fix.fact("bidirectional") not in (None, state.bidirectional):
        return None  # the engine and the constructor disagree: leave it
    if state.bidirectional:
        if not imports_module(code, sink, "torch"):
            return None
        new = cst.parse_expression(f"torch.cat([{state.name}[-2], {state.name}[-1]], 1)")
    else:
        new = cst.parse_expression(f"{state.name}[-1]")
    return code.replace(sink, new)


def _gather(code: Code, finding: Finding, sink: cst.Subscript) -> Edit | None:
    """Without ``h_n``: each sequence's step at ``lengths - 1`` of a unidirectional output, where a name bound to
    the lengths is in scope (``out[torch.arange(out.size(0), device=out.device), <lengths> - 1]``)."""
    facts = finding.fix
    lengths, layout = (facts.fact("lengths"), facts.fact("layout")) if facts else (None, None)
    if facts is None or facts.fact("bidirectional") is not False or not isinstance(lengths, str) or \
            layout not in ("BTF", "TBF") or not isinstance(sink.value, cst.Name) or sink.value.lpar:
        return None
    batch_first = layout == "BTF"
    if not _reads_last_step(sink, batch_first) or not imports_module(code, sink, "torch"):
        return None
    out = sink.value.value
    rows = f"torch.arange({out}.size({0 if batch_first else 1}), device={out}.device)"
    last = f"{masks.lengths_tensor(out, lengths)} - 1"
    index = f"{rows}, {last}" if batch_first else f"{last}, {rows}"
    return code.replace(sink, cst.parse_expression(f"{out}[{index}]"))


def _reads_last_step(sink: cst.Subscript, batch_first: bool) -> bool:
    """``out[:, -1]`` / ``out[:, -1, :]`` on a batch-first output, ``out[-1]`` / ``out[-1, :]`` /
    ``out[-1, :, :]`` on a time-major one: the last step of every sequence, all features."""
    items = [e.slice for e in sink.slice]
    at = 1 if batch_first else 0
    if len(items) <= at or any(not _whole(i) for k, i in enumerate(items) if k != at):
        return False
    last = items[at]
    return isinstance(last, cst.Index) and isinstance(last.value, cst.UnaryOperation) and isinstance(
        last.value.operator, cst.Minus) and isinstance(last.value.expression, cst.Integer) and \
        last.value.expression.value == "1" and len(items) <= 3


def _whole(item) -> bool:
    return isinstance(item, cst.Slice) and item.lower is None and item.upper is None and item.step is None
