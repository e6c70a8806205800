"""Edits made with LibCST: the one way packlint changes Python code.

A fixer finds the node a finding points at in LibCST's lossless tree, builds the replacement node, and gets back
an ``Edit``: the node's source range and the replacement's code. Edits are ranges, not a rewritten module, so the
same edit applies to a notebook cell's own text (magics included) as to the copy packlint parsed (magics
neutralised, the same lines): everything outside the ranges stays as it was, byte for byte.

LibCST is imported here, at module level; only ``packlint.fixes`` imports this module, and only the engine's
editing entry points import that, so linting never loads LibCST.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider, ScopeProvider

from packlint.fixes.splice import Edit, text_edit


class Code:
    """One unit of Python being edited (a file, or one notebook cell): its LibCST tree with the positions, parents
    and scopes of its nodes. Raises ``libcst.ParserSyntaxError`` for code LibCST cannot parse."""

    def __init__(self, text: str):
        self.module = cst.parse_module(text)
        wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
        self.positions = wrapper.resolve(PositionProvider)
        self.parents = wrapper.resolve(ParentNodeProvider)
        self._wrapper = wrapper
        self._scopes = None

    @property
    def scopes(self):
        """Scope of each node, computed on first use (the dearest of the providers)."""
        if self._scopes is None:
            self._scopes = self._wrapper.resolve(ScopeProvider)
        return self._scopes

    def node_at(self, line: int, col: int, kind: type, accept=lambda node: True):
        """The outermost node of type ``kind`` that starts at a finding's position (1-based line and column) and
        that ``accept`` takes, or None."""
        found = [n for n, r in self.positions.items()
                 if isinstance(n, kind) and r.start.line == line and r.start.column == col - 1 and accept(n)]
        found.sort(key=lambda n: self._extent(n), reverse=True)
        return found[0] if found else None

    def _extent(self, node) -> tuple[int, int]:
        r = self.positions[node]
        return (r.end.line - r.start.line, r.end.column - r.start.column)

    def code(self, node: cst.CSTNode) -> str:
        """A node's source, its own parentheses included."""
        return self.module.code_for_node(node)

    def replace(self, node: cst.CSTNode, new: cst.CSTNode) -> Edit:
        """The edit that puts ``new`` where ``node`` is (keeping ``node``'s own parentheses).

        The module is rendered with the node replaced and compared with the original: a node rendered alone would
        lose the indentation of the block around it on its continuation lines, which only the whole module knows.
        """
        if getattr(node, "lpar", None) and hasattr(new, "lpar"):
            new = new.with_changes(lpar=node.lpar, rpar=node.rpar)
        old_code = self.module.code
        new_code = self.module.deep_replace(node, new).code
        return text_edit(old_code, new_code)

    def parent(self, node: cst.CSTNode):
        return self.parents.get(node)

    def ancestor(self, node: cst.CSTNode, kind: type):
        """The closest enclosing node of type ``kind``, or None."""
        node = self.parents.get(node)
        while node is not None and not isinstance(node, kind):
            node = self.parents.get(node)
        return node

    def bindings(self, at: cst.CSTNode, name: str) -> list:
        """Every assignment of ``name`` visible from ``at`` (LibCST's scope analysis), sorted by position."""
        scope = self.scopes.get(at)
        if scope is None:
            return []
        found = list(scope[name])
        return sorted(found, key=lambda a: (self.positions[a.node].start.line, self.positions[a.node].start.column)
                      if a.node in self.positions else (0, 0))

    def line_of(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line


def sole_local_statement(code: Code, at: cst.CSTNode, name: str, before: cst.CSTNode):
    """The one statement that binds ``name`` in the function around ``at``, when there is exactly one binding
    of that name in scope, it is a plain assignment in that same function, and it ends before ``before`` starts;
    otherwise None. A fix that reuses a name needs that name to mean the same value wherever it reads it."""
    found = code.bindings(at, name)
    if len(found) != 1 or not isinstance(found[0].node, cst.Name):
        return None
    function = code.ancestor(at, cst.FunctionDef)
    statement = code.ancestor(found[0].node, cst.Assign)
    if function is None or statement is None or code.ancestor(statement, cst.FunctionDef) is not function:
        return None
    if code.positions[statement].end.line >= code.positions[before].start.line:
        return None
    return statement


def imports_module(code: Code, at: cst.CSTNode, name: str) -> bool:
    """Whether ``name`` is bound, where ``at`` is, only by ``import name`` (so ``torch.cat`` is that torch's)."""
    found = code.bindings(at, name)
    return bool(found) and all(
        isinstance(a.node, cst.Import) and any(
            alias.asname is None and code.code(alias.name) == name for alias in a.node.names)
        for a in found)


def literal_bool(node) -> bool | None:
    """True or False for the literal names ``True``/``False``, else None."""
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return None


def keyword(call: cst.Call, name: str) -> cst.Arg | None:
    return next((a for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def positional(call: cst.Call) -> list[cst.Arg]:
    return [a for a in call.args if a.keyword is None and not a.star]


def with_keyword(call: cst.Call, name: str, value: cst.BaseExpression) -> cst.Call:
    """``call`` with the keyword argument ``name=value`` set: replaced where it is, else appended after the last
    argument (keeping a trailing comma and the call's own line breaks)."""
    existing = keyword(call, name)
    if existing is not None:
        return call.with_changes(args=[a.with_changes(value=value) if a is existing else a for a in call.args])
    arg = cst.Arg(value=value, keyword=cst.Name(name), equal=cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))
    args = list(call.args)
    if not args:
        return call.with_changes(args=[arg])
    last = args[-1]
    if isinstance(last.comma, cst.Comma):
        # `f(\n    x,\n)`: one argument a line; the new one goes last, with the same trailing comma, and the
        # line break before the closing bracket moves after it
        between = args[-2].comma.whitespace_after if len(args) > 1 and isinstance(args[-2].comma, cst.Comma) \
            else call.whitespace_before_args
        args[-1] = last.with_changes(comma=last.comma.with_changes(whitespace_after=between))
        return call.with_changes(args=[*args, arg.with_changes(comma=last.comma)])
    args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return call.with_changes(args=[*args, arg])
