"""Speed and memory benchmarks for packlint (issue 8's targets), measured with whole-process timing.

Needs ruff and libcst in the same environment (``pip install -r benchmarks/requirements.txt``). Prints a report
and writes it as JSON with ``--json PATH``. Targets (none is a timed test; this script is where they live):

1. start-up: ``packlint --version`` and an empty folder, each under 0.2 s wall;
2. realistic tree (1,000 files, 1 % unpacking, 10 % importing them): packlint cold (no cache) faster than
   ``ruff check --select ALL --no-cache`` in the same run, peak RSS summed over its processes under 150 MiB;
3. worst case (every file unpacks): per-file cost within 3x of a bare ``libcst.parse_module`` of the same files,
   and ``-j 2`` at least 1.7x faster than ``-j 1`` on 2 cores (median of paired runs);
4. warm: an unchanged tree re-linted from the cache in under 25 % of the cold run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_corpus import generate  # noqa: E402

BIN = Path(sys.executable).parent


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc (Linux)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


LAST_CPU = [0.0]  # CPU seconds (user + system) of the last timed run


def timed(cmd: list[str], cwd: Path | None = None, sample_rss: bool = False) -> tuple[float, int, str]:
    """(wall seconds, peak summed RSS in KiB or 0, stdout) of one run; its CPU time lands in LAST_CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = 0
    if sample_rss:
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _tree_rss_kib(proc.pid))
                time.sleep(0.005)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - start
    if sample_rss:
        stop.set()
        t.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST_CPU[0] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, peak, out


def packlint(*args: str) -> list[str]:
    return [str(BIN / "packlint"), *args]


def ruff(tree: Path) -> list[str]:
    return [str(BIN / "ruff"), "check", "--select", "ALL", "--no-cache", "--exit-zero", "-q", str(tree)]


def median_pair(a: list[str], b: list[str] | None, runs: int) -> tuple[float, float | None]:
    """Paired A/B: the two commands alternate, so load on the machine hits both alike."""
    ta, tb = [], []
    for _ in range(runs):
        ta.append(timed(a)[0])
        if b is not None:
            tb.append(timed(b)[0])
    return statistics.median(ta), (statistics.median(tb) if tb else None)


def have(module: str, binary: str | None = None) -> bool:
    if binary is not None:
        return (BIN / binary).exists() or shutil.which(binary) is not None
    return importlib.util.find_spec(module) is not None


def libcst_parse_per_file(tree: Path) -> float:
    code = ("import sys, time, pathlib, libcst\n"
            "files = sorted(pathlib.Path(sys.argv[1]).rglob('*.py'))\n"
            "texts = [f.read_text() for f in files]\n"
            "t = time.perf_counter()\n"
            "for x in texts: libcst.parse_module(x)\n"
            "print((time.perf_counter() - t) / len(texts))\n")
    return float(subprocess.run([sys.executable, "-c", code, str(tree)], capture_output=True, text=True,
                                check=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    report: dict[str, object] = {"cores": os.cpu_count(), "python": sys.version.split()[0]}
    work = Path(tempfile.mkdtemp(prefix="packlint-bench-"))
    try:
        empty = work / "empty"
        empty.mkdir()
        report["startup_version_s"] = statistics.median(timed(packlint("--version"))[0] for _ in range(args.runs))
        report["startup_empty_folder_s"] = statistics.median(
            timed(packlint("--no-cache", str(empty)))[0] for _ in range(args.runs))

        real = work / "realistic"
        report["realistic_tree"] = generate(real, args.files, 0.01, 0.10, all_packing=False)
        pk, rf = median_pair(packlint("--no-cache", "-q", str(real)), ruff(real) if have("", "ruff") else None,
                             args.runs)
        _, rss, out = timed(packlint("--no-cache", "--output-format", "json", str(real)), sample_rss=True)
        cpu = LAST_CPU[0]
        summary = json.loads(out)["summary"]
        models = sorted(str(p) for p in real.rglob("*.py") if "pad_packed_sequence" in p.read_text())
        only_models = statistics.median(timed(packlint("--no-cache", "-q", *models))[0] for _ in range(args.runs))
        report.update(realistic_packlint_s=pk, realistic_ruff_s=rf, realistic_packlint_cpu_s=cpu,
                      realistic_peak_rss_mib=rss / 1024, realistic_files_parsed=summary["files_parsed"],
                      realistic_files_total=summary["files_checked"], only_unpacking_files_s=only_models,
                      only_unpacking_files=len(models))
        cold = statistics.median(timed(packlint("--no-cache", "-q", str(real)))[0] for _ in range(args.runs))
        shutil.rmtree(real / ".packlint_cache", ignore_errors=True)
        timed(packlint("-q", str(real)), cwd=real)  # fills the cache
        warm = statistics.median(timed(packlint("-q", str(real)), cwd=real)[0] for _ in range(args.runs))
        report.update(cold_s=cold, warm_s=warm, warm_share=warm / cold)

        worst = work / "worst"
        generate(worst, args.files, 0.01, 0.10, all_packing=True)
        j1, j2 = median_pair(packlint("--no-cache", "-q", "-j", "1", str(worst)),
                             packlint("--no-cache", "-q", "-j", "2", str(worst)), args.runs)
        report.update(worst_j1_s=j1, worst_j2_s=j2, worst_speedup=j1 / j2, worst_per_file_ms=j1 / args.files * 1000)
        if have("libcst"):
            per_file_libcst = libcst_parse_per_file(worst)
            report.update(libcst_parse_per_file_ms=per_file_libcst * 1000,
                          worst_cost_vs_libcst=(j1 / args.files) / per_file_libcst)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for k, v in report.items():
        print(f"{k:32} {v:.3f}" if isinstance(v, float) else f"{k:32} {v}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
