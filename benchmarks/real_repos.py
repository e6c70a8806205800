"""Real public repositories at pinned commits: export them, lint them, compare two runs.

The list lives in ``benchmarks/real_repos.toml`` (one ``[[repo]]`` table each: ``name``, ``url``, ``commit``,
``why``). No fetched code is ever committed: each repository comes from a local git mirror (by default
``/work/.mirror/owner+name``, the layout the ``fetch`` tool leaves) and is exported into a work folder.

    python benchmarks/real_repos.py checkout --work /tmp/src [--mirrors DIR] [--only NAME ...]
    python benchmarks/real_repos.py lint --work /tmp/src --packlint .venv/bin/packlint --out run.json
    python benchmarks/real_repos.py compare base.json run.json
    python benchmarks/real_repos.py summary run.json

``lint`` writes, per repository, its sorted findings (code, path relative to the repository, line, message), the
number of problems, the counts packlint reports and the wall time. Everything but the times is deterministic when
packlint is. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_TOML = HERE / "real_repos.toml"
DEFAULT_MIRRORS = Path("/work/.mirror")
MARKER = ".real_repos_commit"  # written into each checkout: which commit it holds
FINDING_KEYS = ("code", "path", "line", "message")


class Fail(Exception):
    """A problem with one repository or with the arguments; reported, never a traceback."""


# ---------------------------------------------------------------- the pinned list

def load_repos(toml_path: Path, only: list[str] | None = None) -> list[dict]:
    with open(toml_path, "rb") as fh:
        data = tomllib.load(fh)
    repos = data.get("repo", [])
    seen: set[str] = set()
    for r in repos:
        for key in ("name", "url", "commit", "why"):
            if not isinstance(r.get(key), str) or not r[key]:
                raise Fail(f"{toml_path}: a [[repo]] table lacks {key!r}: {r}")
        if r["name"] in seen:
            raise Fail(f"{toml_path}: {r['name']!r} is listed twice")
        if len(r["commit"]) != 40 or any(c not in "0123456789abcdef" for c in r["commit"]):
            raise Fail(f"{toml_path}: {r['name']}: commit must be 40 lower-case hex digits")
        if "/" in r["name"] or r["name"] in (".", ".."):
            raise Fail(f"{toml_path}: {r['name']!r} is not a folder name")
        seen.add(r["name"])
    if only:
        unknown = sorted(set(only) - seen)
        if unknown:
            raise Fail(f"not in {toml_path}: {', '.join(unknown)}")
        repos = [r for r in repos if r["name"] in only]
    return sorted(repos, key=lambda r: r["name"])


def owner_name(url: str) -> str:
    parts = url.rstrip("/").removesuffix(".git").split("/")
    if len(parts) < 2:
        raise Fail(f"cannot read owner/name from {url!r}")
    return f"{parts[-2]}/{parts[-1]}"


def find_git_dir(mirrors: Path, url: str) -> Path:
    """The mirror's git directory: ``owner+name`` itself (bare), or its ``repo/`` (bare or with ``.git``)."""
    base = mirrors / owner_name(url).replace("/", "+")
    for cand in (base / "repo" / ".git", base / "repo", base / ".git", base):
        if (cand / "HEAD").is_file() and (cand / "objects").is_dir():
            return cand
    raise Fail(f"no git mirror for {owner_name(url)} under {mirrors} (looked in {base})")


def git(git_dir: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, check=False, **kw)


# ---------------------------------------------------------------- checkout

