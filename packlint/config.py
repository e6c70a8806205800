"""`[tool.packlint]` in pyproject.toml (or a `--config` file), validated, merged with CLI flags.

Why strict: a misspelt key (`selec = [...]`) or an unknown code that is silently ignored turns a
linter off without anyone noticing. Every unknown key, wrong type and unknown rule selector raises
`ConfigError` with one line naming the file and the dotted key; the CLI prints it and exits 2.

Which file: the closest `pyproject.toml` at or above the starting path that has a
`[tool.packlint]` table (like ruff, a pyproject.toml without the table is passed over), or the
file given with `--config`. A `--config` file named `pyproject.toml` is read at
`[tool.packlint]`; any other TOML file (`packlint.toml`) holds the keys at its top level.

Rule selection (`select`, `extend-select`, `ignore`, and `per-file-ignores`) accepts full codes
(`PKL001`), code prefixes (`PKL00`, `PKL`), `ALL`, and rule names (`unmasked-loss`). Within one
layer the most specific selector wins (`select = ["PKL001"]` with `ignore = ["PKL"]` keeps PKL001,
as in ruff); on a tie `ignore` wins. The CLI is a later layer: its `--ignore` beats the file's
`select`, its `--select` replaces the file's selection. Rule names and codes are checked against a
`known_rules()` callable (code -> name) so this module never imports the rule registry.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from packlint.files import DEFAULT_EXCLUDE

#: Output formats the reporters know (kept here rather than imported from packlint.report, so
#: that loading a config never imports a reporter).
OUTPUT_FORMATS = ("text", "concise", "full", "json", "sarif", "github")

KnownRules = Callable[[], Mapping[str, str]]


class ConfigError(Exception):
    """A configuration the user must fix; its message is one line naming the file and the key."""


@dataclass(frozen=True)
class ApiTables:
    """User additions to the analyser's tables, as qualified names (`myproj.utils.sequence_mask`).

    `mask_builders`: functions that build a length mask from their first argument.
    `masked_losses`: losses that sanitize their own inputs (they take lengths or a mask).
    `losses`: plain loss functions or classes (sinks). `sources`: functions returning a padded
    tensor. `propagators`: functions whose result is padded when their first argument is.
    """

    mask_builders: tuple[str, ...] = ()
    masked_losses: tuple[str, ...] = ()
    losses: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    propagators: tuple[str, ...] = ()

    def merged(self, other: ApiTables) -> ApiTables:
        return ApiTables(
            **{f.name: _dedupe(getattr(self, f.name) + getattr(other, f.name)) for f in fields(self)}
        )


@dataclass(frozen=True)
class RuleLayer:
    """One layer of rule selection (the config file, then the command line).

    `select=None` keeps what earlier layers enabled; a tuple replaces it.
    """

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """The settings of one run. Frozen: build a changed one with `merge`.

    `exclude=None` means discovery's defaults. `root` anchors exclude patterns and
    per-file-ignores (the config file's folder, else the folder the search started from).
    `known_rules` is the (code, name) table the selectors were checked against, kept so that
    `is_enabled` can match rule names without importing the registry.
    """

    path: Path | None = None
    root: Path = field(default_factory=Path.cwd)
    layers: tuple[RuleLayer, ...] = (RuleLayer(),)
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] = ()
    force_exclude: bool = False
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    output_format: str | None = None
    src: tuple[str, ...] = ()
    max_file_size: int | None = None
    api: ApiTables = ApiTables()
    known_rules: tuple[tuple[str, str], ...] = ()

    # -- convenience views -----------------------------------------------------------------
    @property
    def select(self) -> tuple[str, ...] | None:
        """The selection of the last layer that set one (None: the default, every rule)."""
        for layer in reversed(self.layers):
            if layer.select is not None:
                return layer.select
        return None

    @property
    def ignore(self) -> tuple[str, ...]:
        return tuple(c for layer in self.layers for c in layer.ignore)

    @property
    def extend_select(self) -> tuple[str, ...]:
        return tuple(c for layer in self.layers for c in layer.extend_select)

    # -- rule selection ----------------------------------------------------------------------
    def is_enabled(self, code: str, path: str | os.PathLike[str] | None = None) -> bool:
        """Whether findings of rule `code` are reported for `path` (None: ignore per-file-ignores).

        Applies each layer in turn (see the module docstring), then per-file-ignores, whose
        patterns are gitignore-style globs relative to `root` (`tests/`, `*_test.py`,
        `scripts/*.py`). File problems are never subject to this: only findings are.
        """
        name = dict(self.known_rules).get(code, "")
        enabled = True  # default selection: every rule
        for layer in self.layers:
            if layer.select is not None:
                on = _best(layer.select + layer.extend_select, code, name)
                off = _best(layer.ignore, code, name)
                enabled = on > off
            else:
                on = _best(layer.extend_select, code, name)
                off = _best(layer.ignore, code, name)
                if on or off:
                    enabled = on > off
        if not enabled:
            return False
        if path is not None and self.per_file_ignores:
            rel = _relative(self.root, os.fspath(path))
            for spec, selectors in _compiled_per_file(self.per_file_ignores):
                if _best(selectors, code, name) and spec.match_file(rel):
                    return False
        return True

    # -- merging -------------------------------------------------------------------------------
    def merge(self, cli_overrides: Mapping[str, Any], *, known_rules: KnownRules | None = None) -> Config:
        """A new Config with command-line values applied on top of this one.

        Keys are the TOML names (`extend-select`) or their snake_case forms; values of None, or
        empty sequences for list options, or False for `force-exclude`, mean "not given" (what
        click passes for absent options). List values may hold comma-separated items.
        `select`, `exclude`, `src`, `output-format`, `max-file-size`, `force-exclude` replace;
        `extend-select`, `ignore`, `extend-exclude`, `per-file-ignores` and the api tables add.
        Raises ConfigError for an unknown key or an invalid value, naming it as a CLI option.
        """
        known = _known_map(known_rules) if known_rules else dict(self.known_rules)
        updates: dict[str, Any] = {}
        layer = RuleLayer()
        for raw_key, value in cli_overrides.items():
            key = raw_key.replace("_", "-")
            if value is None or (isinstance(value, (list, tuple)) and not value):
                continue
            if key == "force-exclude" and value is False:
                continue  # a click flag that is absent reads False: it can only turn the option on
            where = f"--{key}"
            if key not in _KEYS and key != "api":
                raise ConfigError(f"command line: unknown option '{raw_key}'")
            if key in _LIST_KEYS:
                value = _split_commas(value)
            elif key == "per-file-ignores" and not isinstance(value, Mapping):
                value = _parse_per_file_option(value)
            if key == "api":
                api = _parse_api(value, "command line", "api")
                updates["api"] = (updates.get("api") or self.api).merged(api)
                continue
            parsed = _parse_value(key, value, "command line", where, known)
            if key == "select":
                layer = replace(layer, select=parsed)
            elif key == "extend-select":
                layer = replace(layer, extend_select=layer.extend_select + parsed)
            elif key == "ignore":
                layer = replace(layer, ignore=layer.ignore + parsed)
            elif key == "extend-exclude":
                updates["extend_exclude"] = self.extend_exclude + parsed
            elif key == "per-file-ignores":
                updates["per_file_ignores"] = self.per_file_ignores + parsed
            else:
                updates[_FIELD[key]] = parsed
        if layer != RuleLayer():
            updates["layers"] = self.layers + (layer,)
        if known_rules:
            updates["known_rules"] = tuple(sorted(known.items()))
        return replace(self, **updates)

    def describe(self) -> dict[str, Any]:
        """The effective settings as plain data, for `--show-settings`: `rules` is the selection expanded to the
        codes it enables (per-file-ignores aside), `exclude` the patterns in force (the defaults when not set)."""
        return {
            "config": os.fspath(self.path) if self.path else None,
            "root": os.fspath(self.root),
            "rules": [code for code, _ in self.known_rules if code != INTERNAL_ERROR_CODE and self.is_enabled(code)],
            "select": list(self.select) if self.select is not None else ["ALL"],
            "extend-select": list(self.extend_select),
            "ignore": list(self.ignore),
            "exclude": list(self.exclude) if self.exclude is not None else list(DEFAULT_EXCLUDE),
            "extend-exclude": list(self.extend_exclude),
            "force-exclude": self.force_exclude,
            "per-file-ignores": {glob: list(codes) for glob, codes in self.per_file_ignores},
            "output-format": self.output_format,
            "src": list(self.src),
            "max-file-size": self.max_file_size,
            "api": {f.name.replace("_", "-"): list(getattr(self.api, f.name)) for f in fields(self.api)},
        }


# --- selectors ------------------------------------------------------------------------------

_CODE = re.compile(r"^PKL\d{0,3}$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


def _specificity(selector: str, code: str, name: str) -> int:
    """How specifically `selector` names rule `code` (0: it does not): ALL < prefixes < code/name."""
    if selector == "ALL":
        return 1
    if name and selector == name:
        return 100
    if code.startswith(selector) and _CODE.match(selector):
        return 1 + len(selector)
    return 0


def _best(selectors: Iterable[str], code: str, name: str) -> int:
    return max((_specificity(s, code, name) for s in selectors), default=0)


#: The code of packlint's own failures: a problem, always reported, so it cannot be selected (ignoring it is allowed
#: and changes nothing, as documented for problems), and it is never offered as a did-you-mean for a mistyped rule.
INTERNAL_ERROR_CODE = "PKL900"


def _check_selector(selector: str, source: str, key: str, known: Mapping[str, str]) -> str:
    """Return the selector (codes upper-cased) or raise ConfigError naming the key."""
    internal = known.get(INTERNAL_ERROR_CODE, "internal-error")
    known = {code: name for code, name in known.items() if code != INTERNAL_ERROR_CODE}
    selecting = key.rsplit(".", 1)[-1].lstrip("-") in ("select", "extend-select")
    if isinstance(selector, str) and (selector.upper() == INTERNAL_ERROR_CODE or selector == internal):
        if not selecting:
            return INTERNAL_ERROR_CODE if selector.upper() == INTERNAL_ERROR_CODE else selector
        raise ConfigError(f"{source}: '{selector}' in '{key}' is not a rule: {INTERNAL_ERROR_CODE} ({internal}) "
                          f"names files packlint failed on, which are always reported and cannot be selected")
    if not isinstance(selector, str) or not selector:
        raise ConfigError(f"{source}: '{key}' must be a list of rule codes or names, got {selector!r}")
    if selector.upper() == "ALL":
        return "ALL"
    if _CODE.match(selector.upper()):
        selector = selector.upper()
        if known and not any(code.startswith(selector) for code in known):
            raise ConfigError(f"{source}: unknown rule code '{selector}' in '{key}'{_hint(selector, known)}")
        return selector
    if _NAME.match(selector):
        if known and selector not in known.values():
            raise ConfigError(
                f"{source}: unknown rule name '{selector}' in '{key}'{_hint(selector, known.values())}"
            )
        return selector
    raise ConfigError(f"{source}: '{selector}' in '{key}' is not a rule code, code prefix or rule name")


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --- keys -----------------------------------------------------------------------------------

_KEYS = (
    "select",
    "ignore",
    "extend-select",
    "exclude",
    "extend-exclude",
    "force-exclude",
    "per-file-ignores",
    "output-format",
    "src",
    "max-file-size",
)
_FIELD = {k: k.replace("-", "_") for k in _KEYS}
_API_KEYS = ("mask-builders", "masked-losses", "losses", "sources", "propagators")
_QUALNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SIZE = re.compile(r"^\s*(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3}


_LIST_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude", "src")


def _split_commas(value: Any) -> Any:
    """CLI list values: `--select PKL001,PKL002 --select PKL003` arrives as strings to split."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        return value
    out: list[Any] = []
    for item in items:
        if isinstance(item, str):
            out.extend(part.strip() for part in item.split(",") if part.strip())
        else:
            out.append(item)  # left for validation to reject with a clear message
    return out


def _parse_per_file_option(value: Any) -> dict[str, list[str]]:
    """`--per-file-ignores 'tests/*:PKL001,PKL002'` (repeatable) -> {glob: [codes]}."""
    items = [value] if isinstance(value, str) else list(value)
    out: dict[str, list[str]] = {}
    for item in items:
        if not isinstance(item, str) or ":" not in item:
            raise ConfigError(f"command line: '--per-file-ignores' takes GLOB:CODES, got {item!r}")
        glob, _, codes = item.rpartition(":")
        out.setdefault(glob, []).extend(c.strip() for c in codes.split(",") if c.strip())
    return out


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", str: "a string", list: "a list", dict: "a table"}.get(
        type(value), type(value).__name__
    )


