"""Parallel analysis: groups of files that import nothing of each other are linted in separate processes.

The analysis is whole-program, so the unit of parallel work is a connected group of the import graph (a model and
every script that imports it), never a single file. Workers are forked: they inherit the decoded sources and the
options, and send back plain records. If processes cannot be started, the groups run in this process.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from packlint.diagnostics import LintResult

_WORK: dict = {}


def _run(index: int) -> LintResult:
    from packlint.engine import lint_group

    groups, roots, options = _WORK["groups"], _WORK["roots"], _WORK["options"]
    merged = LintResult()
    for group in groups[index]:
        merged.absorb(lint_group(group, roots, options))
    return merged


def _balance(groups: list[list], jobs: int) -> list[list[list]]:
    """Greedy split of the groups into ``jobs`` bins of about equal source size."""
    bins: list[list[list]] = [[] for _ in range(jobs)]
    sizes = [0] * jobs
    for group in sorted(groups, key=lambda g: -sum(len(f.text) for f in g)):
        i = sizes.index(min(sizes))
        bins[i].append(group)
        sizes[i] += sum(len(f.text) for f in group)
    return [b for b in bins if b]


def lint_groups(groups: list[list], roots: list[Path], options, jobs: int) -> LintResult:
    from packlint.engine import lint_group

    bins = _balance(groups, jobs)
    result = LintResult()
    if len(bins) == 1 or "fork" not in multiprocessing.get_all_start_methods():
        for group in groups:
            result.absorb(lint_group(group, roots, options))
        return result
    _WORK.update(groups=bins, roots=roots, options=options)
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=len(bins), mp_context=ctx) as pool:
            for part in pool.map(_run, range(len(bins))):
                result.absorb(part)
    except (OSError, RuntimeError):
        result = LintResult()
        for group in groups:
            result.absorb(lint_group(group, roots, options))
    finally:
        _WORK.clear()
    return result


def cpu_count() -> int:
    return os.cpu_count() or 1