def export_commit(git_dir: Path, commit: str, dest: Path) -> dict:
    """Write every regular file of ``commit`` under ``dest``, byte for byte (no attributes, filters or eol
    conversion). Symlinks and submodules are skipped; blobs the mirror lacks (large files left out of a
    snapshot) are counted as missing."""
    if git(git_dir, "cat-file", "-e", f"{commit}^{{commit}}").returncode:
        raise Fail(f"commit {commit} is not in {git_dir}")
    listing = git(git_dir, "ls-tree", "-r", "-z", "--full-tree", commit)
    if listing.returncode:
        raise Fail(f"git ls-tree failed in {git_dir}: {listing.stderr.decode(errors='replace').strip()}")
    entries = []  # (mode, sha, path)
    skipped = 0
    for rec in listing.stdout.split(b"\0"):
        if not rec:
            continue
        meta, _, path = rec.partition(b"\t")
        mode, kind, sha = meta.split()
        rel = path.decode("utf-8", errors="surrogateescape")
        parts = Path(rel).parts
        if kind != b"blob" or mode == b"120000" or not parts or any(p in ("..", ".git") for p in parts) \
                or Path(rel).is_absolute():
            skipped += 1
            continue
        entries.append((mode, sha.decode(), rel))
    written = 0
    missing: list[str] = []
    proc = subprocess.Popen(["git", f"--git-dir={git_dir}", "cat-file", "--batch"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    # one request, then its whole answer, so neither pipe fills
    for mode, sha, rel in entries:
        proc.stdin.write(sha.encode() + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        if len(header) < 2 or header[1] == b"missing":
            missing.append(rel)
            continue
        size = int(header[2])
        data = proc.stdout.read(size)
        proc.stdout.read(1)  # the newline after each object
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o755 if mode == b"100755" else 0o644)
        written += 1
    proc.stdin.close()
    proc.wait()
    return {"files": written, "missing": missing, "skipped": skipped}


def cmd_checkout(args: argparse.Namespace) -> int:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    failed = 0
    for r in load_repos(Path(args.toml), args.only):
        dest = work / r["name"]
        try:
            if dest.exists():
                marker = dest / MARKER
                if marker.is_file() and marker.read_text().strip() == r["commit"] and not args.force:
                    print(f"{r['name']}: already at {r['commit'][:12]}")
                    continue
                if not marker.is_file() and any(dest.iterdir()):
                    raise Fail(f"{dest} exists and is not a checkout made by this script; not touching it")
                shutil.rmtree(dest)
            git_dir = find_git_dir(Path(args.mirrors), r["url"])
            part = work / f".{r['name']}.part"
            if part.exists():
                shutil.rmtree(part)
            part.mkdir()
            stats = export_commit(git_dir, r["commit"], part)
            (part / MARKER).write_text(r["commit"] + "\n")
            part.rename(dest)
            extra = f", {stats['skipped']} links or submodules skipped" if stats["skipped"] else ""
            if stats["missing"]:
                code = [m for m in stats["missing"] if m.endswith((".py", ".pyi", ".ipynb"))]
                extra += f", {len(stats['missing'])} blobs not in the mirror" + (f" (source: {', '.join(code)})"
                                                                                  if code else "")
            print(f"{r['name']}: {r['commit'][:12]}, {stats['files']} files{extra}")
        except Fail as exc:
            failed += 1
            print(f"{r['name']}: FAILED: {exc}", file=sys.stderr)
    return 1 if failed else 0


# ---------------------------------------------------------------- lint

def lint_one(packlint: str, root: Path, extra: list[str], timeout: float) -> dict:
    cmd = [packlint, "check", "--no-cache", "--output-format", "json", *extra, "."]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"failed": f"timed out after {timeout:g} s", "wall_s": round(time.perf_counter() - start, 3)}
    wall = time.perf_counter() - start
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stderr or proc.stdout)[-2000:]
        return {"failed": f"exit {proc.returncode}, no JSON: {tail}", "wall_s": round(wall, 3)}
    findings = sorted(
        ({"code": f["code"], "path": f["path"], "line": f["line"], "message": f["message"]}
         for f in report.get("findings", [])),
        key=lambda f: (f["path"], f["line"] or 0, f["code"], f["message"]))
    problems = report.get("errors", [])
    summary = report.get("summary", {})
    return {
        "packlint_version": report.get("packlint_version"),
        "files_checked": summary.get("files_checked"),
        "files_parsed": summary.get("files_parsed"),
        "by_code": dict(sorted(Counter(f["code"] for f in findings).items())),
        "findings": findings,
        "problems": len(problems),
        "problem_kinds": dict(sorted(Counter(str(p.get("kind") or p.get("code") or "?") for p in problems).items())),
        "wall_s": round(wall, 3),
    }


