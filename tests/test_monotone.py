"""Transfer functions are monotone in harm (issue 14): joining more paths into an input never makes an output
less padded, so joining at merge points and then applying them over-approximates every path. Checked by evaluating
tensor expressions on generated abstract values through the real interpreter."""

from __future__ import annotations

import ast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packlint.analysis.interp import Frame, Interpreter
from packlint.analysis.project import Project
from packlint.analysis.values import facts, join
from test_lattice import carries_padding, leaves, values

HEADER = "import torch\nimport torch.nn.functional as F\n"
EXPRESSIONS = [
    "x + y", "x * y", "x - y", "x / y", "-x", "x @ y",
    "x.sum(1)", "x.mean(1)", "x.max(1)[0]", "x.transpose(1, 2)", "x.permute(1, 0, 2)", "x.view(-1, 5)",
    "x.reshape(x.size(0), -1)", "x.flatten(0, 1)", "x.contiguous()", "x.relu()", "x.detach()", "x.float()",
    "x[:, -1]", "x[y]", "x[:, :3]", "x.masked_fill(y, 0.0)", "x.masked_fill(~y, float('-inf'))",
    "torch.cat([x, y], 1)", "torch.stack([x, y])", "torch.softmax(x, dim=1)", "F.relu(x)", "torch.tanh(x)",
    "x.gather(1, y)", "torch.where(y, x, 0)", "x * y.unsqueeze(-1)", "(x, y)[0]", "[x, y][1]",
]


def _interpreter(env: dict) -> Interpreter:
    project = Project()
    module = project.add_module("m", "m.py", ast.parse(HEADER), HEADER)
    project.ensure_globals(module)
    return Interpreter(project, Frame(module=module, func=None, env={**module.globals, **env}))


def _evaluate(expression: str, x, y):
    interp = _interpreter({"x": x, "y": y})
    try:
        return interp.eval(ast.parse(expression, mode="eval").body)
    except Exception as exc:  # noqa: BLE001 - a transfer function that crashes is a failure of its own
        pytest.fail(f"{expression} with x={x!r}, y={y!r} raised {type(exc).__name__}: {exc}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXPRESSIONS), values, leaves, values)
def test_a_more_padded_input_never_gives_a_less_padded_output(expression: str, x, more, y) -> None:
    """``more`` is another path's value that is not a container: a list on one path and a tensor on the other is
    a type error waiting, and what a tensor method does to a list is not a transfer function."""
    wider = join(x, more)
    assert facts(join(x, wider)) == facts(wider)  # x is below wider
    if carries_padding(_evaluate(expression, x, y)):
        assert carries_padding(_evaluate(expression, wider, y)), (expression, x, wider, y)
    if carries_padding(_evaluate(expression, y, x)):
        assert carries_padding(_evaluate(expression, y, wider)), (expression, y, wider)
