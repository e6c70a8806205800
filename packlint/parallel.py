"""Parallel analysis: groups of files that import nothing of each other are linted in separate processes.

The analysis is whole-program, so the unit of parallel work is a connected group of the import graph (a model and
every script that imports it), never a single file. This module knows nothing of what a group's work is: the
engine hands it a function from a group to a ``LintResult``. Workers are forked: they inherit that function, the
decoded sources and the options, and send back plain records. If processes cannot be started, the groups run in
this process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from packlint.diagnostics import LintResult

_WORK: dict = {}


def _run(index: int) -> LintResult:
    work, bins = _WORK["work"], _WORK["bins"]
    merged = LintResult()
    for group in bins[index]:
        merged.absorb(work(group))
    return merged


def _balance(groups: Sequence[list], jobs: int) -> list[list[list]]:
    """Greedy split of the groups into ``jobs`` bins of about equal source size."""
    bins: list[list[list]] = [[] for _ in range(jobs)]
    sizes = [0] * jobs
    for group in sorted(groups, key=lambda g: -sum(len(f.text) for f in g)):
        i = sizes.index(min(sizes))
        bins[i].append(group)
        sizes[i] += sum(len(f.text) for f in group)
    return [b for b in bins if b]


def run_groups(groups: Sequence[list], work: Callable[[list], LintResult], jobs: int) -> LintResult:
    """``work`` applied to every group, in up to ``jobs`` forked processes, the results merged."""
    # imported here: most runs are one process (one import group, a warm cache) and need none of it
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    bins = _balance(groups, jobs)
    result = LintResult()
    if len(bins) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for group in groups:
            result.absorb(work(group))
        return result
    _WORK.update(work=work, bins=bins)
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=len(bins), mp_context=ctx) as pool:
            for part in pool.map(_run, range(len(bins))):
                result.absorb(part)
    except (OSError, RuntimeError):
        result = LintResult()
        for group in groups:
            result.absorb(work(group))
    finally:
        _WORK.clear()
    return result