def _str_list(value: Any, source: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"{source}: '{key}' must be a list of strings, not {_type_name(value)}")
    for item in value:
        if not isinstance(item, str):
            raise ConfigError(f"{source}: '{key}' must be a list of strings, found {_type_name(item)}")
    return tuple(value)


def _parse_value(key: str, value: Any, source: str, where: str, known: Mapping[str, str]) -> Any:
    """Validate one top-level key's value; `where` is the dotted key used in messages."""
    if key in ("select", "ignore", "extend-select"):
        return _dedupe(_check_selector(s, source, where, known) for s in _str_list(value, source, where))
    if key in ("exclude", "extend-exclude", "src"):
        return _str_list(value, source, where)
    if key == "force-exclude":
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{where}' must be true or false, not {_type_name(value)}")
        return value
    if key == "output-format":
        if not isinstance(value, str) or value not in OUTPUT_FORMATS:
            raise ConfigError(
                f"{source}: '{where}' must be one of {', '.join(OUTPUT_FORMATS)}, got {value!r}"
            )
        return "text" if value == "concise" else value
    if key == "max-file-size":
        return _parse_size(value, source, where)
    if key == "per-file-ignores":
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: '{where}' must be a table of glob = [codes], not {_type_name(value)}")
        out = []
        for glob, codes in value.items():
            sub = f"{where}.{glob}" if not where.startswith("--") else where
            checked = _dedupe(_check_selector(c, source, sub, known) for c in _str_list(codes, source, sub))
            out.append((glob, checked))
        return tuple(out)
    raise ConfigError(f"{source}: unknown key '{where}'")  # pragma: no cover - callers check keys


