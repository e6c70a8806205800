"""Which functions can see a padded value: taint spread over names, not modules.

A module is cut into units: each top-level ``def`` and ``class`` (also under a top-level ``if``/``try``/``with``)
and each other top-level statement (the names it assigns). For each unit the index records the names it mentions
(``Name`` and ``Attribute`` chains, resolved through the module's imports, the unit's own imports, re-exports
followed name by name and star imports), never its comments or strings.

- **Seeds**: units that name the packing API or a user-declared source (an identifier, or an import binding whose
  qualified name does).
- **Up**: a unit that mentions a tainted name (calls it, subclasses it, annotates with it, reads it as a global) is
  tainted: what it returns, stores or defines may carry padding.
- **Down, through arguments**: a class constructed with arguments inside a tainted unit (``Trainer(model)`` in a
  file that never names the model's module) may hold a padded value in its attributes, so its methods are roots
  too; it is tainted like any other unit.

Every function inside a tainted unit is analysed as a root; the others are still analysed whenever a root calls
them. A package ``__init__`` that re-exports everything is no hub here: ``flair.device`` names ``device`` of
``flair/__init__.py``, which is not tainted because the package also imports a model module.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass, field

from packlint.analysis.names import dotted
from packlint.analysis.walk import walk_nodes
from packlint.imports import hand_padded_rnn, text_source
from packlint.resolver import bindings as stmt_bindings, imported_names, stmt_from_ast

__all__ = ["functions_that_can_matter"]

_DEBUG = bool(os.environ.get("PACKLINT_DEBUG_SELECTION"))
_MAX_FOLLOW = 16  # re-export hops followed for one name


@dataclass
class _Unit:
    module: object  # ModuleInfo
    nodes: list[ast.AST]
    defines: list[str]
    mentions: set[str] = field(default_factory=set)  # dotted chains, as written
    words: set[str] = field(default_factory=set)  # every identifier, for the seed scan
    constructs: set[str] = field(default_factory=set)  # dotted callees called with at least one argument
    local_bindings: dict[str, str] = field(default_factory=dict)  # imports inside the unit


def _container_bodies(stmt: ast.stmt):
    if isinstance(stmt, ast.If):
        return [stmt.body, stmt.orelse]
    if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
        return [stmt.body, stmt.orelse, stmt.finalbody, *(h.body for h in stmt.handlers)]
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return [stmt.body]
    return None


def _assigned(stmt: ast.stmt) -> list[str]:
    out = []
    for node in walk_nodes(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.append(node.id)
    return out


class _ModuleIndex:
    """One module's units, import bindings and star imports."""

    def __init__(self, module):
        self.module = module
        self.bindings: dict[str, list[str]] = {}
        self.stars: list[str] = []
        self.imported_words: set[str] = set()  # names in its top-level import statements
        self.units: list[_Unit] = []
        self.defined: dict[str, list[_Unit]] = {}
        if module is not None:  # None: a file that cannot be parsed has no units
            self._cut(module.tree.body)

    def _cut(self, body) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                rec = stmt_from_ast(stmt)
                self.imported_words.update(a.name for a in stmt.names)
                if rec.is_from and rec.names[0][0] == "*":
                    self.stars.extend(imported_names(rec, self.module.name, self.module.is_package))
                for local, q in stmt_bindings(rec, self.module.name, self.module.is_package).items():
                    self.bindings.setdefault(local, []).append(q)
                continue
            inner = _container_bodies(stmt)
            if inner is not None:
                head = _Unit(self.module, [], [])
                for expr in (getattr(stmt, "test", None), *(i.context_expr for i in getattr(stmt, "items", ()))):
                    if expr is not None:
                        head.nodes.append(expr)
                if head.nodes:
                    self._add(head)
                for b in inner:
                    self._cut(b)
                continue
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                unit = _Unit(self.module, [stmt], [stmt.name])
            else:
                unit = _Unit(self.module, [stmt], _assigned(stmt))
            self._add(unit)

    def _add(self, unit: _Unit) -> None:
        mod = self.module
        for root in unit.nodes:
            for node in walk_nodes(root):
                if isinstance(node, ast.Name):
                    unit.words.add(node.id)
                    unit.mentions.add(node.id)
                elif isinstance(node, ast.Attribute):
                    unit.words.add(node.attr)
                    chain = dotted(node)
                    if chain is not None:
                        unit.mentions.add(chain)
                elif isinstance(node, ast.Call):
                    if node.args or node.keywords:
                        callee = dotted(node.func)
                        if callee is not None:
                            unit.constructs.add(callee)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    rec = stmt_from_ast(node)
                    for alias in node.names:
                        unit.words.add(alias.name)
                    unit.local_bindings.update(stmt_bindings(rec, mod.name, mod.is_package))
                    if rec.is_from and rec.names[0][0] == "*":
                        for q in imported_names(rec, mod.name, mod.is_package):
                            unit.mentions.add(q)
                            unit.local_bindings.setdefault(q.split(".")[0], q.split(".")[0])
        self.units.append(unit)
        for name in unit.defines:
            self.defined.setdefault(name, []).append(unit)


