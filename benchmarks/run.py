"""Speed and memory benchmarks for packlint (issue 8's targets), measured with whole-process timing.

Needs ruff and libcst in the same environment (``pip install -r benchmarks/requirements.txt``). Prints a report
and writes it as JSON with ``--json PATH``. Targets (none is a timed test; this script is where they live):

1. start-up: ``packlint --version`` and an empty folder, each under 0.2 s wall;
2. realistic tree (1,000 files, 1 % unpacking, 10 % importing them): packlint cold (no cache) faster than
   ``ruff check --select ALL --no-cache`` in the same run, peak RSS summed over its processes under 150 MiB;
3. worst case (every file unpacks): per-file cost within 3x of a bare ``libcst.parse_module`` of the same files,
   and ``-j 2`` at least 1.7x faster than ``-j 1`` on 2 cores (median of paired runs);
4. warm: an unchanged tree re-linted from the cache in under 25 % of the cold run.

Tree mode (issue 16) measures local checkouts and generated trees of other shapes instead of the corpus above:

    python benchmarks/run.py --tree /work/triage/src/flair --tree ... --generate chain-hub:1000 --json out.json

For each tree, packlint cold (``--no-cache``) and ``ruff check --select ALL --no-cache --exit-zero`` alternate
``--runs`` times (default 3; both run from inside the tree on ``.``) and the medians and their ratio
packlint/ruff are reported, with one more packlint run (``--output-format json``) for files checked and parsed,
findings, and peak RSS summed over its processes. The commit is read from the ``.real_repos_commit`` marker that
``real_repos.py checkout`` leaves, else from git. ``--generate SHAPE[:FILES]`` (shapes of ``make_corpus.py``:
flat, chain, hub, chain-hub; ``--chain-length``, ``--seed``) builds a tree in a temporary folder and measures it
the same way; ``SHAPE:FILES:worst`` makes every module of it unpack (the worst case). Every tree also gets the time
``ast.parse`` takes on all its ``.py`` files in one process (read, then parse; median of ``--runs``), the floor the
worst case is held to (issue 16: within 3x). The load average is recorded before and after each tree: on a shared
machine it is part of the figure.
"""

from __future__ import annotations

import argparse
import compileall
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
from make_corpus import SHAPES, generate  # noqa: E402

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


def ast_parse_s(tree: Path, runs: int) -> float:
    """Seconds ``ast.parse`` takes on every ``.py`` file of ``tree`` (read first, not timed), median of ``runs``
    fresh processes: the cost of parsing everything once, with nothing else."""
    code = ("import ast, sys, time, pathlib\n"
            "texts = [p.read_text(encoding='utf-8', errors='replace') for p in sorted(pathlib.Path(sys.argv[1])"
            ".rglob('*.py'))]\n"
            "t = time.perf_counter()\n"
            "for x in texts:\n"
            "    try: ast.parse(x)\n"
            "    except (SyntaxError, ValueError, RecursionError, MemoryError): pass\n"
            "print(time.perf_counter() - t)\n")
    return statistics.median(float(subprocess.run([sys.executable, "-c", code, str(tree)], capture_output=True,
                                                  text=True, check=True).stdout) for _ in range(runs))


def libcst_parse_per_file(tree: Path) -> float:
    code = ("import sys, time, pathlib, libcst\n"
            "files = sorted(pathlib.Path(sys.argv[1]).rglob('*.py'))\n"
            "texts = [f.read_text() for f in files]\n"
            "t = time.perf_counter()\n"
            "for x in texts: libcst.parse_module(x)\n"
            "print((time.perf_counter() - t) / len(texts))\n")
    return float(subprocess.run([sys.executable, "-c", code, str(tree)], capture_output=True, text=True,
                                check=True).stdout)


def tree_commit(tree: Path) -> str | None:
    marker = tree / ".real_repos_commit"
    if marker.is_file():
        return marker.read_text(encoding="utf-8").strip() or None
    try:
        proc = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=False, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def measure_tree(tree: Path, runs: int) -> dict[str, object]:
    """packlint cold beside ruff on one tree: medians of ``runs`` alternating pairs, then one run for the counts
    and the peak RSS. Both run from inside the tree on ``.``, as a developer would."""
    tree = tree.resolve()
    row: dict[str, object] = {"tree": str(tree), "name": tree.name, "commit": tree_commit(tree),
                              "py_files": sum(1 for _ in tree.rglob("*.py")), "load_before": loadavg()}
    pk_cmd = packlint("--no-cache", "-q", "--exit-zero", ".")
    rf_cmd = ruff(Path(".")) if have("", "ruff") else None
    pk, rf, pk_cpu = [], [], []
    for _ in range(runs):
        pk.append(timed(pk_cmd, cwd=tree)[0])
        pk_cpu.append(LAST_CPU[0])
        if rf_cmd is not None:
            rf.append(timed(rf_cmd, cwd=tree)[0])
    _, rss, out = timed(packlint("--no-cache", "--exit-zero", "--output-format", "json", "."), cwd=tree,
                        sample_rss=True)
    summary = json.loads(out)["summary"]
    pk_s = statistics.median(pk)
    rf_s = statistics.median(rf) if rf else None
    parse_s = ast_parse_s(tree, runs)
    row.update(runs=runs, packlint_s=pk_s, packlint_runs_s=pk, packlint_cpu_s=statistics.median(pk_cpu),
               ruff_s=rf_s, ruff_runs_s=rf, ratio=(pk_s / rf_s) if rf_s else None, ast_parse_s=parse_s,
               vs_ast_parse=pk_s / parse_s if parse_s else None,
               peak_rss_mib=rss / 1024, files_checked=summary["files_checked"],
               files_parsed=summary["files_parsed"], findings=summary["findings"], errors=summary["errors"],
               load_after=loadavg())
    return row


