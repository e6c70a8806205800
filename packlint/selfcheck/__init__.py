"""``packlint selfcheck``: each rule proved on real tensors, on the user's own torch.

For every rule a case module (``cases/``) holds a reference computed only over real steps, the code shape the
rule flags and every idiom it accepts; :mod:`.lab` measures them the same way for all rules. A rule is
confirmed when its bad variant deviates beyond a stated tolerance and every good variant matches the reference.

This is the only part of packlint that uses torch, and even here it is imported lazily, inside
:func:`run_selfcheck`: importing this package (for ``packlint --help``, ``available_rules()`` or linting) must
stay torch-free.
"""

from __future__ import annotations

import importlib
import sys
import time
import warnings
from contextlib import contextmanager
from typing import TextIO

from .cases import CASE_MODULES, RULE_NAMES, module_name

INSTALL_HINT = "torch is not installed: pip install 'packlint[selfcheck]'"
# One intra-op thread: every tensor here is tiny, so a second thread only adds synchronisation, and on a busy
# 2-core machine it made the whole run 5-20x slower (110 s against 4.7 s measured). The figures are identical
# at 1 and 2 threads (checked), so the docs' numbers do not depend on this choice.
THREADS = 1
SEED = 0


def available_rules() -> list[str]:
    """Codes of the rules that have a self-check case, in code order."""
    return sorted(CASE_MODULES)


def resolve_rules(rules: list[str] | None) -> list[str]:
    """Codes for ``rules`` (codes or kebab names, any case); None means all. Raises ValueError on an unknown one."""
    if not rules:
        return available_rules()
    by_name = {name: code for code, name in RULE_NAMES.items()}
    out = []
    for item in rules:
        key = item.strip()
        code = key.upper() if key.upper() in CASE_MODULES else by_name.get(key.lower())
        if code is None:
            raise ValueError(f"no self-check for rule {item!r}; known: {', '.join(available_rules())}")
        if code not in out:
            out.append(code)
    return sorted(out)


def device_problem(torch, device: str) -> str | None:
    """A one-line reason why ``device`` cannot run the self-check, or None when it can."""
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        return f"unknown device {device!r}: {exc}"
    if dev.type == "cpu":
        return None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            return f"device {device!r} is not available: torch {torch.__version__} sees no CUDA GPU"
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            return f"device {device!r} is not available: {torch.cuda.device_count()} CUDA device(s) visible"
    try:
        torch.zeros(1, device=dev, dtype=torch.float64)
    except Exception as exc:  # any backend failure means the same thing to the user: pick another device
        return f"device {device!r} is not available: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return None


def _import_torch():
    """``import torch``, without the warning torch prints when numpy is absent (the self-check never uses it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        import torch
    return torch


@contextmanager
def _pinned(torch, device: str):
    """float64 by default, THREADS intra-op CPU threads, deterministic kernels; all restored afterwards.

    The figures in the docs are checked against fresh runs, so a run must repeat: same seed, same threads.
    """
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    cudnn_det = torch.backends.cudnn.deterministic
    torch.set_num_threads(THREADS)
    torch.set_default_dtype(torch.float64)
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_default_dtype(dtype)
        torch.backends.cudnn.deterministic = cudnn_det


def collect(codes: list[str], device: str = "cpu") -> tuple[list, dict]:
    """Run the case modules of ``codes``; returns (rows, meta). Torch must be importable and the device usable."""
    torch = _import_torch()

    from .lab import Lab
    from .results import Row

    rows, timings = [], {}
    start = time.perf_counter()
    with _pinned(torch, device):
        lab = Lab(device, seed=SEED)
        for code in codes:
            t0 = time.perf_counter()
            try:
                module = importlib.import_module(module_name(code))
                rows.extend(module.evaluate(lab))
            except Exception as exc:  # a failing case is a verdict (not confirmed), never a traceback
                rows.append(Row(code, "(case module)", "-", None, None, error=f"{type(exc).__name__}: {exc}"))
            timings[code] = round(time.perf_counter() - t0, 3)
    meta = {
        "device": str(torch.device(device)),
        "torch_version": torch.__version__,
        "threads": THREADS,
        "seed": SEED,
        "elapsed_s": round(time.perf_counter() - start, 3),
        "timings_s": timings,
    }
    return rows, meta


def run_selfcheck(rules: list[str] | None, device: str = "cpu", output_format: str = "text",
                  stream: TextIO | None = None) -> int:
    """Run the self-check and print its table (or JSON) to ``stream`` (stdout by default).

    Returns 0 when every requested rule is confirmed, 1 when any is not, 2 when torch is missing, the device is
    unavailable, or the arguments are wrong (one line on stderr says which).
    """
    stream = stream if stream is not None else sys.stdout
    if output_format not in ("text", "json"):
        print(f"unknown output format {output_format!r}: use text or json", file=sys.stderr)
        return 2
    try:
        codes = resolve_rules(rules)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    try:
        torch = _import_torch()
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    problem = device_problem(torch, device)
    if problem:
        print(problem, file=sys.stderr)
        return 2

    from .results import render_json, render_text, rule_verdicts

    rows, meta = collect(codes, device)
    verdicts = rule_verdicts(rows, codes)
    render = render_json if output_format == "json" else render_text
    stream.write(render(rows, verdicts, meta))
    stream.flush()
    return 0 if all(verdicts.values()) else 1


__all__ = ["available_rules", "run_selfcheck", "resolve_rules", "INSTALL_HINT"]