class _LazyModules(dict):
    """Module key -> its index, built the first time it is asked for: a module no tainted name reaches is never
    parsed nor walked."""

    def __init__(self, project):
        super().__init__()
        self.project = project

    def __missing__(self, key: str) -> _ModuleIndex:
        index = self[key] = _ModuleIndex(self.project.program.load(key))
        return index


class _Index:
    """Every module's names, and the resolution of a mention to the units that define it."""

    def __init__(self, project):
        self.project = project
        self.modules = _LazyModules(project)
        self._resolved: dict[tuple[str, str], tuple[_Unit, ...]] = {}
        self._module_cache: dict[tuple[str, str], object] = {}
        self._targets: dict[int, set[int]] = {}
        self._by_word: dict[str, set[str]] | None = None
        self._stars: set[str] = set()  # modules with a star import (see ``modules_using``)

    def targets(self, unit: _Unit) -> set[int]:
        """The ids of the units ``unit`` mentions (once per unit)."""
        found = self._targets.get(id(unit))
        if found is None:
            found = {id(t) for chain in unit.mentions for t in self.resolve(unit, chain) if t is not unit}
            self._targets[id(unit)] = found
        return found

    def _words(self) -> dict[str, set[str]]:
        if self._by_word is None:
            self._by_word, self._stars = self.project.program.words()
        return self._by_word

    def imports_of(self, key: str) -> frozenset[str]:
        """Keys of the modules of the run that module ``key`` imports (any import statement, nested ones too),
        read without parsing it (``Program.imports_of``)."""
        return self.project.program.imports_of(key)

    def modules_using(self, unit: _Unit) -> list[str]:
        """Keys of the modules that may mention what ``unit`` defines: per name, the unit's own module and every
        module that has the name as a word and either imports one of those modules or names the defining
        module's last dotted part (``tokenizer.main()``, ``from .core import Pipeline``). Modules with a star
        import count as having every word, so a re-exporting ``from .core import *`` passes a name on.

        Why that is enough: a mention resolves to the unit only through the module's own definitions, an import
        binding (the importing module imports a module that defines or re-exports the name, and re-exporting
        binds the name: it is a word there too, or comes through a star import), or a dotted chain through the
        module's name. A word alone let ``main`` of one script reach every module that calls its own ``main``:
        on stanza 12,000 module scans, most of the tree parsed for nothing."""
        words = self._words()
        home = unit.module.key
        last = unit.module.name.rsplit(".", 1)[-1]
        named_last = words.get(last, set())
        keys: set[str] = {home}
        for name in unit.defines:
            having = words.get(name, set())
            pool = having | self._stars
            reach = {home}
            grew = True
            while grew:
                grew = False
                for key in sorted(pool - reach):
                    if (key in having and key in named_last) or not self.imports_of(key).isdisjoint(reach):
                        reach.add(key)
                        grew = True
            keys |= reach & having
        return sorted(keys)

    def _module(self, name: str, origin) -> object:
        key = (origin.key, name)
        if key not in self._module_cache:
            self._module_cache[key] = self.project.module_named(name, origin)
        return self._module_cache[key]

    def qualified(self, unit: _Unit, chain: str) -> list[str]:
        """The qualified names a chain may stand for (through imports), or [] when it is a local of the module."""
        head, _, rest = chain.partition(".")
        targets = []
        if head in unit.local_bindings:
            targets.append(unit.local_bindings[head])
        targets.extend(self.modules[unit.module.key].bindings.get(head, ()))
        return [f"{q}.{rest}" if rest else q for q in targets]

    def resolve(self, unit: _Unit, chain: str) -> tuple[_Unit, ...]:
        """The units of the tree a mention may name."""
        key = (unit.module.key, chain)
        found = self._resolved.get(key)
        if found is not None and not unit.local_bindings:
            return found
        out: list[_Unit] = []
        head = chain.split(".", 1)[0]
        mod_index = self.modules[unit.module.key]
        if head not in unit.local_bindings and head not in mod_index.bindings:
            out.extend(self._defined(mod_index, head, 0))
        for q in self.qualified(unit, chain):
            out.extend(self._qualified_units(q, unit.module, 0))
        found = tuple({id(u): u for u in out}.values())
        if not unit.local_bindings:
            self._resolved[key] = found
        return found

    def _qualified_units(self, q: str, origin, depth: int) -> list[_Unit]:
        parts = q.split(".")
        for cut in range(len(parts), 0, -1):
            target = self._module(".".join(parts[:cut]), origin)
            if target is not None:
                if cut == len(parts):
                    # ``from pkg import name`` reads the package's attribute first: a class its __init__
                    # re-exports under a submodule's name (``from .Attention import Attention``)
                    parent = self._module(".".join(parts[:-1]), origin) if cut > 1 else None
                    return self._defined(self.modules[parent.key], parts[-1], depth) if parent is not None else []
                return self._defined(self.modules[target.key], parts[cut], depth)
        return []

    def _defined(self, mod_index: _ModuleIndex, name: str, depth: int) -> list[_Unit]:
        """The units that define ``name`` in a module, following its imports and star imports (re-exports)."""
        if depth > _MAX_FOLLOW:
            return []
        out = list(mod_index.defined.get(name, ()))
        for q in mod_index.bindings.get(name, ()):
            out.extend(self._qualified_units(q, mod_index.module, depth + 1))
        if name not in mod_index.defined and name not in mod_index.bindings and not name.startswith("_"):
            program = self.project.program
            origin = program.sources[mod_index.module.key]
            words = self._words()
            for star in mod_index.stars:
                # only a module that has the name as a word, or star-imports in turn, can bind it: a hub's other
                # modules are not parsed to look (they were all of them, on a tree of re-exporting hubs)
                key = program.source_named(star, origin)
                if key is not None and (key in self._stars or key in words.get(name, ())):
                    target = self._module(star, mod_index.module)
                    if target is not None:
                        out.extend(self._defined(self.modules[target.key], name, depth + 1))
        return out