def _parse_size(value: Any, source: str, where: str) -> int:
    """Bytes as an integer, or a string with a unit: "512 KiB", "4MB"."""
    if isinstance(value, bool):
        raise ConfigError(f"{source}: '{where}' must be a size in bytes, not a boolean")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        size = int(m.group(1)) * _UNITS[m.group(2).lower() if m.group(2) else None]
    else:
        raise ConfigError(f"{source}: '{where}' must be a size in bytes (e.g. 4194304 or \"4 MiB\"), got {value!r}")
    if size <= 0:
        raise ConfigError(f"{source}: '{where}' must be positive, got {value!r}")
    return size


def _parse_api(table: Any, source: str, prefix: str) -> ApiTables:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: '{prefix}' must be a table, not {_type_name(table)}")
    values: dict[str, tuple[str, ...]] = {}
    for key, value in table.items():
        where = f"{prefix}.{key}"
        if key not in _API_KEYS:
            raise ConfigError(f"{source}: unknown key '{where}'{_hint(key, _API_KEYS)}")
        names = _str_list(value, source, where)
        for name in names:
            if not _QUALNAME.match(name):
                raise ConfigError(f"{source}: '{name}' in '{where}' is not a qualified name like 'pkg.module.func'")
        values[key.replace("-", "_")] = _dedupe(names)
    return ApiTables(**values)