def _fmt(v: object, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


TABLE_HEAD = ("| tree | commit | packlint s | ruff s | ratio | ast.parse s (all files) | packlint / ast.parse "
              "| files parsed / checked | peak RSS MiB | load before -> after |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")


def tree_table_row(r: dict[str, object]) -> str:
    commit = str(r["commit"])[:12] if r.get("commit") else (r.get("generated") or "-")
    return (f"| {r['name']} | {commit} | {_fmt(r['packlint_s'])} | {_fmt(r['ruff_s'])} | {_fmt(r['ratio'])} | "
            f"{_fmt(r.get('ast_parse_s'))} | {_fmt(r.get('vs_ast_parse'))} | "
            f"{r['files_parsed']} / {r['files_checked']} | {_fmt(r['peak_rss_mib'], 0)} | "
            f"{r['load_before'][:1]} -> {r['load_after'][:1]} |")


def parse_generate(spec: str) -> tuple[str, int, bool]:
    """``SHAPE[:FILES[:worst]]`` -> (shape, files, every module unpacks)."""
    shape, _, rest = spec.partition(":")
    files, _, variant = rest.partition(":")
    if shape not in SHAPES:
        raise argparse.ArgumentTypeError(f"unknown shape {shape!r}; one of {', '.join(SHAPES)}")
    if variant not in ("", "worst"):
        raise argparse.ArgumentTypeError(f"unknown variant {variant!r}; only 'worst' (every module unpacks)")
    try:
        n = int(files) if files else 1000
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a file count: {files!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("the file count must be at least 1")
    return shape, n, variant == "worst"


def tree_mode(args: argparse.Namespace) -> dict[str, object]:
    runs = args.runs or 3
    report: dict[str, object] = {"cores": os.cpu_count(), "python": sys.version.split()[0], "runs": runs,
                                 "load_start": loadavg(), "trees": []}
    rows: list[dict[str, object]] = report["trees"]  # type: ignore[assignment]
    for tree in args.tree or []:
        if not tree.is_dir():
            raise SystemExit(f"--tree {tree}: not a folder")
    print(TABLE_HEAD, flush=True)  # a row as each tree is done: a long run shows its progress
    for tree in args.tree or []:
        rows.append(measure_tree(tree, runs))
        print(tree_table_row(rows[-1]), flush=True)
    for shape, files, worst in args.generate or []:
        work = Path(tempfile.mkdtemp(prefix="packlint-bench-"))
        try:
            tree = work / f"generated-{shape}-{files}{'-worst' if worst else ''}"
            counts = generate(tree, files, 0.01, 0.10, all_packing=worst, seed=args.seed, shape=shape,
                              chain_length=args.chain_length)
            row = measure_tree(tree, runs)
            row.update(tree=None, generated=f"{shape}:{files}{':worst' if worst else ''}", seed=args.seed,
                       chain_length=args.chain_length, corpus=counts)
            rows.append(row)
            print(tree_table_row(row), flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    report["load_end"] = loadavg()
    return report


def byte_compile_packlint() -> None:
    """Write packlint's bytecode before anything is timed, as installing a wheel does. With
    ``PYTHONDONTWRITEBYTECODE`` set (some shells and CI images set it) an editable install has none, and every
    run compiled packlint's ~40 modules from source: about 0.1-0.15 s of each run that a user never pays."""
    spec = importlib.util.find_spec("packlint")
    if spec is not None and spec.origin:
        compileall.compile_dir(str(Path(spec.origin).parent), quiet=1)


def main() -> None:
    byte_compile_packlint()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=None, help="runs per median (default 5; 3 in tree mode)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--tree", type=Path, action="append", metavar="PATH",
                    help="measure this local checkout beside ruff (repeatable; tree mode)")
    ap.add_argument("--generate", type=parse_generate, action="append", metavar="SHAPE[:FILES[:worst]]",
                    help=f"measure a generated tree of this shape ({', '.join(SHAPES)}; default 1000 files; "
                         "':worst': every module unpacks) beside ruff (repeatable; tree mode)")
    ap.add_argument("--shape", choices=SHAPES, default="flat",
                    help="shape of the corpus mode's realistic and worst-case trees (default flat)")
    ap.add_argument("--chain-length", type=int, default=25, help="modules per import chain (0: one chain)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.tree or args.generate:
        report = tree_mode(args)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        return
    args.runs = args.runs or 5
    report: dict[str, object] = {"cores": os.cpu_count(), "python": sys.version.split()[0], "shape": args.shape}
    work = Path(tempfile.mkdtemp(prefix="packlint-bench-"))
    try:
        empty = work / "empty"
        empty.mkdir()
        report["startup_version_s"] = statistics.median(timed(packlint("--version"))[0] for _ in range(args.runs))
        report["startup_empty_folder_s"] = statistics.median(
            timed(packlint("--no-cache", str(empty)))[0] for _ in range(args.runs))

        real = work / "realistic"
        report["realistic_tree"] = generate(real, args.files, 0.01, 0.10, all_packing=False, seed=args.seed,
                                            shape=args.shape, chain_length=args.chain_length)
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
        generate(worst, args.files, 0.01, 0.10, all_packing=True, seed=args.seed, shape=args.shape,
                 chain_length=args.chain_length)
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
