"""Runtime invariance checks for your own model, to put in your test suite (see ``docs/testing.md``).

- :func:`assert_padding_invariant`: the loss and every parameter's gradient are unchanged when the padded positions
  of the batch's tensors are overwritten (random values, other token ids, another padding value).
- :func:`assert_batch_invariant`: each sequence gives the same output (per-step, pooled, or its share of the loss)
  alone as inside a padded batch.

Both are deterministic under ``seed`` and leave the caller's RNG states as they found them. Importing this package
does not import torch (linting never needs it); torch is imported when a check runs. The pytest plugin
:mod:`packlint.testing.pytest_plugin` offers them as fixtures with a ``--packlint-seed`` option.
"""

from ._common import InconclusiveCheck, tolerances
from .batch import BatchDependence, Mismatch, assert_batch_invariant
from .padding import Moved, PaddingFailure, PaddingLeak, assert_padding_invariant

__all__ = [
    "assert_padding_invariant",
    "assert_batch_invariant",
    "PaddingLeak",
    "BatchDependence",
    "InconclusiveCheck",
    "PaddingFailure",
    "Moved",
    "Mismatch",
    "tolerances",
]