def _known_map(known_rules: KnownRules | None) -> dict[str, str]:
    return dict(known_rules()) if known_rules is not None else {}


def config_from_table(
    table: Any,
    *,
    source: str,
    prefix: str = "tool.packlint",
    root: Path,
    path: Path | None = None,
    known_rules: KnownRules | None = None,
) -> Config:
    """Validate a `[tool.packlint]` table (already parsed TOML) into a Config.

    `source` names the file in error messages and `prefix` is the dotted path of the table in it.
    """
    dotted = (lambda k: f"{prefix}.{k}") if prefix else (lambda k: k)
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: '{prefix or 'packlint'}' must be a table, not {_type_name(table)}")
    known = _known_map(known_rules)
    values: dict[str, Any] = {}
    layer = RuleLayer()
    for key, value in table.items():
        if key == "api":
            values["api"] = _parse_api(value, source, dotted("api"))
            continue
        if key not in _KEYS:
            raise ConfigError(f"{source}: unknown key '{dotted(key)}'{_hint(key, (*_KEYS, 'api'))}")
        parsed = _parse_value(key, value, source, dotted(key), known)
        if key == "select":
            layer = replace(layer, select=parsed)
        elif key == "extend-select":
            layer = replace(layer, extend_select=parsed)
        elif key == "ignore":
            layer = replace(layer, ignore=parsed)
        else:
            values[_FIELD[key]] = parsed
    return Config(
        path=path,
        root=root,
        layers=(layer,),
        known_rules=tuple(sorted(known.items())),
        **values,
    )


