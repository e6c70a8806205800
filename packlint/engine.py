"""Orchestration: sources -> parsed modules -> one project analysis -> rule findings, with suppressions applied.

The engine owns the per-file failure boundary: a file that cannot be read, decoded or parsed becomes a
``FileProblem`` and every other file is still linted; an exception inside the analysis becomes an
``internal-error`` problem naming the file and the stage, never a traceback.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from packlint.diagnostics import FileProblem, Finding, LintResult

# Files that cannot matter are skipped before parsing: a module matters if it names the packing API, or defines a
# name that a module which matters imports (resolved lazily by the project through ``import_resolver``).
_PREFILTER = re.compile(r"pad_packed_sequence|pack_padded_sequence|pad_sequence|PackedSequence")
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_NOQA = re.compile(r"^\s*#\s*packlint:\s*noqa\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass
class SourceFile:
    """A decoded file handed to the engine: its display path, text, and whether findings in it are reported."""

    path: str
    text: str
    module: str
    is_package: bool = False
    report: bool = True
    source: object = None  # packlint.source.SourceText, for notebook relocation


@dataclass
class Options:
    select: set[str] | None = None
    ignore: set[str] = field(default_factory=set)
    user_api: dict[str, list[str]] = field(default_factory=dict)
    max_bytes: int = 5 * 1024 * 1024
    enabled: object = None  # callable (code, path) -> bool from config; overrides select/ignore when given


def module_name_for(path: Path) -> tuple[str, bool]:
    """Dotted module name of a file, from the top package's parent (a script's folder is an import root)."""
    path = path.resolve()
    is_package = path.name == "__init__.py"
    parts = [] if is_package else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    if not parts:
        parts = [path.parent.name]
    return ".".join(p for p in parts if p), is_package


def lint_sources(files: list[SourceFile], options: Options | None = None) -> LintResult:
    """Analyse already-decoded files as one project and return findings and problems."""
    from packlint.analysis.api import build_tables
    from packlint.analysis.project import Project
    from packlint.rules import registry

    options = options or Options()
    result = LintResult()
    project = Project(build_tables(options.user_api))
    by_path: dict[str, SourceFile] = {}
    taken: set[str] = set()
    for f in files:
        result.files_checked += 1 if f.report else 0
        if f.report and _FILE_NOQA.search(f.text):
            continue
        try:
            tree = _parse(f.text)
        except _ParseFailure as exc:
            if f.report:
                result.problems.append(FileProblem(f.path, "syntax-error", exc.message, exc.line, exc.col))
            continue
        result.files_parsed += 1
        name = f.module
        if name in taken:
            name = f"{name}@{f.path}"
        taken.add(name)
        try:
            project.add_module(name, f.path, tree, f.text, is_package=f.is_package, report=f.report)
        except RecursionError:
            result.problems.append(FileProblem(f.path, "syntax-error", "expression nested too deeply to analyse"))
            continue
        by_path[f.path] = f

    events = []
    failed: set[str] = set()
    for module in list(project.modules.values()):
        events.extend(_guard(result, failed, module.path, "module body",
                             lambda m=module: (project.ensure_globals(m), m.events)[1]) or [])
    selected = _functions_that_can_matter(project, _prefilter(options))
    for fid, info in list(project.functions.items()):
        if not info.module.report or fid not in selected:
            continue
        events.extend(_guard(result, failed, info.module.path, info.qualname,
                             lambda fid=fid: project.root_analysis(fid)[1]) or [])
    # Roots computed on the way (a callee's own events are filtered out of its callers as "its own") are
    # reported too, or an unselected callee's finding would be lost.
    for fid, (_, root_events) in list(project.computed_roots()):
        info = project.functions[fid]
        if info.module.report and fid not in selected:
            events.extend(root_events)
    result.unresolved_calls = project.unresolved

    rules = registry()
    known = {r.code for r in rules} | {"PKL900"}
    for f in by_path.values():
        if f.report:
            result.warnings.extend(noqa_warnings(f.path, f.text, known))
    seen: set[tuple] = set()
    broken: set[tuple[str, str]] = set()  # (path, rule code) pairs whose check raised
    for ev in events:
        src = by_path.get(ev.path)
        if src is None or not src.report or ev.path in failed:
            continue
        for rule in rules:
            if (ev.path, rule.code) in broken:
                continue
            try:
                finding = rule.finding(ev)
            except Exception as exc:  # noqa: BLE001 - one rule crashing on one file is a problem, never a lost run
                broken.add((ev.path, rule.code))
                result.problems.append(_relocate(src, FileProblem(
                    ev.path, "internal-error", f"rule {rule.code} ({rule.name}) failed: {type(exc).__name__}: {exc}",
                    ev.line or 1, ev.col or 1)))
                continue
            if finding is None:
                continue
            key = (finding.path, finding.line, finding.col, finding.code)
            if key in seen:
                continue
            seen.add(key)
            if not _enabled(options, finding):
                continue
            if _suppressed(src.text, finding):
                continue
            result.findings.append(_relocate(src, finding))
    result.findings.sort(key=lambda f: f.sort_key())
    result.problems.sort(key=lambda p: p.sort_key())
    return result


def _functions_that_can_matter(project, prefilter: re.Pattern) -> set[str]:
    """Functions worth analysing as roots: every function of a module that names the packing API, and, in other
    modules, those that mention a name imported from a module padding can come from (plus their class's other
    methods and same-module callers). The rest are still analysed when a selected function calls them."""
    import ast as _ast

    from packlint.analysis.names import import_bindings

    tainting = {name for name, m in project.modules.items() if prefilter.search(m.text)}
    bindings: dict[str, dict[str, str]] = {}
    for name, m in project.modules.items():
        b: dict[str, str] = {}
        for node in _top_level_imports(m.tree.body):
            b.update(import_bindings(node, m.name, m.is_package))
        bindings[name] = b
    changed = True
    while changed:
        changed = False
        for name, b in bindings.items():
            if name in tainting:
                continue
            if any(_in_modules(q, tainting) for q in b.values()):
                tainting.add(name)
                changed = True
    selected: set[str] = set()
    by_module: dict[str, list] = {}
    for fid, info in project.functions.items():
        by_module.setdefault(info.module.name, []).append((fid, info))
    for name, funcs in by_module.items():
        if name not in tainting or prefilter.search(project.modules[name].text):
            if name in tainting:
                selected.update(fid for fid, _ in funcs)
            continue
        module = project.modules[name]
        words = sorted({local for local, q in bindings[name].items() if _in_modules(q, tainting)})
        if not words:
            continue
        pattern = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b")
        picked = {fid for fid, info in funcs if pattern.search(_node_text(module, info.node))}
        names_picked = True
        while names_picked:  # callers in the same module, and the other methods of a picked method's class
            names_picked = False
            classes = {project.functions[f].class_id for f in picked} - {None}
            local = [project.functions[f].node.name for f in picked]
            call_re = re.compile(r"\b(?:" + "|".join(map(re.escape, local)) + r")\b") if local else None
            for fid, info in funcs:
                if fid in picked:
                    continue
                if info.class_id in classes or (call_re and call_re.search(_node_text(module, info.node))):
                    picked.add(fid)
                    names_picked = True
        selected.update(picked)
    return selected


def _top_level_imports(body):
    """Imports at module level, including those under ``if``/``try`` (e.g. optional dependencies)."""
    import ast as _ast

    for node in body:
        if isinstance(node, (_ast.Import, _ast.ImportFrom)):
            yield node
        elif isinstance(node, (_ast.If, _ast.Try)):
            yield from _top_level_imports(node.body)
            yield from _top_level_imports(node.orelse)
            for handler in getattr(node, "handlers", ()):
                yield from _top_level_imports(handler.body)


def _in_modules(qualname: str, modules: set[str]) -> bool:
    parts = qualname.split(".")
    return any(".".join(parts[:cut]) in modules for cut in range(len(parts), 0, -1))


def _node_text(module, node) -> str:
    return "\n".join(module.lines[node.lineno - 1:getattr(node, "end_lineno", node.lineno)])


def _guard(result: LintResult, failed: set[str], path: str, where: str, fn):
    try:
        return fn()
    except RecursionError:
        failed.add(path)
        result.problems.append(FileProblem(path, "internal-error", f"analysis of {where} nested too deeply"))
    except Exception as exc:  # noqa: BLE001 - the engine's failure boundary: report, never crash
        failed.add(path)
        result.problems.append(FileProblem(path, "internal-error",
                                           f"packlint failed while analysing {where}: {type(exc).__name__}: {exc}"))
    return None


def _relocate(src: SourceFile, finding: Finding) -> Finding:
    relocate = getattr(src.source, "relocate", None)
    return relocate(finding) if relocate is not None else finding


def _enabled(options: Options, finding: Finding) -> bool:
    if callable(options.enabled):
        return bool(options.enabled(finding.code, finding.path))
    if options.select is not None and not any(finding.code.startswith(s) or finding.name == s
                                              for s in options.select):
        return False
    return not any(finding.code.startswith(s) or finding.name == s for s in options.ignore)


def noqa_codes(line: str) -> set[str] | None:
    """Codes a ``# noqa`` comment names; an empty set for a bare ``# noqa``; None when there is none."""
    m = _NOQA.search(line)
    if m is None:
        return None
    codes = m.group("codes")
    if not codes:
        return set()
    return {c.upper() for c in re.split(r"[\s,]+", codes) if c}


