"""The rule registry: every module of this package named ``pklNNN_<name>.py`` holds one rule (``RULE``).

Adding a rule is adding its module (and its fixture folder, docs page and self-check case): no list to edit. The
modules are found by name in this package's folder, in code order, so the registry never depends on the order the
file system lists them in.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

from packlint.rules.base import Rule

_RULE_MODULE = re.compile(r"^pkl\d{3}_[a-z0-9_]+$")

INTERNAL_ERROR = ("PKL900", "internal-error", "packlint itself failed on a file; reported as a problem (exit 2).")


def rule_modules() -> list[str]:
    """The rule modules' names, sorted (so by code)."""
    return sorted(f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if _RULE_MODULE.match(m.name))


def registry() -> list[Rule]:
    """Every rule, in code order."""
    rules = [importlib.import_module(name).RULE for name in rule_modules()]
    return sorted(rules, key=lambda r: r.code)


def known_rules() -> dict[str, str]:
    """code -> name for every rule, PKL900 included (for config and noqa validation)."""
    out = {r.code: r.name for r in registry()}
    out[INTERNAL_ERROR[0]] = INTERNAL_ERROR[1]
    return out


def find_rule(code_or_name: str) -> Rule | None:
    key = code_or_name.strip()
    for rule in registry():
        if rule.code.lower() == key.lower() or rule.name == key.lower():
            return rule
    return None
