"""Orchestration: the one place that composes the pipeline, top to bottom.

paths -> files (``files.discover``) -> decoded sources named by the module index (``loading``, ``resolver``) ->
the files that can matter and their import closures (``imports``) -> import-connected groups, each answered from
the cache (keys: ``cachekeys``, storage: ``cache``) or analysed as one project, possibly in processes
(``parallel``) -> rule findings, with suppressions applied.
The command line talks to this module and to the reporters only.

The engine owns the per-file failure boundary: a file that cannot be read, decoded or parsed becomes a
``FileProblem`` and every other file is still linted; an exception inside the analysis becomes an
``internal-error`` problem naming the file and the stage, never a traceback.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Iterable

from packlint import files as discovery
from packlint import cache as cache_records
from packlint import cachekeys
from packlint.cache import ResultCache
from packlint.diagnostics import FileProblem, Finding, LintResult
from packlint.imports import ImportGraph, dependencies, prefilter_for, select_needed
from packlint.loading import SourceFile, load_files, too_large
from packlint.parallel import run_groups
from packlint.parsing import parse
from packlint.resolver import ModuleIndex
from packlint.rules import registry
from packlint.source import SCAN_FACTOR, decode_with_encoding, notebook_schema_problem, read_source
from packlint.suppressions import comments, file_noqa, noqa_warnings, suppressed

__all__ = ["Options", "SourceFile", "add_noqa", "discover", "fix_findings", "is_excluded", "lint_paths",
           "lint_sources", "lint_stdin", "load_files"]


@dataclass
class Options:
    """What a run needs beyond the files: rule selection, the user's API tables, limits, cache and processes."""

    select: set[str] | None = None
    ignore: set[str] = field(default_factory=set)
    user_api: dict[str, list[str]] = field(default_factory=dict)
    max_bytes: int = 5 * 1024 * 1024
    enabled: object = None  # callable (code, path) -> bool from config; overrides select/ignore when given
    cache_root: Path | None = None  # where .packlint_cache/ lives; None: no cache
    fingerprint: str = ""  # the configuration, as it affects results (part of every cache key)
    jobs: int | None = None  # processes; None: default_jobs()
    time_budget: float = 60.0  # seconds of analysis per function or module body before it is given up
    debug: bool = False  # print the traceback of internal errors to stderr
    select_all: bool = False  # debug: parse every file and analyse every function as a root (no selection)