def noqa_warnings(path: str, text: str, known: set[str]) -> list[str]:
    """A ``# noqa: PKL999`` naming a code packlint does not have silences nothing: say so (other tools' codes,
    like ``E501``, are theirs and pass without a word)."""
    out = []
    if "noqa" not in text:
        return out
    for lineno, line in enumerate(text.splitlines(), start=1):
        codes = noqa_codes(line) if "noqa" in line else None
        for code in sorted(codes or ()):
            if code.startswith("PKL") and code not in known:
                out.append(f"{path}:{lineno}: unknown code {code} in `# noqa` comment; it silences nothing")
    return out


def add_noqa(findings: list[Finding], read=None, write=None) -> int:
    """Append ``# noqa: CODE`` to each finding's line (merging with an existing noqa), so a team can adopt
    packlint on a large codebase and fix the backlog later. Returns how many directives were added."""
    by_file: dict[str, dict[int, set[str]]] = {}
    for f in findings:
        by_file.setdefault(f.path, {}).setdefault(f.line, set()).add(f.code)
    added = 0
    for path, lines_codes in by_file.items():
        raw = Path(path).read_bytes() if read is None else read(path)
        from packlint.source import decode_with_encoding

        decoded = decode_with_encoding(raw, path)
        if isinstance(decoded, FileProblem):
            continue
        text, encoding = decoded
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = text.split(newline)
        for lineno, codes in sorted(lines_codes.items()):
            if not 1 <= lineno <= len(lines):
                continue
            line = lines[lineno - 1]
            existing = noqa_codes(line)
            if existing is not None and not existing:
                continue  # a bare noqa already silences everything
            merged = sorted((existing or set()) | codes)
            base = _NOQA.sub("", line).rstrip() if existing is not None else line.rstrip()
            lines[lineno - 1] = f"{base}  # noqa: {', '.join(merged)}"
            added += len(codes - (existing or set()))
        data = newline.join(lines).encode(encoding if encoding != "utf-8-sig" else "utf-8")
        if encoding == "utf-8-sig":
            data = b"\xef\xbb\xbf" + data
        if write is None:
            Path(path).write_bytes(data)
        else:
            write(path, data)
    return added


