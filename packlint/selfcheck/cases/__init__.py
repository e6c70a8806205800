"""The self-check's case modules, one per rule, named ``pklNNN_<rule_name>.py`` in this folder.

They are found by name, never imported to be listed: ``available_rules()`` and the CLI's help never import torch.
Each module defines ``evaluate(lab) -> list[Row]`` and carries ``# expect:`` markers that packlint's own tests lint.
"""

import pkgutil
import re

_CASE_MODULE = re.compile(r"^(pkl\d{3})_([a-z0-9_]+)$")


def _cases() -> list[tuple[str, str, str]]:
    """(code, module, rule name) for every case module, in code order."""
    out = []
    for m in pkgutil.iter_modules(__path__):
        found = _CASE_MODULE.match(m.name)
        if found:
            out.append((found.group(1).upper(), m.name, found.group(2).replace("_", "-")))
    return sorted(out)


CASE_MODULES = {code: module for code, module, _ in _cases()}
RULE_NAMES = {code: name for code, _, name in _cases()}


def module_name(code: str) -> str:
    """The importable name of ``code``'s case module."""
    return f"{__name__}.{CASE_MODULES[code]}"