def lint_sources(files: list[SourceFile], options: Options | None = None, index: ModuleIndex | None = None,
                 parse_first: Iterable[str] | None = None, imports: dict[str, set[str]] | None = None
                 ) -> LintResult:
    """Analyse already-decoded files as one project and return findings and problems.

    ``index`` (the run's module index) finds the file behind each import; without it, modules are found by name.
    Files are parsed when the analysis first needs them (the name selection, an import it resolves): on real
    trees most are never needed. ``parse_first`` names the files (by ``SourceFile.key``) parsed whatever happens,
    so their syntax errors are always reported (the files the user named); None parses every reported file.
    ``imports`` (file -> the files it imports, the run's import graph) spares reading import statements again.
    A file with a file-level ``# packlint: noqa`` stays in the analysis like any module it could import; only the
    findings reported in it are dropped, so linting a folder and linting one importer alone agree."""
    # imported here: the analysis is most of packlint's start-up, and an empty tree or a warm cache never needs it
    from packlint.analysis.api import build_tables
    from packlint.analysis.project import Project
    from packlint.demand import Demand

    options = options or Options()
    result = LintResult()
    project = Project(build_tables(options.user_api))
    project.index = index
    program = project.program
    program.import_edges = imports
    program.parser = parse  # its ParseFailure carries the message and position the problem reports
    source_of: dict[str, SourceFile] = {}  # module key -> the file handed in
    program.check = lambda key: _notebook_schema(source_of[key])
    silenced: set[str] = set()  # display paths of files under a file-level noqa
    for f in files:
        result.files_checked += 1 if f.report else 0
        quiet = f.report and file_noqa(f.text)
        key = program.add_source(f.module, f.path, f.text, is_package=f.is_package, report=f.report and not quiet,
                                 root=f.root, file=f.file)
        source_of[key] = f
        if quiet:
            silenced.add(f.path)
    first = None if parse_first is None else set(parse_first)
    for key, f in source_of.items():
        if options.select_all or (f.report and (first is None or f.key in first)):
            program.load(key)

    # The whole analysis runs in rounds until one of them read only final class attributes (Project.rounds);
    # only the last round's events and problems stand.
    problems_before = list(result.problems)
    # one per project, kept across rounds (what it learns of the code holds); held here, never by the project,
    # so the project is freed by reference counting when the run ends, with the collector off
    demand = Demand(project, prefilter_for(options.user_api))
    for _ in project.rounds():
        result.problems = list(problems_before)
        events, failed = _analyse(project, demand, options, result)
    for key, why in program.failed.items():
        f = source_of[key]
        if f.report:
            kind = why.kind
            if kind != "syntax-error" or why.message == "expression nested too deeply to analyse":
                result.problems.append(FileProblem(f.path, kind, why.message, why.line, why.col))
            else:  # in a notebook, at its cell and line there (`cell 3:2:7`)
                result.problems.append(_relocate(f, FileProblem(f.path, kind, why.message, why.line, why.col)))
    result.files_parsed = len(program.modules)
    by_path: dict[str, SourceFile] = {}  # the files parsed, in the order handed in
    for key, f in source_of.items():
        if key in program.modules:
            by_path[f.path] = f

    result.unresolved_by_path = {path: n for path, n in project.unresolved_by_path.items()
                                 if path in by_path and by_path[path].report and path not in silenced}
    result.unresolved_calls = sum(result.unresolved_by_path.values())
    result.unresolved_sites = [s for s in project.unresolved_sites
                               if s[0] in by_path and by_path[s[0]].report and s[0] not in silenced]
    result.bounds_by_path = {path: n for path, n in project.loop_bounds_by_path.items()
                             if path in by_path and by_path[path].report and path not in silenced}
    result.bounds_hit = sum(result.bounds_by_path.values())
    if project.rounds_bound_hit:
        result.warnings.append("packlint: class attributes had not settled after the last analysis round; "
                               "findings may be incomplete (please report this tree)")

    rules = registry()
    known = {r.code for r in rules} | {"PKL900"}
    for f in by_path.values():
        if f.report and f.path not in silenced:
            result.warnings.extend(noqa_warnings(f.path, f.text, known))
    seen: set[tuple] = set()
    broken: set[tuple[str, str]] = set()  # (path, rule code) pairs whose check raised
    comment_maps: dict[str, object] = {}
    kept: dict[tuple, int] = {}  # finding key -> its index in result.findings
    conflicting: set[tuple] = set()  # keys whose analyses offered different fixes: none is offered
    for ev in events:
        src = by_path.get(ev.path)
        if src is None or not src.report or ev.path in failed or ev.path in silenced:
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
                at = kept.get(key)
                if at is not None:
                    # the same bug reached on several paths: the most direct account is told, whichever analysis
                    # came first (the roots that run differ with --select-all-files, their order with the waves)
                    told = _relocate_finding(src, rule, ev, finding)
                    if _account(told) < _account(result.findings[at]):
                        result.findings[at] = replace(told, fix=result.findings[at].fix)
                _merge_fix(result.findings, kept, conflicting, key, finding.fix)
                continue
            seen.add(key)
            if not _enabled(options, finding):
                continue
            if src.path not in comment_maps:
                comment_maps[src.path] = comments(src.text)
            if suppressed(comment_maps[src.path], finding):
                continue
            kept[key] = len(result.findings)
            result.findings.append(_relocate_finding(src, rule, ev, finding))
    result.findings.sort(key=lambda f: f.sort_key())
    result.problems.sort(key=lambda p: p.sort_key())
    return result


