"""PKL006's fix: the scores' padded steps filled with ``-inf`` before the softmax, with a mask built from the
lengths in scope.

``F.softmax(scores, dim=1)`` (also ``torch.softmax``, ``scores.softmax``) becomes
``F.softmax(scores.masked_fill(<padded steps>, float("-inf")), dim=1)``, the padded steps built by ``masks`` for
the scores' layout (``(B, T)``, ``(T, B)``, ``(B, T, 1)``...). Offered where the scores are a plain
name (so they are not computed twice), the engine saw a name bound to the lengths they were packed with (the
finding's ``lengths`` fact) and the layout (``layout``), and ``torch`` is imported. Safe: the padded steps get
weight 0 and the real steps share all of it.
"""

from __future__ import annotations

import libcst as cst

from packlint.diagnostics import Finding
from packlint.fixes import masks
from packlint.fixes.edits import Code, Edit, imports_module, positional

def fix(code: Code, finding: Finding) -> Edit | None:
    lengths = finding.fix.fact("lengths") if finding.fix else None
    layout = finding.fix.fact("layout") if finding.fix else None
    if not isinstance(lengths, str) or not masks.usable(layout):
        return None
    call = code.node_at(finding.line, finding.col, cst.Call, _is_softmax)
    if call is None or not imports_module(code, call, "torch"):
        return None
    method = isinstance(call.func, cst.Attribute) and call.func.attr.value == "softmax" and not (
        isinstance(call.func.value, cst.Name) and call.func.value.value in ("F", "torch"))
    scores = call.func.value if method else (positional(call)[0].value if positional(call) else None)
    if not isinstance(scores, cst.Name) or scores.lpar:
        return None
    s = scores.value
    masked = cst.parse_expression(f"{s}.masked_fill({masks.padded_steps(s, lengths, layout)}, float(\"-inf\"))")
    if method:
        new = call.with_changes(func=call.func.with_changes(value=masked))
    else:
        first = positional(call)[0]
        new = call.with_changes(args=[a.with_changes(value=masked) if a is first else a for a in call.args])
    return code.replace(call, new)


def _is_softmax(call: cst.Call) -> bool:
    func = call.func
    return isinstance(func, cst.Attribute) and func.attr.value == "softmax" and not any(a.star for a in call.args)
