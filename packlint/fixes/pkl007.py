"""PKL007's fix: ``(loss * mask).mean()`` becomes ``(loss * mask).sum() / mask.sum()``.

Only that shape: a ``.mean()`` with no arguments of a product one of whose operands is the name the engine saw
bound to a mask (the finding's ``mask`` fact). Unsafe: the mean over real steps is what the code meant, but the
value changes for every batch (it was scaled down by the padding fraction), like a change of learning rate; a
mask of another shape than the loss (``(B, T, 1)`` against ``(B, T, C)``) also changes what is averaged.
"""

from __future__ import annotations

import libcst as cst

from packlint.diagnostics import Finding
from packlint.fixes.edits import Code, Edit

#: parents in which ``a / b`` needs parentheses where ``x.mean()`` did not
_BINDS_TIGHTER = (cst.BinaryOperation, cst.UnaryOperation, cst.Attribute, cst.Subscript, cst.Await, cst.Call)


def fix(code: Code, finding: Finding) -> Edit | None:
    mask = finding.fix.fact("mask") if finding.fix else None
    if not isinstance(mask, str):
        return None

    def is_mean_of_product(node: cst.Call) -> bool:
        func = node.func
        return (isinstance(func, cst.Attribute) and func.attr.value == "mean" and not node.args
                and isinstance(func.value, cst.BinaryOperation) and isinstance(func.value.operator, cst.Multiply)
                and any(isinstance(side, cst.Name) and side.value == mask
                        for side in (func.value.left, func.value.right)))

    call = code.node_at(finding.line, finding.col, cst.Call, is_mean_of_product)
    if call is None:
        return None
    product = call.func.value

    def total(of: cst.BaseExpression) -> cst.Call:
        return cst.Call(func=cst.Attribute(value=of, attr=cst.Name("sum")))

    ratio = cst.BinaryOperation(left=total(product), operator=cst.Divide(
        whitespace_before=cst.SimpleWhitespace(" "), whitespace_after=cst.SimpleWhitespace(" ")),
        right=total(cst.Name(mask)))
    if isinstance(code.parent(call), _BINDS_TIGHTER):
        # `2 / (l * m).mean()` must not become `2 / (l * m).sum() / m.sum()`
        ratio = ratio.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return code.replace(call, ratio)