def _account(finding: Finding) -> tuple:
    """How a finding tells its bug, as an order: the shortest trail from the padding to the sink first (the last
    padding source before it), then the message and the steps, so that the choice never depends on which path the
    analysis walked first."""
    return (len(finding.trail), finding.message,
            tuple((step.path, step.line or 0, step.col or 0, step.what) for step in finding.trail))


def _merge_fix(findings: list[Finding], kept: dict[tuple, int], conflicting: set[tuple], key: tuple,
               fix) -> None:
    """One finding seen from several analyses of its function (as a root, and from each caller): the fix that
    knows the most facts stands (a fact a fix needs, like a name bound to the lengths, may be visible in one
    context only); fixes whose known facts disagree cancel, so the result never depends on which analysis came
    first."""
    at = kept.get(key)
    if fix is None or at is None or key in conflicting:
        return
    current = findings[at].fix
    if current is None or (_extends(fix, current) and not _extends(current, fix)):
        findings[at] = replace(findings[at], fix=fix)
    elif not _extends(current, fix):
        conflicting.add(key)
        findings[at] = replace(findings[at], fix=None)


def _extends(a, b) -> bool:
    """Whether fix ``a`` knows every fact ``b`` knows, with the same values (a fact of None is unknown)."""
    return a.safe == b.safe and all(v is None or a.fact(k) == v for k, v in b.facts)


@contextmanager
def _no_cycle_collection():
    """Parsing and the analysis allocate millions of small objects and almost no reference cycles, while the
    collector would rescan every live syntax tree each time: with it paused for the run, stanza takes about 0.6 of
    the time (6.8 s against 8.8-12 s, measured on one 2-core machine). Cycles made meanwhile are collected after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        elif _ONE_SHOT:
            # a command that exits after the report: every object of the run moves to the generation the
            # collector never scans, so neither a late collection nor the one at exit walks millions of them
            # (0.5 s on stanza)
            gc.freeze()


_ONE_SHOT = False  # set by ``one_shot()``: the process ends after this run


def _notebook_schema(f: SourceFile) -> FileProblem | None:
    """Why a notebook read without its schema checked cannot be parsed (nbformat's schema, checked now that its
    code is needed), or None: the check of ``Program.check``."""
    if not getattr(f.source, "schema_unchecked", False) or not f.file:
        return None
    return notebook_schema_problem(f.file)


def one_shot() -> None:
    """Declare the process a one-shot command (the ``packlint`` CLI): cycle collection stays off from here on
    and what a run leaves is never scanned, as it is all freed at exit. A long-lived caller (the language server)
    never calls this."""
    global _ONE_SHOT
    _ONE_SHOT = True
    gc.disable()


def _analyse(project, demand, options: Options, result: LintResult) -> tuple[list, set[str]]:
    """One round: modules parsed, bodies run and functions analysed as roots as padding reaches them
    (``demand.py``); every body and every function of a reported file with ``--select-all-files``. Then the roots
    computed on the way. Other bodies run when the analysis reads them (``Project.module_global``); the events of
    every body that ran are reported. Modules and functions are visited in the order the files were handed in,
    never in the order they happened to be parsed."""
    events = []
    failed: set[str] = set()
    program = project.program

    def run_body(key: str) -> None:
        module = program.modules[key]
        _guard(result, failed, module.path, "module body", lambda: project.ensure_globals(module),
               options=options, project=project)

    analysed: set[str] = set()

    def analyse_root(fid: str) -> None:
        analysed.add(fid)
        info = project.functions[fid]
        events.extend(_guard(result, failed, info.module.path, info.qualname,
                             lambda: project.root_analysis(fid)[1], line=info.node.lineno,
                             options=options, project=project) or [])

    with _deep_recursion():
        if options.select_all:
            for key in list(program.sources):
                if key in program.modules:
                    run_body(key)
            for key in list(program.sources):
                module = program.modules.get(key)
                if module is not None and module.report:
                    for fid in list(module.function_ids):
                        analyse_root(fid)
        else:
            demand.run(analyse_root, run_body, rerun=project.bodies_to_rerun)
        body_events = []
        for key in list(program.sources):
            module = program.modules.get(key)
            if module is not None and module.globals_state != "new":
                body_events.extend(module.events)
        events = project.own_events(body_events + events)
        # Roots computed on the way (a callee that reports its own events) are reported too, or an unselected
        # callee's finding would be lost; telling their own events apart may compute more of them.
        done = set(analysed)
        while True:
            fresh = [(fid, evs) for fid, (_, evs) in project.computed_roots() if fid not in done]
            if not fresh:
                break
            for fid, root_events in fresh:
                done.add(fid)
                if project.functions[fid].module.report:
                    events.extend(project.own_events(root_events))
    return events, failed


@contextmanager
def _deep_recursion(limit: int = 20_000):
    """The analysis recurses once per nesting level of an expression; CPython compiles code nested ~3,000 deep,
    so the default limit of 1,000 frames would turn valid code into internal errors. Pure-Python frames do not
    consume the C stack on 3.11+, so a higher limit is safe here; it is restored afterwards."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _guard(result: LintResult, failed: set[str], path: str, where: str, fn, line: int = 1,
           options: Options | None = None, project=None):
    from packlint.analysis.support import TimeBudgetExceeded

    if project is not None and options is not None:
        project.deadline = time.monotonic() + options.time_budget
    try:
        return fn()
    except TimeBudgetExceeded:
        failed.add(path)
        result.problems.append(FileProblem(
            path, "timeout", f"analysis of {where} took longer than {options.time_budget:g} s and was stopped "
            f"(raise it with --file-timeout)", line=line))
    except RecursionError:
        failed.add(path)
        result.problems.append(FileProblem(path, "internal-error", f"analysis of {where} nested too deeply",
                                           line=line))
    except Exception as exc:  # noqa: BLE001 - the engine's failure boundary: report, never crash
        if options is not None and options.debug:
            traceback.print_exc()
        failed.add(path)
        result.problems.append(FileProblem(path, "internal-error",
                                           f"packlint failed while analysing {where}: {type(exc).__name__}: {exc}",
                                           line=line))
    return None