def _suppressed(text: str, finding: Finding) -> bool:
    lines = text.splitlines()
    candidates = {finding.line}
    if finding.end_line:
        candidates.add(finding.end_line)
    for ln in candidates:
        if 1 <= ln <= len(lines):
            codes = noqa_codes(lines[ln - 1])
            if codes is not None and (not codes or finding.code in codes):
                return True
    return False


class _ParseFailure(Exception):
    def __init__(self, message: str, line: int = 1, col: int = 1):
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


_BRACKETS = re.compile(r"[()\[\]{}]")
MAX_NESTING = 150  # CPython itself refuses more than 200 nested brackets; LibCST's native parser can crash first


def nesting_depth(text: str) -> tuple[int, int]:
    """Deepest bracket nesting and the line where it happens, counted with the tokenizer (strings and comments do
    not count). A cheap character scan runs first and settles the common case."""
    depth = deepest = 0
    for m in _BRACKETS.finditer(text):
        depth += 1 if m.group() in "([{" else -1
        deepest = max(deepest, depth)
    if deepest <= MAX_NESTING:
        return deepest, 0
    import io
    import tokenize

    depth = deepest = line = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.OP and tok.string in "([{":
                depth += 1
                if depth > deepest:
                    deepest, line = depth, tok.start[0]
            elif tok.type == tokenize.OP and tok.string in ")]}":
                depth -= 1
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return deepest, line