def _pads_lists(unit: _Unit, lines_of: dict[int, list[str] | None]) -> bool:
    """A unit that pads token lists by hand (``ids + [PAD] * (n - len(ids))``), a source of padded batches, or
    keeps a loss per element (``reduction='none'``), where a hand-made mask and reduction start (PKL007).
    ``lines_of`` keeps, per module, its lines when its text pads anywhere and None when not: the whole text is
    searched once per module, not once per unit (that was quadratic in a long module)."""
    key = id(unit.module)
    if key not in lines_of:
        text = unit.module.text
        lines_of[key] = text.splitlines() if text_source(text) else None
    lines = lines_of[key]
    if lines is None:
        return False
    for node in unit.nodes:
        first, last = getattr(node, "lineno", 1), getattr(node, "end_lineno", None) or len(lines)
        if text_source("\n".join(lines[first - 1:last])):
            return True
    return False


def functions_that_can_matter(project, prefilter) -> tuple[set[str], set[str]]:
    """Function ids worth analysing as roots, and the keys of the modules whose body is worth running (one of
    its units is tainted); see the module docstring. Other bodies still run when an analysis reads them."""
    index = _Index(project)
    # Seeds live in modules whose code names a source; nothing else needs indexing for them.
    sources = project.program.sources
    seed_modules = sorted(key for key, m in sources.items() if prefilter.search(m.text))
    units = [u for key in seed_modules for u in index.modules[key].units]
    tainted: dict[int, _Unit] = {}
    why: dict[int, tuple] = {}
    seeds: dict[int, bool] = {}
    queue: list[_Unit] = []
    padding_lines: dict[int, list[str] | None] = {}
    for unit in units:
        seed = any(prefilter.names_in(w) for w in unit.words) or any(
            prefilter.names_in(q) for chain in unit.mentions for q in index.qualified(unit, chain)) or \
            _pads_lists(unit, padding_lines)
        seeds[id(unit)] = seed
        if seed and id(unit) not in tainted:
            tainted[id(unit)] = unit
            queue.append(unit)
    # Up: a unit that mentions a tainted unit, looked for only in the modules that have its names as words.
    while queue:
        unit = queue.pop()
        for key in index.modules_using(unit):
            for other in index.modules[key].units:
                if id(other) not in tainted and id(unit) in index.targets(other):
                    why[id(other)] = unit
                    tainted[id(other)] = other
                    queue.append(other)
    constructed: dict[int, list[_Unit]] = {}  # id(unit) -> classes it constructs with arguments

    def constructions(unit: _Unit) -> list[_Unit]:
        if id(unit) not in constructed:
            constructed[id(unit)] = [t for chain in unit.constructs for t in index.resolve(unit, chain)
                                     if t is not unit and isinstance(t.nodes[0], ast.ClassDef)]
        return constructed[id(unit)]

    # Down: classes constructed with arguments by a tainted unit (or by such a class) may hold what was passed;
    # their methods are roots, but naming such a class does not taint its users.
    receiving: dict[int, _Unit] = {}
    queue = list(tainted.values())
    while queue:
        unit = queue.pop()
        for other in constructions(unit):
            if id(other) not in tainted and id(other) not in receiving:
                why[id(other)] = unit
                receiving[id(other)] = other
                queue.append(other)
    if _DEBUG:
        for unit in (*tainted.values(), *receiving.values()):
            path, u = [], unit
            while u is not None and len(path) < 12:
                path.append(f"{u.module.name}:{','.join(u.defines[:3])}@{getattr(u.nodes[0], 'lineno', 0)}")
                u = why.get(id(u))
            print(" <- ".join(path), file=sys.stderr)
    # Every function of a module that names a source is a root as well (cheap: such modules are few), so a fault
    # in any of them is reported like before; they taint nothing by that alone.
    whole = {u.module.key for u in units if seeds.get(id(u))}
    whole |= {key for key in seed_modules if any(prefilter.names_in(w) for w in index.modules[key].imported_words)}
    whole |= {key for key, m in sources.items() if hand_padded_rnn(m.text)}
    selected: set[str] = set()
    for key in sorted(whole):
        module = project.program.load(key)
        if module is not None:
            selected.update(module.function_ids)
    bodies: set[str] = set(whole)
    for unit in (*tainted.values(), *receiving.values()):
        bodies.add(unit.module.key)
        for root in unit.nodes:
            if not isinstance(root, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for node in walk_nodes(root):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    fid = project.func_id_for(unit.module, node)
                    if fid is not None:
                        selected.add(fid)
    return selected, bodies