def _relocate_finding(src: SourceFile, rule, ev, finding: Finding) -> Finding:
    """Notebook positions: the finding and its trail in (cell, line), and the message's origin too."""
    if not getattr(src.source, "is_notebook", False):
        return finding
    moved = _relocate(src, finding)
    worded = rule.finding(replace(ev, trail=moved.trail))
    return replace(moved, message=worded.message) if worded is not None else moved


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


def discover(paths: Iterable[Path], **settings) -> tuple[list[Path], list[FileProblem]]:
    """The files to lint under ``paths``, sorted, and a problem for each path that cannot be walked (see
    ``packlint.files`` for excludes, ``.gitignore`` and links; ``settings`` are its keyword arguments)."""
    return discovery.discover(paths, **settings)


def is_excluded(path: str | Path, **settings) -> bool:
    """Whether ``--force-exclude`` drops ``path`` (``packlint.files.is_excluded``; the path need not exist)."""
    return discovery.is_excluded(path, **settings)


def lint_paths(paths: list[Path], options: Options | None = None, problems: list[FileProblem] | None = None,
               src: Iterable[Path] = (), explicit: Iterable[Path] = ()) -> LintResult:
    """Read, decode and lint the given files (already discovered), reading the tree modules they import.

    ``src`` are the import roots beyond each file's own (the configured ``src`` folders, then the project root).
    Files named explicitly by the user are always parsed, so a syntax error in them is always reported; files
    found by walking folders are parsed only when padding can reach them. With ``options.cache_root`` set, files
    whose key (content, version, configuration, import closure) is unchanged are answered from the cache; with
    ``options.jobs`` > 1, independent groups of files are analysed in parallel processes."""
    with _no_cycle_collection():
        return _lint_paths_now(paths, options or Options(), problems, src, explicit)


