"""Where a cold run's time goes, phase by phase, beside ruff: what the analysis costs and what no analysis can save.

    python benchmarks/phases.py --runs 3 /work/triage/src/flair /work/triage/src/OpenNMT-py --json out.json

Each run is a fresh process that runs ``packlint --no-cache -q -j 1 .`` inside the tree, in-process, with timers
around its phases: start-up (importing packlint, reading the configuration), discovery, reading and decoding the
files, the import graph, the prefilter and the groups (``select_needed``, ``_units``), parsing (wherever it happens, the lazy parses
during the analysis included) and the analysis itself (``_analyse`` less the parsing inside it). ``ruff check
--select ALL --no-cache --exit-zero .`` runs in the same tree, alternating with it. Medians of ``--runs``.

The *floor* is everything but the analysis: what a run of the same files costs even if the analysis took no time
at all (with the same files parsed). Where the floor alone is over ruff's time, no work on the analysis can make
packlint faster than ruff on that tree (issue 16); the rest of the report says how much the analysis would have
to shrink elsewhere. Python's own start-up (``python -c pass``) is reported beside it: the timers start after it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

PHASES = ("startup", "discover", "read", "select", "parse", "analyse", "other")


def measure_here(tree: Path) -> dict[str, float]:
    """One run in this process, inside ``tree``: seconds per phase and in all."""
    began = time.perf_counter()
    from packlint import cli, engine  # timed here: the start-up is a phase

    spent = dict.fromkeys(PHASES, 0.0)
    inside_analysis = [False]
    parse_in_analysis = [0.0]

    def timed(module, name: str, phase: str) -> None:
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            outer = inside_analysis[0]
            if phase == "analyse":
                inside_analysis[0] = True
            try:
                return real(*args, **kwargs)
            finally:
                took = time.perf_counter() - start
                inside_analysis[0] = outer
                if phase == "parse" and outer:
                    parse_in_analysis[0] += took
                if not (phase == "analyse" and outer):
                    spent[phase] += took

        setattr(module, name, wrapper)

    for module, name, phase in ((cli, "discover", "discover"), (engine, "load_files", "read"),
                                (engine, "select_needed", "select"), (engine, "_with_linted_dependencies", "select"),
                                (engine, "_units", "select"), (engine, "parse", "parse"),
                                (engine, "_analyse", "analyse")):
        timed(module, name, phase)
    spent["startup"] = time.perf_counter() - began
    os.chdir(tree)
    sys.argv = ["packlint", "--no-cache", "-q", "-j", "1", "."]
    try:
        cli.run()  # the ``packlint`` command's entry point (``engine.one_shot``)
    except SystemExit:
        pass
    total = time.perf_counter() - began
    spent["analyse"] -= parse_in_analysis[0]
    spent["other"] = total - sum(spent[p] for p in PHASES if p != "other")
    spent["total"] = total
    return spent


def _one_run(tree: Path) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--one", str(tree)], capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ruff_seconds(tree: Path) -> float | None:
    ruff = shutil.which("ruff")
    if ruff is None:
        return None
    start = time.perf_counter()
    subprocess.run([ruff, "check", "--select", "ALL", "--no-cache", "--exit-zero", "-q", "."], cwd=tree,
                   capture_output=True, check=False)
    return time.perf_counter() - start


def _python_startup() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def measure(tree: Path, runs: int) -> dict[str, object]:
    """Medians of ``runs`` alternating packlint and ruff runs in ``tree``."""
    mine: list[dict[str, float]] = []
    theirs: list[float] = []
    for _ in range(runs):
        mine.append(_one_run(tree))
        seconds = _ruff_seconds(tree)
        if seconds is not None:
            theirs.append(seconds)
    out: dict[str, object] = {"tree": tree.name}
    for key in (*PHASES, "total"):
        out[key] = statistics.median(run[key] for run in mine)
    out["floor"] = statistics.median(run["total"] - run["analyse"] for run in mine)
    out["ruff"] = statistics.median(theirs) if theirs else None
    out["python"] = _python_startup()
    return out


def report(rows: list[dict[str, object]]) -> str:
    """The rows as a Markdown table (seconds; the floor is everything but the analysis)."""
    columns = ("tree", "packlint s", "analysis s", "floor s", "ruff s", "floor / ruff", "start-up", "discovery",
               "reading", "import graph", "parsing", "other", "python -c pass")
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for r in rows:
        ruff = r["ruff"]
        cells = [str(r["tree"]), f"{r['total']:.2f}", f"{r['analyse']:.2f}", f"{r['floor']:.2f}",
                 f"{ruff:.2f}" if ruff else "-", f"{r['floor'] / ruff:.2f}" if ruff else "-",
                 *(f"{r[p]:.2f}" for p in ("startup", "discover", "read", "select", "parse", "other")),
                 f"{r['python']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="*", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # one run in this process (internal)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(measure_here(args.one.resolve())))
        return 0
    if not args.trees:
        parser.error("name at least one tree")
    rows = [measure(tree.resolve(), args.runs) for tree in args.trees]
    print(report(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
