"""Where the RNN's final hidden state ``h_n`` is bound, for the fixes that read it instead of the padded output
(PKL003, PKL009).

``h_n`` replaces the output only when the sink reads the RNN's output directly: ``out`` is bound once, by
``out, _ = pad_packed_sequence(y, ...)`` (or ``... )[0]``), ``y`` once, by ``y, h_n = self.rnn(...)`` (a GRU or an
RNN) or ``y, (h_n, c_n) = self.rnn(...)`` (an LSTM), and ``self.rnn`` (or a local ``rnn``) is built once from
``nn.GRU/LSTM/RNN`` with a literal ``bidirectional`` (or none). Anything else (a dropout between, a name bound
twice, an RNN built elsewhere) gets no fix: then ``h_n`` could mean another value than the output's.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from packlint.fixes.edits import Code, keyword, literal_bool, positional, sole_local_statement

#: position of ``bidirectional`` among the constructors' positional arguments
_BIDIRECTIONAL_AT = 6
_RNNS = ("GRU", "LSTM", "RNN")


@dataclass(frozen=True)
class FinalState:
    """``h_n``'s name, whether the RNN is bidirectional, and whether ``out`` was unpacked batch-first."""

    name: str
    bidirectional: bool
    batch_first: bool


def final_state_for(code: Code, sink: cst.Subscript) -> FinalState | None:
    """The final state of the RNN whose unpacked output ``sink`` indexes, or None when it is not that plain."""
    if not isinstance(sink.value, cst.Name) or sink.value.lpar:
        return None
    unpacked = sole_local_statement(code, sink, sink.value.value, before=sink)
    unpack = _unpack_call(code, unpacked, sink.value.value) if unpacked is not None else None
    if unpack is None:
        return None
    batch_first = _unpack_batch_first(unpack)
    sequence = positional(unpack)[0].value if positional(unpack) else None
    if batch_first is None or not isinstance(sequence, cst.Name):
        return None
    ran = sole_local_statement(code, sink, sequence.value, before=unpacked)
    if ran is None or len(ran.targets) != 1 or not isinstance(ran.value, cst.Call):
        return None
    target = ran.targets[0].target
    if not isinstance(target, (cst.Tuple, cst.List)) or len(target.elements) != 2:
        return None
    first, state = (e.value for e in target.elements)
    if not (isinstance(first, cst.Name) and first.value == sequence.value):
        return None
    lstm = isinstance(state, (cst.Tuple, cst.List))
    if lstm:
        if len(state.elements) != 2:
            return None
        state = state.elements[0].value
    if not isinstance(state, cst.Name) or state.value == "_":
        return None
    if sole_local_statement(code, sink, state.value, before=sink) is not ran:
        return None
    built = _constructor(code, ran.value.func, sink)
    kind = _last_name(built.func) if built is not None else None
    if kind not in _RNNS or (kind == "LSTM") != lstm:
        return None
    bidirectional = _bidirectional(built)
    if bidirectional is None:
        return None
    return FinalState(state.value, bidirectional, batch_first)


def _unpack_call(code: Code, statement: cst.Assign, name: str) -> cst.Call | None:
    if len(statement.targets) != 1:
        return None
    target, value = statement.targets[0].target, statement.value
    if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2 and isinstance(
            target.elements[0].value, cst.Name) and target.elements[0].value.value == name:
        call = value
    elif isinstance(target, cst.Name) and isinstance(value, cst.Subscript) and len(value.slice) == 1 and \
            isinstance(value.slice[0].slice, cst.Index) and isinstance(value.slice[0].slice.value, cst.Integer) \
            and value.slice[0].slice.value.value == "0":
        call = value.value
    else:
        return None
    if not isinstance(call, cst.Call) or any(a.star for a in call.args):
        return None
    return call if names_unpack(code, call.func) else None


def names_unpack(code: Code, func: cst.BaseExpression) -> bool:
    """``pad_packed_sequence``, spelled as imported or as an attribute; an alias (``as unpack``) counts when the
    name is bound only by ``from ... import pad_packed_sequence as unpack``; a name bound otherwise never does."""
    if isinstance(func, cst.Attribute):
        return func.attr.value == "pad_packed_sequence"
    if not isinstance(func, cst.Name):
        return False
    found = code.bindings(func, func.value)
    if not found:
        return func.value == "pad_packed_sequence"  # imported where this code cannot see (another notebook cell)
    return all(
        isinstance(a.node, cst.ImportFrom) and not isinstance(a.node.names, cst.ImportStar) and any(
            code.code(alias.name) == "pad_packed_sequence" and (
                alias.asname.name.value if alias.asname else "pad_packed_sequence") == func.value
            for alias in a.node.names)
        for a in found)


def _unpack_batch_first(call: cst.Call) -> bool | None:
    given = keyword(call, "batch_first")
    if given is not None:
        return literal_bool(given.value)
    args = positional(call)
    return literal_bool(args[1].value) if len(args) >= 2 else False


def _constructor(code: Code, func: cst.BaseExpression, at: cst.CSTNode) -> cst.Call | None:
    """The ``nn.GRU(...)`` call that built the module called as ``func`` (``self.rnn`` set once in the class, or
    a local bound once before), or None."""
    if isinstance(func, cst.Name):
        statement = sole_local_statement(code, at, func.value, before=at)
        return statement.value if statement is not None and isinstance(statement.value, cst.Call) else None
    if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self"):
        return None
    cls = code.ancestor(at, cst.ClassDef)
    if cls is None:
        return None
    found = []
    for node in code.positions:
        if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)) and code.ancestor(node, cst.ClassDef) is cls:
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            for t in targets:
                if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self" and \
                        t.attr.value == func.attr.value:
                    found.append(node)
    if len(found) != 1 or not isinstance(found[0], cst.Assign) or not isinstance(found[0].value, cst.Call):
        return None
    return found[0].value


def _last_name(func: cst.BaseExpression) -> str | None:
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return func.value if isinstance(func, cst.Name) else None


def _bidirectional(call: cst.Call) -> bool | None:
    if any(a.star for a in call.args):
        return None
    given = keyword(call, "bidirectional")
    if given is not None:
        return literal_bool(given.value)
    args = positional(call)
    return literal_bool(args[_BIDIRECTIONAL_AT].value) if len(args) > _BIDIRECTIONAL_AT else False
