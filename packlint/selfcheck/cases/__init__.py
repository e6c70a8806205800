"""The self-check's case modules, one per rule, listed here (imported on demand, never discovered by walking).

Only names live here, so ``available_rules()`` and the CLI's help never import torch. Each module listed
defines ``evaluate(lab) -> list[Row]`` and carries ``# expect:`` markers that packlint's own tests lint.
"""

CASE_MODULES = {
    "PKL001": "pkl001_unmasked_loss",
    "PKL002": "pkl002_unmasked_target",
    "PKL003": "pkl003_padded_last_step",
    "PKL004": "pkl004_batch_first_mismatch",
    "PKL005": "pkl005_pooling_over_padding",
    "PKL006": "pkl006_unmasked_attention",
    "PKL007": "pkl007_mask_normalisation",
    "PKL009": "pkl009_bidirectional_last_step",
}

RULE_NAMES = {
    "PKL001": "unmasked-loss",
    "PKL002": "unmasked-target",
    "PKL003": "padded-last-step",
    "PKL004": "batch-first-mismatch",
    "PKL005": "pooling-over-padding",
    "PKL006": "unmasked-attention",
    "PKL007": "mask-normalisation",
    "PKL009": "bidirectional-last-step",
}


def module_name(code: str) -> str:
    """The importable name of ``code``'s case module."""
    return f"{__name__}.{CASE_MODULES[code]}"
