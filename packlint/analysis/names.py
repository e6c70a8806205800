"""Resolve the names a module binds by import to qualified names.

A small pass of our own instead of a scope/qualified-name provider, which costs several times a bare parse: we only
need imports (``import torch.nn as nn``, ``from torch.nn.utils.rnn import pad_packed_sequence as unpack``,
relative imports inside the linted tree), and ``packlint.resolver`` gives each statement its meaning, the same one
file selection uses. Assignments of such names (``unpack = rnn_utils.pad_packed_sequence``) are handled by the flow
analysis, which treats a qualified name as a value like any other.
"""

from __future__ import annotations

import ast

from packlint.resolver import bindings, stmt_from_ast


def dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def import_bindings(stmt: ast.Import | ast.ImportFrom, module_name: str, is_package: bool) -> dict[str, str]:
    """Local name -> qualified name bound by one import statement (star imports bind nothing we can see). The
    meaning is the resolver's, shared with file selection: one record per statement, read either way."""
    return bindings(stmt_from_ast(stmt), module_name, is_package)
