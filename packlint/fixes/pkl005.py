"""PKL005's fix: a mean over time becomes a masked mean, a max over time a max after ``masked_fill`` with
``-inf``, the mask built from the lengths in scope.

``out.mean(1)`` (or ``torch.mean(out, dim=1)``) becomes
``(out.masked_fill(<padded steps>, 0.0).sum(1) / torch.as_tensor(lengths, device=out.device)[:, None])``, and
``out.max(1)`` / ``out.amax(dim=1)`` / ``torch.max(out, 1)`` take ``out.masked_fill(<padded steps>, float("-inf"))``
in place of ``out``. Offered where the pooled value is a plain name, the dimension a literal that is the time axis,
a name bound to the lengths is in scope (the finding's ``lengths`` fact) and ``torch`` is imported. Safe: the
padded steps stop counting; the real steps' mean and max are what pooling meant.
"""

from __future__ import annotations

import libcst as cst

from packlint.diagnostics import Finding
from packlint.fixes import masks
from packlint.fixes.edits import Code, Edit, imports_module, keyword, positional

_MAX = ("max", "amax")
#: parents in which ``a / b`` needs parentheses where ``x.mean(1)`` did not
_BINDS_TIGHTER = (cst.BinaryOperation, cst.UnaryOperation, cst.Attribute, cst.Subscript, cst.Await, cst.Call)


def fix(code: Code, finding: Finding) -> Edit | None:
    facts = finding.fix
    lengths, layout, op = (facts.fact("lengths"), facts.fact("layout"), facts.fact("op")) if facts else (None,) * 3
    if not isinstance(lengths, str) or not masks.usable(layout) or op not in ("mean", *_MAX):
        return None
    call = code.node_at(finding.line, finding.col, cst.Call,
                        lambda c: isinstance(c.func, cst.Attribute) and c.func.attr.value == op)
    if call is None or not imports_module(code, call, "torch"):
        return None
    method = not (isinstance(call.func.value, cst.Name) and call.func.value.value == "torch")
    args = positional(call)
    value = call.func.value if method else (args[0].value if args else None)
    dim_args = args if method else args[1:]
    dim = keyword(call, "dim").value if keyword(call, "dim") is not None else (dim_args[0].value if dim_args else None)
    extra = [a for a in call.args if a.keyword is not None and a.keyword.value != "dim"] or dim_args[1:]
    if not isinstance(value, cst.Name) or value.lpar or extra or _int(dim) is None:
        return None
    if _int(dim) % len(layout) != layout.index("T"):
        return None
    v = value.value
    fill = "0.0" if op == "mean" else 'float("-inf")'
    masked = cst.parse_expression(f"{v}.masked_fill({masks.padded_steps(v, lengths, layout)}, {fill})")
    if op in _MAX:
        if method:
            return code.replace(call, call.with_changes(func=call.func.with_changes(value=masked)))
        return code.replace(call, call.with_changes(
            args=[a.with_changes(value=masked) if a is args[0] else a for a in call.args]))
    mean = cst.parse_expression(
        f"{code.code(masked)}.sum({_int(dim)}) / {masks.lengths_over(v, lengths, layout)}")
    if isinstance(code.parent(call), _BINDS_TIGHTER):
        mean = mean.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return code.replace(call, mean)


def _int(node) -> int | None:
    """The value of an integer literal (``1``, ``-1``), else None."""
    if isinstance(node, cst.Integer):
        return int(node.value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus) and isinstance(
            node.expression, cst.Integer):
        return -int(node.expression.value)
    return None