# --- finding and loading files --------------------------------------------------------------


def _read_toml(path: Path, source: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{source}: {exc.strerror or exc}") from None


def _display(path: Path) -> str:
    """The config file as named in messages: relative to the current folder when inside it."""
    absolute = os.path.abspath(path)
    cwd = os.getcwd()
    if absolute.startswith(cwd.rstrip(os.sep) + os.sep):
        return os.path.relpath(absolute, cwd)
    return absolute


#: packlint's own configuration files, in the order they win within one folder (like `.ruff.toml` over `ruff.toml`
#: over `pyproject.toml`): either is used whatever it holds, and holds the keys at its top level.
OWN_CONFIG_FILES = (".packlint.toml", "packlint.toml")


def find_config(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The closest configuration at or above `start` (a file or folder): in each folder, `.packlint.toml`, then
    `packlint.toml`, then a pyproject.toml with a [tool.packlint] table; None when there is none. A
    pyproject.toml that is not valid TOML is an error, not skipped: it may be the one meant to configure packlint."""
    here = Path(os.path.abspath(start if start is not None else os.getcwd()))
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        for name in OWN_CONFIG_FILES:
            if (folder / name).is_file():
                return folder / name
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            data = _read_toml(candidate, _display(candidate))
            tool = data.get("tool")
            if isinstance(tool, dict) and "packlint" in tool:
                return candidate
    return None


def load_config(
    start: str | os.PathLike[str] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    known_rules: KnownRules | None = None,
) -> Config:
    """Load the Config for `start` (a file or folder; default the current folder).

    With `config_file`, that file is used and must exist. Without, `find_config(start)`; when no
    file configures packlint, the defaults, rooted at `start`'s folder. Raises ConfigError.
    """
    if config_file is not None:
        path = Path(config_file)
        source = _display(path)
        if not path.is_file():
            raise ConfigError(f"{source}: config file not found")
        data = _read_toml(path, source)
        if path.name == "pyproject.toml":
            tool = data.get("tool", {})
            table = tool.get("packlint", {}) if isinstance(tool, dict) else {}
            prefix = "tool.packlint"
        else:
            table, prefix = data, ""
        return config_from_table(
            table,
            source=source,
            prefix=prefix,
            root=Path(os.path.abspath(path)).parent,
            path=path,
            known_rules=known_rules,
        )
    found = find_config(start)
    if found is None:
        here = Path(os.path.abspath(start if start is not None else os.getcwd()))
        root = here if here.is_dir() else here.parent
        return Config(root=root, known_rules=tuple(sorted(_known_map(known_rules).items())))
    data = _read_toml(found, _display(found))
    own = found.name in OWN_CONFIG_FILES
    return config_from_table(
        data if own else data["tool"]["packlint"],
        source=_display(found),
        prefix="" if own else "tool.packlint",
        root=found.parent,
        path=found,
        known_rules=known_rules,
    )


# --- path matching --------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _relative(root: Path, path: str) -> str:
    """`path` relative to `root`, posix; for paths outside the root, the path without its anchor."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return absolute.as_posix().lstrip("/")


@lru_cache(maxsize=64)
def _compiled_per_file(entries: tuple[tuple[str, tuple[str, ...]], ...]):
    import pathspec  # noqa: PLC0415 - only needed when per-file-ignores are configured

    return [(pathspec.GitIgnoreSpec.from_lines([glob]), codes) for glob, codes in entries]


__all__ = [
    "ApiTables",
    "Config",
    "ConfigError",
    "OUTPUT_FORMATS",
    "RuleLayer",
    "config_from_table",
    "find_config",
    "load_config",
]
