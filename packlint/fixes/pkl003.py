"""PKL003's fix: ``out[:, -1]`` (batch-first) or ``out[-1]`` (time-major) becomes ``h_n[-1]``, or
``torch.cat([h_n[-2], h_n[-1]], 1)`` for a bidirectional RNN.

Offered where the sink indexes the unpacked output of an RNN whose ``h_n`` is bound (``rnn_state``). For a
packed input, ``h_n[-1]`` is the last layer's state at each sequence's own last step: for the longest sequences it
equals ``out[:, -1]``, for the others it replaces padding. So the unidirectional fix is safe. The bidirectional
one also changes the backward half for the longest sequences (from the state after one token to the state after
all of them), a real step's value: unsafe. The gather at ``lengths - 1`` that the rule's help also offers is not
written by this fix.
"""

from __future__ import annotations

import libcst as cst

from packlint.diagnostics import Finding
from packlint.fixes.edits import Code, Edit, imports_module
from packlint.fixes.rnn_state import final_state_for


def fix(code: Code, finding: Finding) -> Edit | None:
    sink = code.node_at(finding.line, finding.col, cst.Subscript)
    if sink is None:
        return None
    state = final_state_for(code, sink)
    if state is None or not _reads_last_step(sink, state.batch_first):
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
