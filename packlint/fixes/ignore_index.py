"""The fix of PKL001 and PKL002 at a functional loss (``F.cross_entropy``, ``F.nll_loss``): ``ignore_index=<pad>``.

The engine gives the target's padding value as the finding's ``ignore_index`` fact only when it knows it and the
loss honours ``ignore_index``; the fix sets that keyword on the call (replacing a different one). The positions
whose target is padding then add nothing, whatever the output holds there. Safe when the padding value is
negative (never a class index); unsafe otherwise, since a padding value of 0 may also be a real class, whose
tokens would then be dropped from the loss too. A loss object built elsewhere (``self.criterion``) is not edited:
its ``ignore_index`` belongs where it is constructed.
"""

from __future__ import annotations

import libcst as cst

from packlint.diagnostics import Finding
from packlint.fixes.edits import Code, Edit, keyword, positional, with_keyword


def fix(code: Code, finding: Finding) -> Edit | None:
    pad = finding.fix.fact("ignore_index") if finding.fix else None
    if not isinstance(pad, int) or isinstance(pad, bool):
        return None
    call = code.node_at(finding.line, finding.col, cst.Call, _is_loss_call)
    if call is None:
        return None
    value: cst.BaseExpression = cst.Integer(str(abs(pad)))
    if pad < 0:
        value = cst.UnaryOperation(operator=cst.Minus(), expression=value)
    return code.replace(call, with_keyword(call, "ignore_index", value))


def _is_loss_call(call: cst.Call) -> bool:
    """A loss called with its output and target (``F.cross_entropy(x, y)`` or by keyword), not a call on its
    result that starts at the same place (``F.cross_entropy(x, y).item()``), and reducing."""
    given = len(positional(call)) + sum(1 for a in call.args if a.keyword is not None and
                                        a.keyword.value in ("input", "target"))
    return given >= 2 and not any(a.star for a in call.args) and (
        keyword(call, "reduction") is None or _reduction_is_reducing(call))


def _reduction_is_reducing(call: cst.Call) -> bool:
    """A loss with ``reduction='none'`` is reported at the reduction, not here; any other reduction is fine."""
    arg = keyword(call, "reduction")
    return isinstance(arg.value, cst.SimpleString) and arg.value.evaluated_value in ("mean", "sum")
