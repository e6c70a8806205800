"""PKL004's fix: the unpack's ``batch_first`` made equal to the pack's.

The engine reports a pack/unpack disagreement at the ``pad_packed_sequence`` call only when both sides' values are
literal booleans and the result is then read with the packing side's layout, so the pack's value is the opposite
of the unpack's. The fix writes it: ``batch_first=False`` (or the default) becomes ``batch_first=True`` and the
other way round. Safe: the code after the unpack already reads the packing side's layout.
"""

from __future__ import annotations

import libcst as cst

from packlint.diagnostics import Finding
from packlint.fixes.edits import Code, Edit, keyword, literal_bool, positional, with_keyword
from packlint.fixes.rnn_state import names_unpack


def fix(code: Code, finding: Finding) -> Edit | None:
    call = code.node_at(finding.line, finding.col, cst.Call, lambda c: names_unpack(code, c.func))
    if call is None or any(a.star for a in call.args):
        return None
    given = keyword(call, "batch_first")
    args = positional(call)
    if given is not None:
        current = literal_bool(given.value)
    elif len(args) >= 2:
        current = literal_bool(args[1].value)
    else:
        current = False  # pad_packed_sequence's default
    if current is None:
        return None  # not a literal: the engine's value came from elsewhere; leave it to the user
    value = cst.Name("True" if not current else "False")
    if given is None and len(args) >= 2:
        new = call.with_changes(args=[a.with_changes(value=value) if a is args[1] else a for a in call.args])
    else:
        new = with_keyword(call, "batch_first", value)
    return code.replace(call, new)
