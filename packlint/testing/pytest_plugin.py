"""pytest plugin: packlint.testing's checks as fixtures, and a ``--packlint-seed`` option.

Installed packlint registers it through the entry point ``packlint = "packlint.testing.pytest_plugin"`` in the
``pytest11`` group; without it, enable it with ``-p packlint.testing.pytest_plugin`` or
``pytest_plugins = ["packlint.testing.pytest_plugin"]`` in a root ``conftest.py``.

Fixtures:

- ``padding_invariant``: :func:`packlint.testing.assert_padding_invariant` with the session's seed;
- ``batch_invariant``: :func:`packlint.testing.assert_batch_invariant` with the session's seed;
- ``packlint_seed``: the seed itself (``--packlint-seed N``, else the ``packlint_seed`` ini value, else 0).

A ``seed=`` passed to a fixture's call wins over the session's. Loading the plugin never imports torch: every
pytest run in an environment with packlint installed loads it, and most of them never use it.
"""

from __future__ import annotations

import functools

import pytest

DEFAULT_SEED = 0


def pytest_addoption(parser) -> None:
    group = parser.getgroup("packlint", "packlint.testing invariance checks")
    group.addoption(
        "--packlint-seed", action="store", type=int, default=None, dest="packlint_seed", metavar="N",
        help="seed for the perturbations and the runs of packlint.testing's padding_invariant and batch_invariant "
             f"fixtures (default: the packlint_seed ini value, else {DEFAULT_SEED})")
    parser.addini("packlint_seed", "default seed for packlint.testing's fixtures", default=str(DEFAULT_SEED))


def session_seed(config) -> int:
    value = config.getoption("packlint_seed")
    if value is None:
        raw = str(config.getini("packlint_seed") or DEFAULT_SEED).strip()
        try:
            value = int(raw)
        except ValueError:
            raise pytest.UsageError(f"packlint_seed must be an integer, got {raw!r}") from None
    return value


def pytest_report_header(config) -> str | None:
    if config.getoption("packlint_seed") is not None:
        return f"packlint-seed: {session_seed(config)}"
    return None


def _with_seed(check, seed: int):
    @functools.wraps(check)
    def run(*args, **kwargs):
        __tracebackhide__ = True
        kwargs.setdefault("seed", seed)
        try:
            return check(*args, **kwargs)
        except AssertionError as exc:
            exc.add_note(f"packlint.testing seed {kwargs['seed']}: rerun with --packlint-seed {kwargs['seed']} "
                         "to repeat these perturbations exactly")
            raise

    return run


@pytest.fixture
def packlint_seed(pytestconfig) -> int:
    """The seed of this session's packlint.testing checks."""
    return session_seed(pytestconfig)


@pytest.fixture
def padding_invariant(packlint_seed):
    """``assert_padding_invariant`` with the session's seed: ``padding_invariant(fn, batch, lengths, padded)``."""
    from . import assert_padding_invariant

    return _with_seed(assert_padding_invariant, packlint_seed)


@pytest.fixture
def batch_invariant(packlint_seed):
    """``assert_batch_invariant`` with the session's seed: ``batch_invariant(fn, sequences, output=...)``."""
    from . import assert_batch_invariant

    return _with_seed(assert_batch_invariant, packlint_seed)