def _lint_paths_now(paths: list[Path], options: Options, problems: list[FileProblem] | None, src: Iterable[Path],
                    explicit: Iterable[Path]) -> LintResult:
    src = [Path(s) for s in src]
    run_key = None
    cache = ResultCache(options.cache_root) if options.cache_root is not None else None
    started = None
    if cache is not None:
        cache.prepare()
        started = cache.clock()
    if cache is not None and not problems:
        notebooks = any(Path(p).suffix == ".ipynb" for p in paths)
        # the paths as given and the current folder too: every path the report prints is relative to them
        run_key = cachekeys.digest("run", *cachekeys.environment(options.fingerprint, notebooks), os.getcwd(),
                                   *sorted(f"{os.fspath(p)}\0{os.path.abspath(p)}" for p in paths), "\0explicit",
                                   *sorted(str(e) for e in explicit), "\0src", *sorted(str(s) for s in src))
        run = cache.get(run_key)
        if run is not None and cachekeys.unchanged(run.get("stamps")):
            cached = cache_records.decode(run.get("result", {}))
            if cached is not None:
                return cached
    index = ModuleIndex(src)
    configs = cachekeys.ConfigChains()
    result, graph, inputs = _lint_paths(paths, options, problems, index, explicit, cache, configs)
    if run_key is not None and not result.problems:
        # stamped by content: every file read, every folder as the module index listed it (a new module there
        # changes what an import finds) and every configuration that could apply, as it was read
        configs.for_files(os.path.abspath(p) for p in paths)
        read = {os.path.abspath(p) for p in paths} | set(graph.read) | inputs
        if cachekeys.settled(read, started):
            stamps = {p: cachekeys.stamp(p) for p in read}
            stamps.update((d, cachekeys.folder_stamp(d, *index.tree.listing(d))) for d in index.tree.folders)
            stamps.update(configs.seen)
            cache.put(run_key, {"stamps": dict(sorted(stamps.items())), "result": cache_records.encode(result)})
    return result


def _lint_paths(paths, options: Options, problems, index: ModuleIndex, explicit, cache: ResultCache | None = None,
                configs: cachekeys.ConfigChains | None = None) -> tuple[LintResult, ImportGraph, set[str]]:
    """Lint the files: load, select, group, answer each group from the cache or analyse it. Also returns the import
    graph and the absolute paths of every file analysed (the run manifest stamps them)."""
    files, read_problems = load_files(paths, max_bytes=options.max_bytes, index=index, debug=options.debug,
                                      scan_bytes=options.max_bytes * SCAN_FACTOR)
    graph = ImportGraph(index)
    if options.select_all:
        needed, skipped = list(files), 0
    else:
        needed, skipped = select_needed(files, graph, prefilter_for(options.user_api))
    if not options.select_all:
        needed, skipped = _with_linted_dependencies(files, needed, skipped, graph)
    wanted = {os.path.abspath(p) for p in explicit}
    if wanted:
        have = {id(f) for f in needed}
        extra = [f for f in files if id(f) not in have and f.file in wanted]
        needed.extend(extra)
        skipped -= len(extra)
    # Only a file that must be parsed can be too large; one that is only read beside another is not read at all.
    read_problems.extend(too_large(f.path, f.oversize, options.max_bytes) for f in needed if f.oversize)
    needed = [f for f in needed if not f.oversize]
    for f in files:
        if f.oversize:
            graph.handed.pop(f.file, None)

    result = LintResult()
    units = _units(needed, graph, options)
    missed = list(range(len(units)))
    keys: list[str] = []
    if cache is not None:
        configs = configs or cachekeys.ConfigChains()
        missed = []
        env: dict[bool, tuple[str, ...]] = {}  # with and without the readers' part, each computed once
        for i, (_, inputs) in enumerate(units):
            notebooks = any(f.file.endswith(".ipynb") for f in inputs)
            if notebooks not in env:
                env[notebooks] = cachekeys.environment(options.fingerprint, notebooks)
            keys.append(cachekeys.group_key(env[notebooks], inputs, configs))
            stored = cache.get(keys[i])
            hit = cache_records.decode(stored) if stored is not None else None
            if hit is None:
                missed.append(i)
            else:
                result.absorb(hit)
    if missed:
        first = frozenset(f.key for f in files if f.file in wanted)
        fresh = _analyse_units([units[i] for i in missed], graph.index, options, first, graph.edges)
        result.absorb(fresh)
        if cache is not None:
            _store(cache, fresh, [(keys[i], units[i]) for i in missed])
    result.files_checked += len(read_problems) + skipped
    result.problems.extend(read_problems)
    result.problems.extend(problems or [])
    result.findings.sort(key=lambda f: f.sort_key())
    result.problems.sort(key=lambda p: p.sort_key())
    return result, graph, {f.file for _, inputs in units for f in inputs if f.file}


