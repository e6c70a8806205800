"""Command line: ``packlint PATH...`` (check), ``packlint rules``, ``packlint explain CODE``, ``packlint selfcheck``.

This module only wires configuration -> engine -> reporter -> exit code; it reaches nothing behind the engine
(discovery, sources, imports and suppressions are the engine's). Exit codes: 0 clean,
1 findings, 2 usage error or any file that could not be checked (2 wins). No traceback reaches the user: any
unexpected exception is turned into one ``error:`` line and exit 2.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import sys
import traceback
from collections import Counter
from functools import lru_cache
from pathlib import Path

import click

from packlint import __version__
from packlint.config import ConfigError, find_config, load_config
from packlint.docs_pages import for_terminal, page_for
from packlint.engine import Options, add_noqa, discover, fix_findings, is_excluded, lint_paths, lint_stdin, one_shot
from packlint.report import display_path, get_reporter, summary_line, use_color
from packlint.rules import INTERNAL_ERROR, find_rule, known_rules, registry

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _DefaultToCheck(click.Group):
    """``packlint PATH...`` means ``packlint check PATH...``, like ruff before subcommands were required.

    A first word that looks like a command (``packlint rule PKL001``) and is no file or folder is a usage error
    naming the commands, not two paths to lint: linting them would print two ``io-error`` lines and hide the typo.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version", "-V")):
            if args and _COMMAND_LIKE.match(args[0]) and not os.path.lexists(args[0]):
                ctx.fail(_unknown_command(args[0], args[1:], sorted(self.commands)))
            args = ["check", *args]
        return super().parse_args(ctx, args)


_COMMAND_LIKE = re.compile(r"^[a-z][a-z-]*$")


def _unknown_command(word: str, rest: list[str], commands: list[str]) -> str:
    """The message for ``packlint WORD ...`` where WORD is neither a command nor a path."""
    named = next((r for r in rest if find_rule(r) is not None), None)
    close = difflib.get_close_matches(word, commands, n=2, cutoff=0.6)
    hints = [f"`packlint {c}`" for c in close if not (named and c == "explain")]
    if named is not None:
        hints.append(f"`packlint explain {named}`")
    if not hints:
        hints = ["`packlint rules`", "`packlint explain CODE`"]
    return (f"unknown command '{word}', and no file or folder of that name (did you mean {' or '.join(hints)}? "
            f"commands: {', '.join(commands)})")


@click.group(cls=_DefaultToCheck, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="packlint", message="%(prog)s %(version)s")
def main() -> None:
    """packlint: keep the padding of pad_packed_sequence out of your losses.

    \b
    packlint PATH...          lint files and folders (same as `packlint check PATH...`)
    packlint rules            the rule table
    packlint explain PKL001   a rule's page
    packlint selfcheck        prove each rule on real tensors (needs torch)
    packlint server           the language server, for editors (docs/editors.md)
    """


