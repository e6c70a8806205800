"""The abstract interpreter of one function body in one context, assembled from parts with one job each.

The parts form a stack; each reads only the parts below it, so the pipeline reads top to bottom:

- ``statements.py``: control flow (blocks, branches joined, loops to a fixpoint);
- ``expressions.py``: syntax to values, and binding assignment targets;
- ``calls.py``: what a call returns, given the callee's and the arguments' values (project functions through
  the project, API tables, layer objects, losses), and attribute lookups;
- ``tensors.py``: what a tensor method does to a value (tables of method kinds);
- ``operations.py``: indexing, arithmetic and comparison on values;
- ``context.py``: the frame, positions, snippets and the sink events emitted.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import TYPE_CHECKING

from packlint.analysis.calls import Calls
from packlint.analysis.context import Context
from packlint.analysis.expressions import Expressions
from packlint.analysis.operations import Operations
from packlint.analysis.statements import Statements
from packlint.analysis.support import MAX_DEPTH, CallSite, Frame
from packlint.analysis.tensors import TensorEffects
from packlint.analysis.values import Value

if TYPE_CHECKING:
    from packlint.analysis.project import Project

__all__ = ["MAX_DEPTH", "CallSite", "Frame", "Interpreter"]


class Interpreter:
    """Evaluates statements and expressions of one function in one context."""

    def __init__(self, project: Project, frame: Frame):
        self.frame = frame
        ctx = Context(project, frame)
        ops = Operations(ctx)
        tensors = TensorEffects(ctx, ops)
        calls = Calls(ctx, ops, tensors)
        self.expressions = Expressions(ctx, ops, calls)
        self.statements = Statements(ctx, ops, tensors, calls, self.expressions)

    def run_block(self, body: Iterable[ast.stmt]) -> None:
        self.statements.run_block(body)

    def eval(self, node: ast.expr | None) -> Value:
        return self.expressions.eval(node)
