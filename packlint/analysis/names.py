"""Resolve the names a module binds by import to qualified names.

A small pass of our own instead of a scope/qualified-name provider, which costs several times a bare parse: we only
need imports (``import torch.nn as nn``, ``from torch.nn.utils.rnn import pad_packed_sequence as unpack``,
relative imports inside the linted tree). Assignments of such names (``unpack = rnn_utils.pad_packed_sequence``)
are handled by the flow analysis, which treats a qualified name as a value like any other.
"""

from __future__ import annotations

import ast


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


def resolve_relative(module_name: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute module named by ``from .{level dots}target import ...`` inside ``module_name``."""
    parts = module_name.split(".") if module_name else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    base = ".".join(parts)
    if target:
        return f"{base}.{target}" if base else target
    return base


def import_bindings(stmt: ast.Import | ast.ImportFrom, module_name: str, is_package: bool) -> dict[str, str]:
    """Local name -> qualified name bound by one import statement (star imports bind nothing we can see)."""
    out: dict[str, str] = {}
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                out[alias.asname] = alias.name
            else:
                head = alias.name.split(".")[0]
                out[head] = head
        return out
    level = stmt.level or 0
    target = stmt.module
    base = resolve_relative(module_name, is_package, level, target) if level else (target or "")
    for alias in stmt.names:
        if alias.name == "*":
            continue
        local = alias.asname or alias.name
        out[local] = f"{base}.{alias.name}" if base else alias.name
    return out