def _parse(text: str) -> ast.Module:
    """Parse with CPython's own parser: its positions and messages are the ones users' editors show, and it is
    about ten times faster than a concrete-syntax parse (see docs/analysis.md, "Why ast")."""
    if "\x00" in text:
        raise _ParseFailure("source contains a null byte")
    depth, line = nesting_depth(text)
    if depth > MAX_NESTING:
        raise _ParseFailure(f"too many nested parentheses ({depth}; packlint parses at most {MAX_NESTING})",
                            line or 1, 1)
    try:
        return ast.parse(text)
    except SyntaxError as exc:
        raise _ParseFailure(exc.msg, exc.lineno or 1, exc.offset or 1) from None
    except (RecursionError, MemoryError):
        raise _ParseFailure("expression nested too deeply to parse") from None
    except Exception as exc:  # noqa: BLE001 - any other parser failure is a problem, not a crash
        raise _ParseFailure(f"cannot parse: {exc}") from None


def _display(path: Path) -> str:
    """A path as the user would write it: relative when under the current folder."""
    try:
        return os.fspath(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return os.fspath(path)


def load_files(paths: Iterable[Path], *, report: bool = True, max_bytes: int = 5 * 1024 * 1024
               ) -> tuple[list[SourceFile], list[FileProblem]]:
    """Read and decode files; problems for those that cannot be read."""
    from packlint.source import read_source

    files: list[SourceFile] = []
    problems: list[FileProblem] = []
    for p in paths:
        src = read_source(p, max_bytes=max_bytes)
        if isinstance(src, FileProblem):
            problems.append(src)
            continue
        name, is_pkg = module_name_for(Path(p))
        display = os.fspath(p) if report else _display(Path(p))
        files.append(SourceFile(path=display, text=src.text, module=name, is_package=is_pkg, report=report,
                                source=src))
    return files, problems


_IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+(?P<from>\.*[\w.]*)[ \t]+import[ \t]+(?P<names>[^#\n]+)"
                          r"|import[ \t]+(?P<mods>[^#\n]+))", re.MULTILINE)


def imported_modules(text: str, module: str, is_package: bool) -> set[str]:
    """Absolute module names a file may import, from a cheap scan of its import lines (no parse)."""
    from packlint.analysis.names import resolve_relative

    out: set[str] = set()
    for m in _IMPORT_LINE.finditer(text):
        if m.group("from") is not None:
            target = m.group("from")
            level = len(target) - len(target.lstrip("."))
            base = resolve_relative(module, is_package, level, target.lstrip(".") or None) if level else target
            if base:
                out.add(base)
                for name in re.split(r"[,\s()]+", m.group("names")):
                    if name and name.isidentifier() and name != "as":
                        out.add(f"{base}.{name}")
        else:
            for part in m.group("mods").split(","):
                name = part.strip().split(" ")[0]
                if name:
                    out.add(name)
    return out


def import_roots(paths: Iterable[Path], extra: Iterable[Path] = ()) -> list[Path]:
    """Folders imports resolve against: each file's top-package parent (a script's own folder), then ``src``."""
    roots: list[Path] = []
    for p in paths:
        folder = Path(p).resolve().parent
        while (folder / "__init__.py").exists() and folder.parent != folder:
            folder = folder.parent
        if folder not in roots:
            roots.append(folder)
    for e in extra:
        e = Path(e).resolve()
        if e not in roots:
            roots.append(e)
    return roots


def _module_file(name: str, roots: list[Path]) -> Path | None:
    key = (name, tuple(roots))
    if key not in _MODULE_FILES:
        _MODULE_FILES[key] = _find_module_file(name, roots)
    return _MODULE_FILES[key]


_MODULE_FILES: dict[tuple, Path | None] = {}


def _find_module_file(name: str, roots: list[Path]) -> Path | None:
    rel = Path(*name.split("."))
    for root in roots:
        for cand in (root / rel.with_suffix(".py"), root / rel / "__init__.py"):
            if cand.is_file():
                return cand
    return None


def dependencies(files: list[SourceFile], roots: list[Path], max_bytes: int, limit: int = 2000,
                 given: dict[Path, SourceFile] | None = None) -> list[SourceFile]:
    """Modules of the tree that the given files import, transitively. Files in ``given`` (the linted set) keep
    being reported; others are read but not reported (pre-commit passes only changed files)."""
    seen = {Path(f.path).resolve() for f in files}
    queue = list(files)
    out: list[SourceFile] = []
    while queue and len(out) < limit:
        f = queue.pop()
        for name in sorted(imported_modules(f.text, f.module, f.is_package)):
            path = _module_file(name, roots)
            if path is None or path.resolve() in seen:
                continue
            seen.add(path.resolve())
            if given is not None and path.resolve() in given:
                loaded = [given[path.resolve()]]
            else:
                loaded, _ = load_files([path], report=False, max_bytes=max_bytes)
            out.extend(loaded)
            queue.extend(loaded)
    return out


def _prefilter(options: Options) -> re.Pattern:
    names = [q.rsplit(".", 1)[-1] for k, qs in options.user_api.items() if k == "sources" for q in qs]
    if not names:
        return _PREFILTER
    return re.compile(_PREFILTER.pattern + "|" + "|".join(re.escape(n) for n in names))


def select_needed(files: list[SourceFile], roots: list[Path], prefilter: re.Pattern, limit: int = 20000
                  ) -> tuple[list[SourceFile], int]:
    """The files that can matter, and how many were skipped without parsing.

    A file can only report a finding if padding can reach it: it names the packing API (cheap text scan), or it
    imports, directly or through any chain of modules of the tree (linted or not), a module that does. The import
    graph comes from a scan of import lines, never from parsing. Other files are counted as checked and never
    parsed; everything a needed file imports is read later by ``dependencies``."""
    texts: dict[str, str] = {}
    packages: dict[str, bool] = {}
    for f in files:
        texts.setdefault(f.module, f.text)
        packages.setdefault(f.module, f.is_package)
    edges: dict[str, set[str]] = {}  # module -> modules of the tree it imports
    queue = list(texts)
    while queue and len(texts) < limit:
        mod = queue.pop()
        if mod in edges:
            continue
        targets: set[str] = set()
        for name in imported_modules(texts[mod], mod, packages.get(mod, False)):
            parts = name.split(".")
            for cut in range(len(parts), 0, -1):
                target = ".".join(parts[:cut])
                if target in texts:
                    targets.add(target)
                    break
                path = _module_file(target, roots)
                if path is not None:
                    try:
                        texts[target] = path.read_text(encoding="utf-8", errors="replace")
                    except OSError:
                        break
                    packages[target] = path.name == "__init__.py"
                    targets.add(target)
                    queue.append(target)
                    break
        edges[mod] = targets - {mod}
    relevant = {m for m, text in texts.items() if prefilter.search(text)}
    importers: dict[str, set[str]] = {}
    for mod, targets in edges.items():
        for t in targets:
            importers.setdefault(t, set()).add(mod)
    reached = set(relevant)
    frontier = list(relevant)
    while frontier:
        mod = frontier.pop()
        for importer in importers.get(mod, ()):
            if importer not in reached:
                reached.add(importer)
                frontier.append(importer)
    needed = [f for f in files if f.module in reached]
    return needed, len(files) - len(needed)


def lint_paths(paths: list[Path], options: Options | None = None, problems: list[FileProblem] | None = None,
               src: Iterable[Path] = (), explicit: Iterable[Path] = ()) -> LintResult:
    """Read, decode and lint the given files (already discovered), reading the tree modules they import.

    Files named explicitly by the user are always parsed, so a syntax error in them is always reported; files
    found by walking folders are parsed only when padding can reach them."""
    options = options or Options()
    files, read_problems = load_files(paths, max_bytes=options.max_bytes)
    roots = import_roots(paths, src)
    needed, skipped = select_needed(files, roots, _prefilter(options))
    wanted = {Path(p).resolve() for p in explicit}
    if wanted:
        have = {id(f) for f in needed}
        extra = [f for f in files if id(f) not in have and Path(f.path).resolve() in wanted]
        needed.extend(extra)
        skipped -= len(extra)
    needed.extend(dependencies(needed, roots, options.max_bytes, given={Path(f.path).resolve(): f for f in files}))
    result = lint_sources(needed, options)
    result.files_checked += len(read_problems) + skipped
    result.problems.extend(read_problems)
    result.problems.extend(problems or [])
    result.problems.sort(key=lambda p: p.sort_key())
    return result


def _debug() -> bool:
    return bool(os.environ.get("PACKLINT_DEBUG")) and sys.stderr.isatty()