@main.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--select", multiple=True, help="Rule codes, prefixes or names to enable (replaces the config's).")
@click.option("--extend-select", multiple=True, help="Rules to enable on top of the selection.")
@click.option("--ignore", multiple=True, help="Rule codes, prefixes or names to disable.")
@click.option("--exclude", multiple=True, help="Glob patterns to exclude (replaces the defaults).")
@click.option("--extend-exclude", multiple=True, help="Glob patterns to exclude on top of the defaults.")
@click.option("--force-exclude", is_flag=True, default=None, help="Apply excludes to files named explicitly too.")
@click.option("--output-format", type=click.Choice(["text", "concise", "full", "json", "sarif", "github"]),
              default=None, help="How findings are printed.")
@click.option("--output-file", "-o", type=click.Path(path_type=Path), default=None, help="Write the report here.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="A pyproject.toml or packlint.toml to use instead of the closest pyproject.toml.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Colour the text output.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--quiet", "-q", is_flag=True, help="Print findings only, no summary.")
@click.option("--statistics", is_flag=True, help="Print counts per rule code instead of findings.")
@click.option("--list-unresolved", is_flag=True,
              help="With --statistics: also list each call packlint could not resolve (reads no cache).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write .packlint_cache/.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Processes to use (default: the cores when more than a few dozen files must be parsed).")
@click.option("--file-timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds of analysis per function or module before it is reported as a timeout.")
@click.option("--debug", is_flag=True, help="Print the traceback of internal errors to stderr.")
@click.option("--select-all-files", is_flag=True,
              help="Debug: parse every file and analyse every function (no selection); findings must not change.")
@click.option("--add-noqa", is_flag=True, help="Add `# noqa: CODE` to every statement with a finding.")
@click.option("--fix", is_flag=True, help="Apply the safe fixes, then report what is left.")
@click.option("--unsafe-fixes", is_flag=True, help="With --fix or --diff, apply the unsafe fixes too.")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff and write nothing (exit 1 if any).")
@click.option("--stdin-filename", default=None, help="The path to report for source read from stdin (PATH `-`).")
@click.option("--show-files", is_flag=True, help="List the files that would be linted and exit.")
@click.option("--show-settings", is_flag=True, help="Print the effective settings and exit.")
def check(paths: tuple[Path, ...], select, extend_select, ignore, exclude, extend_exclude, force_exclude,
          output_format, output_file, config_file, color, exit_zero, quiet, statistics, no_cache, jobs,
          file_timeout, debug, select_all_files, add_noqa, stdin_filename, show_files, show_settings,
          list_unresolved, **edits) -> None:
    """Lint PATHS (files or folders; default: the current folder; `-`: stdin)."""
    if not paths and stdin_filename is not None:
        paths = (Path("-"),)  # as ruff: a name for stdin and no path means read stdin
    try:
        opts = dict(select=select, extend_select=extend_select, ignore=ignore, exclude=exclude,
                    extend_exclude=extend_exclude, force_exclude=force_exclude, output_format=output_format,
                    output_file=output_file, config_file=config_file, color=color, exit_zero=exit_zero, quiet=quiet,
                    statistics=statistics, no_cache=no_cache, jobs=jobs, file_timeout=file_timeout, debug=debug,
                    select_all_files=select_all_files, add_noqa=add_noqa, stdin_filename=stdin_filename, show_files=show_files,
                    show_settings=show_settings, list_unresolved=list_unresolved, **edits)
        code = _check(paths or (Path("."),), opts)
    except click.exceptions.Exit:
        raise
    except click.UsageError:
        raise
    except BrokenPipeError:  # `packlint . | head`: the reader left; stop quietly, as other CLI tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the CLI's last boundary: one line, exit 2, never a traceback
        if debug:  # asked for: the traceback to put in a bug report
            traceback.print_exc()
        click.echo(f"error: internal-error: {type(exc).__name__}: {exc}", err=True)
        code = EXIT_ERROR
    sys.exit(code)


def _check(paths: tuple[Path, ...], opts: dict) -> int:
    overrides = {
        "select": list(opts["select"]) or None, "extend-select": list(opts["extend_select"]),
        "ignore": list(opts["ignore"]), "exclude": list(opts["exclude"]) or None,
        "extend-exclude": list(opts["extend_exclude"]), "output-format": opts["output_format"],
        "force-exclude": opts["force_exclude"],
    }
    start = paths[0] if paths[0] != Path("-") else Path(opts["stdin_filename"] or ".")
    try:
        config = load_config(start, config_file=opts["config_file"], known_rules=known_rules)
        config = config.merge(overrides, known_rules=known_rules)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR

    stdin = paths == (Path("-"),)
    files, problems = [], []
    if not stdin:
        files, problems = discover(paths, exclude=config.exclude, extend_exclude=config.extend_exclude,
                                   force_exclude=config.force_exclude, root=config.root)
    elif opts["stdin_filename"] and config.force_exclude and is_excluded(
            opts["stdin_filename"], exclude=config.exclude, extend_exclude=config.extend_exclude, root=config.root):
        return EXIT_CLEAN  # as ruff: an excluded name on stdin is not linted (pre-commit wrappers rely on it)
    if opts["show_settings"]:
        click.echo(json.dumps(config.describe(), indent=2, default=str))
        return EXIT_CLEAN
    if opts["show_files"]:
        for f in files:
            click.echo(str(f))
        return EXIT_ERROR if problems else EXIT_CLEAN
    if not stdin and not files and not problems:
        click.echo("warning: No Python files found under the given paths", err=True)

    settings = json.dumps(config.describe(), sort_keys=True, default=str)
    enabled = config.is_enabled
    if opts["config_file"] is None:
        try:
            enabled = _per_file_rules(config, overrides)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            return EXIT_ERROR
    if opts.get("select_all_files"):
        settings += "\0select-all-files"
    listing = bool(opts.get("list_unresolved"))
    options = Options(enabled=enabled, user_api=_api_dict(config), fingerprint=settings,
                      cache_root=None if opts["no_cache"] or stdin or listing else config.root,
                      jobs=opts["jobs"], time_budget=opts["file_timeout"], debug=opts["debug"],
                      select_all=bool(opts.get("select_all_files")))
    if config.max_file_size:
        options.max_bytes = config.max_file_size
    # import roots: each file's own top-package parent first, then the configured `src` folders (relative to the
    # configuration's folder), then the project root (linting a sub-folder still resolves `from models.net import
    # Net` against the root), then the file's own folder
    roots = [config.root / s for s in config.src] + [Path(config.root)]
    editing = [flag for flag in ("add_noqa", "fix", "diff") if opts.get(flag)]
    if opts.get("unsafe_fixes") and not (opts.get("fix") or opts.get("diff")):
        click.echo("warning: --unsafe-fixes does nothing without --fix or --diff", err=True)
    if len(editing) > 1 or (editing and stdin):
        names = " and ".join(f"--{flag.replace('_', '-')}" for flag in editing)
        click.echo(f"error: {names} {'cannot be combined' if len(editing) > 1 else 'needs files, not stdin'}",
                   err=True)
        return EXIT_ERROR
    if stdin:
        result = lint_stdin(sys.stdin.buffer.read(), opts["stdin_filename"], options, src=roots)
    else:
        result = lint_paths(files, options, problems, src=roots, explicit=[p for p in paths if p.is_file()])
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if opts["add_noqa"]:
        added, left_alone = add_noqa(result.findings)
        for line in left_alone:
            click.echo(f"error: {line}", err=True)
        click.echo(f"Added {added} noqa directive{'s' if added != 1 else ''}.", err=True)
        return EXIT_ERROR if result.problems or left_alone else EXIT_CLEAN
    if opts.get("fix") or opts.get("diff"):
        outcome = fix_findings(result.findings, unsafe=bool(opts.get("unsafe_fixes")), write=bool(opts.get("fix")))
        for line in outcome.problems:
            click.echo(f"error: {line}", err=True)
        if opts.get("diff"):
            return _report_diff(outcome, result)
        if outcome.changed:  # report what is left: lint the edited files again
            result = lint_paths(files, options, problems, src=roots, explicit=[p for p in paths if p.is_file()])
        click.echo(_fix_summary(outcome, "Fixed"), err=True)
        edit_failed = bool(outcome.problems)
    else:
        edit_failed = False

    fmt = config.output_format or "text"
    colored = False
    if opts["statistics"] or listing:
        text = _statistics(result, as_json=fmt == "json", listing=listing)
    else:
        colored = opts["output_file"] is None and use_color(opts["color"], sys.stdout)
        text = get_reporter(fmt)(result, color=colored)
    if opts["output_file"] is not None:
        try:
            opts["output_file"].write_text(text + ("\n" if text and not text.endswith("\n") else ""),
                                           encoding="utf-8")
        except OSError as exc:
            click.echo(f"error: cannot write {opts['output_file']}: {exc.strerror}", err=True)
            return EXIT_ERROR
    elif text:
        click.echo(text.rstrip("\n"), color=colored if not opts["statistics"] else None)
    if not opts["quiet"] and fmt in ("text", "concise", "full"):
        click.echo(summary_line(result), err=True)
    code = EXIT_ERROR if edit_failed else result.exit_code
    if opts["exit_zero"] and code == EXIT_FINDINGS:
        return EXIT_CLEAN
    return code


def _report_diff(outcome, result) -> int:
    """``--diff``: the diff on stdout, a count on stderr; exit 1 when there is something to fix."""
    if outcome.diff:
        click.echo(outcome.diff, nl=False)
    click.echo(_fix_summary(outcome, "Would fix"), err=True)
    if result.problems or outcome.problems:
        return EXIT_ERROR
    return EXIT_FINDINGS if outcome.fixed else EXIT_CLEAN


def _fix_summary(outcome, verb: str) -> str:
    n = len(outcome.fixed)
    line = f"{verb} {n} finding{'s' if n != 1 else ''}."
    if outcome.unsafe_left:
        line += (f" {outcome.unsafe_left} more fix{'es' if outcome.unsafe_left != 1 else ''} available with "
                 f"--unsafe-fixes.")
    return line


def _per_file_rules(base, overrides):
    """Rule selection from the closest ``pyproject.toml`` above each file (like ruff), with the command line's
    flags on top; a file under no configuration of its own uses the run's."""

    @lru_cache(maxsize=None)
    def config_in(folder: str):
        found = find_config(folder)
        if found is None or (base.path is not None and found.resolve() == Path(base.path).resolve()):
            return base
        return load_config(folder, known_rules=known_rules).merge(overrides, known_rules=known_rules)

    def enabled(code: str, path: str) -> bool:
        return config_in(str(Path(path).resolve().parent)).is_enabled(code, path)

    return enabled


def _api_dict(config) -> dict[str, list[str]]:
    api = config.api
    return {
        "mask-builders": list(api.mask_builders), "masked-losses": list(api.masked_losses),
        "losses": list(api.losses), "sources": list(api.sources), "propagators": list(api.propagators),
    }


def _statistics(result, as_json: bool = False, listing: bool = False) -> str:
    """Counts per rule, files that could not be checked, unresolved calls and loops at their bound; with
    ``listing``, each unresolved call too. As text (columns) or as one JSON object (``--output-format json``)."""
    counts = Counter((f.code, f.name) for f in result.findings)
    sites = [(display_path(path), line, col, callee) for path, line, col, callee in result.unresolved_sites]
    if as_json:
        doc = {"version": 1, "packlint_version": __version__,
               "rules": [{"code": code, "name": name, "count": n} for (code, name), n in sorted(counts.items())],
               "errors": len(result.problems), "unresolved_calls": result.unresolved_calls,
               "loops_at_bound": result.bounds_hit}
        if listing:
            doc["unresolved"] = [{"path": p, "line": ln, "col": c, "call": callee} for p, ln, c, callee in sites]
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    lines = [f"{n:>5}  {code}  {name}" for (code, name), n in sorted(counts.items())]
    if result.problems:
        lines.append(f"{len(result.problems):>5}  error  files that could not be checked")
    lines.append(f"{result.unresolved_calls:>5}  info   calls packlint could not resolve")
    if listing:
        lines.extend(f"       {p}:{ln}:{c}: `{callee}`" for p, ln, c, callee in sites)
    if result.bounds_hit:
        lines.append(f"{result.bounds_hit:>5}  info   loops analysed up to their bound, not to a fixpoint")
    return "\n".join(lines)


@main.command("rules")
def rules_cmd() -> None:
    """List every rule: code, name, one line."""
    rows = [(r.code, r.name, r.summary) for r in registry()] + [INTERNAL_ERROR]
    width = max(len(name) for _, name, _ in rows)
    for code, name, summary in rows:
        click.echo(f"{code}  {name:<{width}}  {summary}")


@main.command("explain")
@click.argument("rule")
def explain_cmd(rule: str) -> None:
    """Print the docs page of RULE (a code like PKL001 or a name like unmasked-loss)."""
    text = page_for(rule)
    if text is None:
        codes = ", ".join(r.code for r in registry())
        click.echo(f"error: unknown rule {rule!r} (known: {codes}; `packlint rules` lists them)", err=True)
        sys.exit(EXIT_ERROR)
    shown = for_terminal(text).rstrip("\n")
    if _paging(shown):
        click.echo_via_pager(shown + "\n")
    else:
        click.echo(shown)


def _paging(text: str) -> bool:
    """Page (``$PAGER``, else less) only for a person at a terminal, and only a page taller than the terminal."""
    try:
        at_terminal = sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
    height = shutil.get_terminal_size(fallback=(80, 24)).lines
    return at_terminal and text.count("\n") + 1 > height


@main.command("selfcheck")
@click.option("--rule", "rules", multiple=True, help="Only this rule (repeatable).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def selfcheck_cmd(rules: tuple[str, ...], device: str, output_format: str) -> None:
    """Prove every rule on real tensors (needs torch: pip install 'packlint[selfcheck]')."""
    from packlint.selfcheck import run_selfcheck  # lazy: the self-check is the only part that needs torch

    codes = []
    for r in rules:
        found = find_rule(r)
        if found is None:
            click.echo(f"error: unknown rule {r!r}", err=True)
            sys.exit(EXIT_ERROR)
        codes.append(found.code)
    sys.exit(run_selfcheck(codes or None, device=device, output_format=output_format))


@main.command("server")
def server_cmd() -> None:
    """Run the language server on stdin/stdout, for editors (needs pygls: pip install 'packlint[server]')."""
    from packlint.server import serve  # lazy: only the server needs pygls, and it checks for it first

    sys.exit(serve())


if __name__ == "__main__":  # pragma: no cover
    main()


def run() -> None:
    """The ``packlint`` command: ``main`` in a process that ends after it (``engine.one_shot``: what a run built is
    never scanned by the cycle collector, 0.5 s on a large tree). Tests and other callers use ``main``."""
    one_shot()
    main()
