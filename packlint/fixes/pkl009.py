"""PKL009's fix: a bidirectional output gathered at ``lengths - 1`` (``out[rows, lengths - 1]``) becomes
``torch.cat([h_n[-2], h_n[-1]], 1)``: the forward direction's state at each sequence's last step (what the
gather's forward half held) and the backward direction's state after the whole sequence (what it should have).

Offered where the gather reads all features of the RNN's unpacked output and ``h_n`` is bound (``rnn_state``).
Unsafe: the backward half was a real step's value (the state after one token), and the fix changes it.
"""

from __future__ import annotations

import libcst as cst

from packlint.diagnostics import Finding
from packlint.fixes.edits import Code, Edit, imports_module
from packlint.fixes.rnn_state import final_state_for


def fix(code: Code, finding: Finding) -> Edit | None:
    sink = code.node_at(finding.line, finding.col, cst.Subscript, lambda s: isinstance(s.value, cst.Name))
    if sink is None:
        return None
    items = [e.slice for e in sink.slice]
    if len(items) not in (2, 3) or not all(isinstance(i, cst.Index) for i in items[:2]) or (
            len(items) == 3 and not (isinstance(items[2], cst.Slice) and items[2].lower is None and
                                     items[2].upper is None and items[2].step is None)):
        return None
    state = final_state_for(code, sink)
    if state is None or not state.bidirectional or not imports_module(code, sink, "torch"):
        return None
    return code.replace(sink, cst.parse_expression(f"torch.cat([{state.name}[-2], {state.name}[-1]], 1)"))
