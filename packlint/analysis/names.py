"""Resolve the names a module binds by import to qualified names.

A small pass of our own instead of LibCST's QualifiedNameProvider, which costs several times a bare parse: we only
need imports (``import torch.nn as nn``, ``from torch.nn.utils.rnn import pad_packed_sequence as unpack``,
relative imports inside the linted tree). Assignments of such names (``unpack = rnn_utils.pad_packed_sequence``)
are handled by the flow analysis, which treats a qualified name as a value like any other.
"""

from __future__ import annotations

import libcst as cst


def dotted(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
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


def import_bindings(stmt: cst.Import | cst.ImportFrom, module_name: str, is_package: bool) -> dict[str, str]:
    """Local name -> qualified name bound by one import statement (star imports bind nothing we can see)."""
    out: dict[str, str] = {}
    if isinstance(stmt, cst.Import):
        for alias in stmt.names:
            full = dotted(alias.name)
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                out[alias.asname.name.value] = full
            else:
                head = full.split(".")[0]
                out[head] = head
        return out
    level = len(stmt.relative)
    target = dotted(stmt.module) if stmt.module is not None else None
    base = resolve_relative(module_name, is_package, level, target) if level else (target or "")
    if isinstance(stmt.names, cst.ImportStar):
        return out
    for alias in stmt.names:
        name = dotted(alias.name)
        if name is None:
            continue
        local = name
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            local = alias.asname.name.value
        out[local] = f"{base}.{name}" if base else name
    return out
