"""The result cache: a file's findings keyed by everything they can depend on.

Key = packlint's version, the configuration's fingerprint, the file's path and content, and the content of every
module of the tree it imports, directly or not (its import closure, through the one import resolver). Editing a callee
changes the key of every caller that can reach it, so the caller is re-checked; nothing else is. The cache lives
in ``.packlint_cache/`` at the project root, with a ``.gitignore`` inside (like ruff's); a corrupt or foreign cache
file is ignored and rebuilt, and ``--no-cache`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from packlint import __version__
from packlint.diagnostics import FileProblem, Finding, Fix, LintResult, TrailStep

CACHE_DIR = ".packlint_cache"
_FORMAT = 1
_MAX_ENTRIES = 50_000


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", errors="surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


class ResultCache:
    """Per-file records (findings, problems, warnings) under content-derived keys, in one JSON file."""

    def __init__(self, root: Path):
        self.dir = Path(root) / CACHE_DIR
        self.file = self.dir / f"results-v{_FORMAT}.json"
        self.entries: dict[str, dict] = {}
        self.dirty = False
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(data, dict) or data.get("packlint") != __version__ or not isinstance(
                data.get("entries"), dict):
            return  # foreign or older cache: start again
        self.entries = data["entries"]

    def get(self, key: str) -> tuple[list[Finding], list[FileProblem], list[str], int, int] | None:
        entry = self.entries.get(key)
        if not isinstance(entry, dict):
            return None
        try:
            findings = [_finding(d) for d in entry["findings"]]
            problems = [FileProblem(**d) for d in entry["problems"]]
            warnings = [str(w) for w in entry["warnings"]]
            unresolved = int(entry.get("unresolved", 0))
            bounds = int(entry.get("bounds", 0))
        except (KeyError, TypeError, ValueError):
            return None
        return findings, problems, warnings, unresolved, bounds

    def put(self, key: str, findings: list[Finding], problems: list[FileProblem], warnings: list[str],
            unresolved: int = 0, bounds: int = 0) -> None:
        self.entries[key] = {"findings": [asdict(f) for f in findings], "problems": [asdict(p) for p in problems],
                             "warnings": list(warnings), "unresolved": unresolved, "bounds": bounds}
        self.dirty = True

    def get_run(self, key: str) -> dict | None:
        """A whole previous run with the same arguments, if none of the files it read has changed since (by
        modification time and size, like ruff): then nothing needs reading at all."""
        run = self.entries.get(f"run:{key}")
        if not isinstance(run, dict) or not isinstance(run.get("stamps"), dict):
            return None
        for path, stamp in run["stamps"].items():
            if file_stamp(path) != stamp:
                return None
        return run

    def put_run(self, key: str, read_paths: list[str], result) -> None:
        """Remember a whole run, stamped by the files it read and the folders it listed (a folder's stamp changes
        when a file is added to it or removed). The cache folder is made first, so that making it later does not
        change the stamp of the folder that holds it."""
        self._make_dir()
        stamps = {p: file_stamp(p) for p in read_paths}
        self.entries[f"run:{key}"] = {
            "stamps": stamps, "findings": [asdict(f) for f in result.findings],
            "problems": [asdict(p) for p in result.problems], "warnings": list(result.warnings),
            "files_checked": result.files_checked, "unresolved_calls": result.unresolved_calls,
            "bounds_hit": result.bounds_hit,
        }
        self.dirty = True

    def run_result(self, run: dict):
        try:
            return LintResult(findings=[_finding(d) for d in run["findings"]],
                              problems=[FileProblem(**d) for d in run["problems"]],
                              warnings=[str(w) for w in run["warnings"]], files_checked=int(run["files_checked"]),
                              files_parsed=0, unresolved_calls=int(run["unresolved_calls"]),
                              bounds_hit=int(run.get("bounds_hit", 0)))
        except (KeyError, TypeError, ValueError):
            return None

    def save(self) -> None:
        if not self.dirty:
            return
        if len(self.entries) > _MAX_ENTRIES:
            self.entries = dict(list(self.entries.items())[-_MAX_ENTRIES:])
        try:
            self._make_dir()
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".results-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"packlint": __version__, "entries": self.entries}, out)
            os.replace(tmp, self.file)
        except OSError:
            pass  # a read-only tree still gets linted; it just is not cached

    def _make_dir(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            gitignore = self.dir / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("# Automatically created by packlint.\n*\n", encoding="utf-8")
        except OSError:
            pass  # a read-only tree still gets linted; it just is not cached


def file_stamp(path: str) -> list | None:
    """(mtime in ns, size) of a file, or None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def _finding(d: dict) -> Finding:
    d = dict(d)
    d["trail"] = tuple(TrailStep(**s) for s in d.get("trail", ()))
    fix = d["fix"]  # a finding cached before findings carried fixes has no key: a miss (KeyError), not a lost fix
    d["fix"] = Fix(fix["safe"], fix["title"], tuple((k, v) for k, v in fix.get("facts", ()))) if fix else None
    return Finding(**d)