def _with_linted_dependencies(files: list[SourceFile], needed: list[SourceFile], skipped: int,
                              graph: ImportGraph) -> tuple[list[SourceFile], int]:
    """Files of the run that a selected file imports are analysed and reported as selected files: a padded batch
    handed to a model in another file of the run is a finding in that file, whether the folder or every file was
    named. (Read only as a dependency, its findings would be dropped.)"""
    if not needed:
        return needed, skipped
    by_key = {f.key: f for f in files}
    have = {f.key for f in needed}
    extra: dict[str, SourceFile] = {}
    for key in sorted(graph.closure(*(f.key for f in needed))):
        if key in by_key and key not in have:
            extra[key] = by_key[key]
    ordered = [f for f in files if f.key in extra]  # discovery order, as selection keeps it
    return needed + ordered, skipped - len(ordered)


def _units(needed: list[SourceFile], graph: ImportGraph, options: Options
           ) -> list[tuple[list[SourceFile], list[SourceFile]]]:
    """The files to analyse, as (reported files, every file of their analysis) per import-connected group: the
    unit that is analysed on its own, in parallel or not, and cached under one key. Dependencies are loaded once
    here, so a group's key covers exactly the texts its analysis reads."""
    if options.select_all:  # the debug switch reads the import graph of nothing: every file is one project
        return [(needed, needed + dependencies(needed, graph, options.max_bytes))] if needed else []
    by_key = {f.key: f for f in needed}
    groups = [[by_key[k] for k in g] for g in graph.components([f.key for f in needed])]
    return [(g, g + dependencies(g, graph, options.max_bytes)) for g in groups]


def _analyse_units(units, index: ModuleIndex, options: Options, first: frozenset[str] = frozenset(),
                   imports: dict[str, set[str]] | None = None) -> LintResult:
    """Analyse groups the cache could not answer, each as a project of its own: in processes when there are
    several and enough to parse, else one after the other (the same findings either way). ``first``:
    the keys of the files parsed whatever the selection says (the files the user named)."""
    if options.jobs is not None:
        jobs = options.jobs
    else:  # the work is the files that name a source: everything else is parsed only if they reach it
        prefilter = prefilter_for(options.user_api)
        jobs = default_jobs(sum(1 for g, _ in units for f in g if prefilter.search_file(f.text)))
    work = partial(_lint_inputs, options=options, index=index, first=first, imports=imports)
    if jobs > 1 and len(units) > 1:
        return run_groups([inputs for _, inputs in units], work, jobs)
    # One project per group here too: which functions run as roots depends on what their own group lets escape
    # (``demand.py``), so a group must never see another's analyses, in one process or several.
    result = LintResult()
    for _, inputs in units:
        result.absorb(work(inputs))
    return result


def _lint_inputs(inputs: list[SourceFile], options: Options, index: ModuleIndex, first: frozenset[str] = frozenset(),
                 imports: dict[str, set[str]] | None = None) -> LintResult:
    return lint_sources(inputs, options, index=index, parse_first=first, imports=imports)


