"""One fast walk over a syntax tree, shared by the demand waves and the analysis.

``ast.walk`` visits every field of every node through generators, the ``Load``/``Store`` markers included; on
real trees a third of the time packlint spent outside interpretation was in it (loaded names, reassigned
attributes, the words a function names).
"""

from __future__ import annotations

import ast

__all__ = ["walk_nodes"]

_FIELDS: dict[type, tuple[str, ...]] = {}
#: Fields that never hold a node (names, flags, the expression context): not looked into.
_SCALAR_FIELDS = frozenset(("ctx", "id", "attr", "arg", "name", "asname", "module", "level", "kind", "type_comment",
                            "conversion", "is_async", "simple"))


def walk_nodes(root: ast.AST) -> list[ast.AST]:
    """Every node under ``root`` in ``ast.walk``'s order (breadth first, fields in order), as a list, less the
    ``Load``/``Store`` context markers."""
    out = [root]
    i = 0
    node_type = ast.AST
    while i < len(out):
        node = out[i]
        i += 1
        cls = type(node)
        fields = _FIELDS.get(cls)
        if fields is None:
            fields = _FIELDS[cls] = () if cls is ast.Constant else tuple(
                f for f in cls._fields if f not in _SCALAR_FIELDS)
        for name in fields:
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, node_type):
                        out.append(item)
            elif isinstance(value, node_type):
                out.append(value)
    return out