def cmd_lint(args: argparse.Namespace) -> int:
    work = Path(args.work)
    packlint = shutil.which(args.packlint) or args.packlint
    if not Path(packlint).is_file():
        raise Fail(f"no packlint executable at {args.packlint}")
    packlint = str(Path(packlint).resolve())  # the checkouts are the cwd: a relative path would break
    out: dict = {"packlint": packlint, "repos": {}}
    failed = 0
    for r in load_repos(Path(args.toml), args.only):
        root = work / r["name"]
        marker = root / MARKER
        if not marker.is_file():
            res = {"failed": f"no checkout at {root} (run checkout first)"}
        elif marker.read_text().strip() != r["commit"]:
            res = {"failed": f"{root} holds {marker.read_text().strip()}, not the pinned {r['commit']}"}
        else:
            res = lint_one(packlint, root, args.arg, args.timeout)
        res = {"commit": r["commit"], **res}
        out["repos"][r["name"]] = res
        if "failed" in res:
            failed += 1
            print(f"{r['name']}: FAILED: {res['failed']}", file=sys.stderr)
        else:
            codes = ", ".join(f"{c} {n}" for c, n in res["by_code"].items()) or "none"
            print(f"{r['name']}: {res['files_checked']} files, {len(res['findings'])} findings ({codes}), "
                  f"{res['problems']} problems, {res['wall_s']:.2f} s")
    Path(args.out).write_text(json.dumps(out, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                              encoding="utf-8")
    return 1 if failed else 0


# ---------------------------------------------------------------- compare, summary

def _load_run(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)["repos"]


def _key(f: dict) -> tuple:
    return (f["path"], f["line"] or 0, f["code"], f["message"])


def _show(f: dict) -> str:
    return f"{f['code']} {f['path']}:{f['line']} {f['message']}"


def compare(a: dict, b: dict) -> tuple[list[str], int]:
    """Lines describing what changed from run ``a`` to run ``b``, and the number of findings that changed."""
    lines: list[str] = []
    changed = 0
    for name in sorted(set(a) | set(b)):
        ra, rb = a.get(name), b.get(name)
        if ra is None or rb is None:
            lines.append(f"== {name}: only in {'B' if ra is None else 'A'}")
            continue
        notes = []
        if ra.get("commit") != rb.get("commit"):
            notes.append(f"commit {ra.get('commit', '?')[:12]} -> {rb.get('commit', '?')[:12]}")
        if "failed" in ra or "failed" in rb:
            lines.append(f"== {name}: failed in {'A' if 'failed' in ra else ''}{'B' if 'failed' in rb else ''}"
                         + "".join(f"; {n}" for n in notes))
            continue
        ca = Counter(_key(f) for f in ra["findings"])
        cb = Counter(_key(f) for f in rb["findings"])
        gone = sorted((ca - cb).elements())
        new = sorted((cb - ca).elements())
        if ra.get("problems") != rb.get("problems"):
            notes.append(f"problems {ra.get('problems')} -> {rb.get('problems')}")
        if not gone and not new and not notes:
            continue
        changed += len(gone) + len(new)
        lines.append(f"== {name}: +{len(new)} -{len(gone)} (A {len(ra['findings'])}, B {len(rb['findings'])})"
                     + "".join(f"; {n}" for n in notes))
        for k in gone:
            lines.append(f"  - {k[2]} {k[0]}:{k[1]} {k[3]}")
        for k in new:
            lines.append(f"  + {k[2]} {k[0]}:{k[1]} {k[3]}")
    lines.append(f"{changed} findings changed" if changed else "no finding changed")
    return lines, changed


def cmd_compare(args: argparse.Namespace) -> int:
    lines, _ = compare(_load_run(args.a), _load_run(args.b))
    print("\n".join(lines))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    runs = _load_run(args.run)
    codes = sorted({c for r in runs.values() for c in r.get("by_code", {})})
    print("| repo | commit | files (parsed) | " + " | ".join(codes) + (" | " if codes else "")
          + "findings | problems | wall s |")
    print("| --- " * (len(codes) + 6) + "|")
    for name, r in sorted(runs.items()):
        if "failed" in r:
            print(f"| {name} | {r['commit'][:12]} | failed: {r['failed'][:60]} |")
            continue
        cells = [str(r["by_code"].get(c, "")) for c in codes]
        print(f"| {name} | {r['commit'][:12]} | {r['files_checked']} ({r['files_parsed']}) | " + " | ".join(cells)
              + (" | " if cells else "") + f"{len(r['findings'])} | {r['problems']} | {r['wall_s']:.2f} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--toml", default=str(DEFAULT_TOML), help="the pinned list (default: %(default)s)")
        sp.add_argument("--only", nargs="+", metavar="NAME", help="only these repositories")

    sp = sub.add_parser("checkout", help="export each pinned commit from its mirror into --work DIR/name")
    common(sp)
    sp.add_argument("--work", required=True, help="folder for the checkouts")
    sp.add_argument("--mirrors", default=str(DEFAULT_MIRRORS), help="folder of owner+name mirrors (%(default)s)")
    sp.add_argument("--force", action="store_true", help="re-export checkouts already at the pinned commit")
    sp.set_defaults(func=cmd_checkout)

    sp = sub.add_parser("lint", help="run packlint on each checkout, write one JSON file")
    common(sp)
    sp.add_argument("--work", required=True, help="folder holding the checkouts")
    sp.add_argument("--packlint", required=True, help="the packlint executable to run")
    sp.add_argument("--out", required=True, help="JSON file to write")
    sp.add_argument("--timeout", type=float, default=900.0, help="seconds per repository (%(default)s)")
    sp.add_argument("--arg", action="append", default=[], help="extra packlint option (repeatable), e.g. --arg=-j1")
    sp.set_defaults(func=cmd_lint)

    sp = sub.add_parser("compare", help="findings that appeared (+) and disappeared (-) from A to B, per repo")
    sp.add_argument("a")
    sp.add_argument("b")
    sp.set_defaults(func=cmd_compare)

    sp = sub.add_parser("summary", help="a Markdown table of one lint run")
    sp.add_argument("run")
    sp.set_defaults(func=cmd_summary)

    args = p.parse_args(argv)
    try:
        return args.func(args)
    except Fail as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
