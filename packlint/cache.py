"""The result cache's storage: one small JSON file per entry, written atomically.

Why one file per entry: concurrent runs (an editor, pre-commit and a terminal at once) each write only their own
entries, each through a temporary file and ``os.replace``, so no run can lose another's update and a reader never
sees half an entry. A single shared file (the first design) was rewritten whole by every run and lost updates.
What goes into a key is ``packlint.cachekeys``'s business; this module stores and returns plain records.

Layout: ``.packlint_cache/v2/<first two hex digits>/<key>.json``, with a ``.gitignore`` inside the cache folder
(like ruff's). An entry that is missing, unreadable, not JSON, or written for another key is a miss and is
rewritten; ``--no-cache`` turns the cache off; deleting the folder at any time is safe.

Entries no run has read or written for ``MAX_AGE_DAYS`` are deleted, by a sweep that runs at most once a day (a
hit refreshes its entry's modification time), so the folder does not grow without bound as files are edited.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from packlint.diagnostics import FileProblem, Finding, Fix, LintResult, TrailStep

CACHE_DIR = ".packlint_cache"
FORMAT = 2  # bump when what an entry holds changes shape; older entries then sit in another folder, unread
MAX_AGE_DAYS = 30
_DAY_S = 24 * 3600
_SWEPT = ".swept"  # its modification time: when old entries were last deleted
_FORMAT_1 = "results-v1.json"  # the single shared file of format 1, deleted on sight


class ResultCache:
    """Entries under content-derived keys (hex digests), one file each, in ``<root>/.packlint_cache``."""

    def __init__(self, root: Path):
        self.dir = Path(root) / CACHE_DIR
        self.entries = self.dir / f"v{FORMAT}"

    def prepare(self, now: float | None = None) -> None:
        """Make the cache folder before the run lists any folder, so that making it later does not change the
        listing of the folder that holds it (the run manifest records listings); sweep old entries once a day."""
        try:
            self._make_dirs(self.entries)
            (self.dir / _FORMAT_1).unlink(missing_ok=True)
            self._sweep(time.time() if now is None else now)
        except OSError:
            pass

    def clock(self) -> int | None:
        """The file system's own time now, in nanoseconds (the modification time of a file made for the purpose),
        or None when the cache folder cannot be written. A file whose modification time is not before it may have
        changed after this moment, whatever the granularity of the file system's clock (the way git tells racily
        clean files)."""
        try:
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".clock-")
        except OSError:
            return None
        try:
            return os.fstat(fd).st_mtime_ns
        finally:
            os.close(fd)
            _remove(tmp)

    def _sweep(self, now: float) -> None:
        """Delete entries untouched for ``MAX_AGE_DAYS``, at most once a day. Another run reading an entry being
        deleted sees a miss and recomputes it, so sweeping needs no lock."""
        marker = self.dir / _SWEPT
        try:
            if now - marker.stat().st_mtime < _DAY_S:
                return
        except FileNotFoundError:
            pass
        marker.touch()
        os.utime(marker, (now, now))
        cutoff = now - MAX_AGE_DAYS * _DAY_S
        for shard in self.entries.iterdir():
            if not shard.is_dir():
                continue
            for entry in shard.iterdir():
                try:
                    if entry.stat().st_mtime < cutoff:
                        entry.unlink()
                except OSError:
                    continue

    def _file(self, key: str) -> Path:
        return self.entries / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The record stored under ``key``, or None (absent, unreadable, corrupt or foreign: all misses)."""
        try:
            data = json.loads(self._file(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("value"), dict):
            return None
        try:
            os.utime(self._file(key))  # used: the sweep keeps it
        except OSError:
            pass
        return data["value"]

    def put(self, key: str, value: dict) -> None:
        """Store ``value`` under ``key``: written to a temporary file beside the entry, then renamed over it, so
        the entry is either the old one or the new one, never a mix. A read-only tree is linted uncached."""
        target = self._file(key)
        try:
            self._make_dirs(target.parent)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".entry-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump({"key": key, "value": value}, out, separators=(",", ":"))
                os.replace(tmp, target)
            except BaseException:
                _remove(tmp)
                raise
        except OSError:
            pass  # a read-only or full disk: the run is still correct, just not cached

    def _make_dirs(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        gitignore = self.dir / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text("# Automatically created by packlint.\n*\n", encoding="utf-8")


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def encode(result: LintResult) -> dict:
    """A result's records and counts as plain JSON data (files_parsed is not kept: a cached answer parses none)."""
    return {"findings": [asdict(f) for f in result.findings], "problems": [asdict(p) for p in result.problems],
            "warnings": list(result.warnings), "files_checked": result.files_checked,
            "unresolved": dict(result.unresolved_by_path), "bounds": dict(result.bounds_by_path),
            "unresolved_sites": [list(site) for site in result.unresolved_sites]}


def decode(value: dict) -> LintResult | None:
    """The result ``encode`` stored, or None when the record does not have that shape (treated as a miss)."""
    try:
        unresolved = {str(k): int(v) for k, v in value["unresolved"].items()}
        bounds = {str(k): int(v) for k, v in value["bounds"].items()}
        return LintResult(findings=[_finding(d) for d in value["findings"]],
                          problems=[FileProblem(**d) for d in value["problems"]],
                          warnings=[str(w) for w in value["warnings"]], files_checked=int(value["files_checked"]),
                          unresolved_calls=sum(unresolved.values()), unresolved_by_path=unresolved,
                          bounds_hit=sum(bounds.values()), bounds_by_path=bounds,
                          unresolved_sites=[(str(p), int(line), int(col), str(call))
                                            for p, line, col, call in value["unresolved_sites"]])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _finding(d: dict) -> Finding:
    d = dict(d)
    d["trail"] = tuple(TrailStep(**s) for s in d.get("trail", ()))
    fix = d["fix"]  # a finding cached before findings carried fixes has no key: a miss (KeyError), not a lost fix
    d["fix"] = Fix(fix["safe"], fix["title"], tuple((k, v) for k, v in fix.get("facts", ()))) if fix else None
    return Finding(**d)
