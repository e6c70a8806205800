"""The rule registry, built from an explicit list of rule modules (imported, not discovered by walking)."""

from __future__ import annotations

from packlint.rules.base import Rule

_RULE_MODULES = [
    "packlint.rules.pkl001_unmasked_loss",
    "packlint.rules.pkl002_unmasked_target",
    "packlint.rules.pkl003_padded_last_step",
    "packlint.rules.pkl004_batch_first_mismatch",
    "packlint.rules.pkl005_pooling_over_padding",
    "packlint.rules.pkl006_unmasked_attention",
    "packlint.rules.pkl007_mask_normalisation",
    "packlint.rules.pkl009_bidirectional_last_step",
]

INTERNAL_ERROR = ("PKL900", "internal-error", "packlint itself failed on a file; reported as a problem (exit 2).")


def registry() -> list[Rule]:
    """Every rule, in code order."""
    import importlib

    rules = [importlib.import_module(name).RULE for name in _RULE_MODULES]
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