def _store(cache: ResultCache, fresh: LintResult, keyed: list) -> None:
    """Cache each analysed group's share of ``fresh``, except a group with a timeout or an internal error (not a
    property of its content: tried again next run). A warning that names no file of any group (a run-wide one)
    leaves the whole batch uncached rather than lose it on the next run."""
    shares = []
    for key, (group, _) in keyed:
        paths = {f.path for f in group}
        part = LintResult(findings=[x for x in fresh.findings if x.path in paths],
                          unresolved_sites=[x for x in fresh.unresolved_sites if x[0] in paths],
                          problems=[x for x in fresh.problems if x.path in paths],
                          warnings=[w for w in fresh.warnings if any(w.startswith(f"{p}:") for p in paths)],
                          files_checked=len(group),
                          unresolved_by_path={p: n for p, n in fresh.unresolved_by_path.items() if p in paths},
                          bounds_by_path={p: n for p, n in fresh.bounds_by_path.items() if p in paths})
        shares.append((key, part))
    if sum(len(part.warnings) for _, part in shares) != len(fresh.warnings):
        return
    for key, part in shares:
        if any(p.kind in ("timeout", "internal-error") for p in part.problems):
            continue
        cache.put(key, cache_records.encode(part))


#: Where source piped in without ``--stdin-filename`` is taken to live: a module of the current folder, so that
#: ``cat train.py | packlint -`` resolves ``from model import Tagger`` as ``packlint train.py`` would.
STDIN_MODULE = "__stdin__.py"


def lint_stdin(data: bytes, filename: str | None, options: Options, src: Iterable[Path] = ()) -> LintResult:
    """Lint source piped on stdin, reported as ``filename`` (editors and pre-commit wrappers use this), or as
    ``-`` in the current folder; its imports resolve as the file's would on disk, against the same roots as
    ``lint_paths``. A ``filename`` ending in ``.ipynb`` is read as a notebook, positions in cells."""
    shown = filename or "-"
    where = filename or STDIN_MODULE
    notebook = None
    if where.endswith(".ipynb"):
        notebook = read_source(Path(where), max_bytes=options.max_bytes,
                               reader=lambda _path, _limit: data)
        if isinstance(notebook, FileProblem):
            return LintResult(problems=[replace(notebook, path=shown)], files_checked=1)
        notebook = replace(notebook, path=shown)
        decoded = (notebook.text, notebook.encoding)
    else:
        decoded = decode_with_encoding(data, shown)
    if isinstance(decoded, FileProblem):
        return LintResult(problems=[decoded], files_checked=1)
    index = ModuleIndex(src)
    root, name, is_pkg = index.module_of(where)
    file = os.path.abspath(where)
    f = SourceFile(path=shown, text=decoded[0], module=name, is_package=is_pkg, root=root, file=file,
                   source=notebook)
    return lint_sources([f, *dependencies([f], ImportGraph(index), options.max_bytes)], options, index=index)


def add_noqa(findings: list[Finding]) -> tuple[int, list[str]]:
    """Write a ``# noqa`` for every finding (``packlint.fixes.noqa``); returns the codes added and the files left
    alone, as ``path: not edited: reason`` lines."""
    from packlint.fixes.noqa import add_noqa as write_noqa  # edits only: a lint run never loads the editors

    return write_noqa(findings)


def fix_findings(findings: list[Finding], *, unsafe: bool, write: bool):
    """Apply the fixes the findings offer (``packlint.fixes.apply``); returns its ``FixOutcome``."""
    from packlint.fixes.apply import fix_findings as apply  # LibCST: imported only when something is edited

    return apply(findings, unsafe=unsafe, write=write)


def default_jobs(files_to_parse: int) -> int:
    """Processes pay off only when there is real work to share: the cores when more than a few dozen files must
    be parsed and analysed whatever happens (those that name a source), else one. Counting every file that might
    be needed split trees whose groups share hub modules into processes that each parsed them again (a tree of
    chains through re-exporting hubs: 1.5 s CPU in one process, 2.1 s in two)."""
    cores = os.cpu_count() or 1
    return cores if files_to_parse > 48 and cores > 1 else 1
