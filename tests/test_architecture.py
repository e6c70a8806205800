"""The arrows between packlint's modules run one way (issue 14, point 7).

The command line talks to the engine, the configuration, the rules and the reporters; the engine composes
discovery, loading, the resolver, the import graph, the cache and the processes; the analysis never imports the
engine or the command line; the resolver stands alone. Module-level imports form no cycle, and no import inside a
function hides one: lazy imports between packlint's own modules are only those listed here, each with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "packlint"

# (importer, imported): lazy on purpose, and why
LAZY = {
    ("packlint.cli", "packlint.selfcheck"): "the self-check needs torch; linting must not import it",
    ("packlint.cli", "packlint.server"): "only the language server needs pygls (an optional extra)",
    ("packlint.server", "packlint.server.app"): "imported once pygls is known to be installed",
    ("packlint.report", "packlint.source"): "only the full format reads source lines",
    ("packlint.report", "packlint.rules"): "reporters work without the rule registry",
    ("packlint.selfcheck", "packlint.selfcheck.lab"): "tensors: imported when a rule runs",
    ("packlint.selfcheck", "packlint.selfcheck.results"): "tensors: imported when a rule runs",
    ("packlint.selfcheck.docs_numbers", "packlint.selfcheck"): "tensors",
    ("packlint.selfcheck.docs_numbers", "packlint.selfcheck.results"): "tensors",
    ("packlint.testing.pytest_plugin", "packlint.testing"): "pytest loads the plugin before the helpers",
    ("packlint.fixes.editor", "packlint.fixes.apply"): "LibCST: only when the editor asks for a fix",
    ("packlint.fixes.editor", "packlint.fixes.documents"): "LibCST: only when the editor asks for a fix",
    ("packlint.fixes.editor", "packlint.server.actions"): "the server imports the fixes lazily; no cycle",
    ("packlint.engine", "packlint.analysis.api"): "start-up: an empty tree or a warm cache never analyses",
    ("packlint.engine", "packlint.analysis.project"): "start-up: an empty tree or a warm cache never analyses",
    ("packlint.engine", "packlint.analysis.support"): "start-up: an empty tree or a warm cache never analyses",
    ("packlint.engine", "packlint.demand"): "start-up: an empty tree or a warm cache never analyses",
    ("packlint.engine", "packlint.fixes.apply"): "LibCST: imported only when a fix edits a file",
    ("packlint.engine", "packlint.fixes.noqa"): "editing: a lint run never loads the editors",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> tuple[set[str], set[str]]:
    """(module-level, function-level) imports of packlint modules; ``if TYPE_CHECKING:`` blocks are skipped."""
    is_package = path.name == "__init__.py"
    top: set[str] = set()
    lazy: set[str] = set()

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        if node.level:
            parts = name.split(".") if is_package else name.split(".")[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([node.module] if node.module else []))
        return [base] + [f"{base}.{a.name}" for a in node.names]

    def visit(body: list, in_function: bool) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found = {t for t in targets(node) if t in MODULES and t != name}
                (lazy if in_function else top).update(found)
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse, in_function)
                continue
            inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                block = getattr(node, field, None)
                if isinstance(block, list):
                    visit(block, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")).body, False)
    return top, lazy


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_no_import_cycle_at_module_level() -> None:
    state: dict[str, int] = {}
    path: list[str] = []

    def walk(m: str) -> None:
        state[m] = 1
        path.append(m)
        for t in sorted(GRAPH[m][0]):
            if state.get(t) == 1:
                raise AssertionError(" -> ".join(path[path.index(t):] + [t]))
            if t not in state:
                walk(t)
        path.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            walk(m)


def test_function_level_imports_are_only_the_listed_lazy_ones() -> None:
    found = {(m, t) for m, (_, lazy) in GRAPH.items() for t in lazy}
    assert found <= set(LAZY), sorted(found - set(LAZY))


def test_the_cli_talks_to_the_engine_and_the_reporters() -> None:
    top, lazy = GRAPH["packlint.cli"]
    allowed = {"packlint", "packlint.config", "packlint.engine", "packlint.report", "packlint.rules",
               "packlint.docs_pages", "packlint.selfcheck", "packlint.server"}
    assert top | lazy <= allowed, sorted((top | lazy) - allowed)


def test_the_analysis_never_imports_the_engine_or_the_cli() -> None:
    for m, (top, lazy) in GRAPH.items():
        if m.startswith("packlint.analysis"):
            outward = {t for t in top | lazy if t in ("packlint.cli", "packlint.engine")} - {
                t for (i, t) in LAZY if i == m}
            assert not outward, (m, outward)


def test_pipeline_modules_point_one_way() -> None:
    assert not GRAPH["packlint.resolver"][0] | GRAPH["packlint.resolver"][1], "the resolver stands alone"
    assert "packlint.engine" not in GRAPH["packlint.parallel"][0] | GRAPH["packlint.parallel"][1]
    assert "packlint.imports" not in GRAPH["packlint.loading"][0] | GRAPH["packlint.loading"][1]
    defined = [m for m, p in MODULES.items() if "def resolve_relative(" in p.read_text(encoding="utf-8")]
    assert defined == ["packlint.resolver"]


# The interpreter's parts, bottom first: each may use only the parts below it (see packlint/analysis/interp.py).
INTERPRETER_STACK = [
    ("packlint.analysis.context", "ctx"),
    ("packlint.analysis.operations", "ops"),
    ("packlint.analysis.tensors", "tensors"),
    ("packlint.analysis.calls", "calls"),
    ("packlint.analysis.expressions", "exprs"),
    ("packlint.analysis.statements", "stmts"),
]


def _parts_used(path: Path) -> set[str]:
    """Which parts a part's methods reach: ``self.<part>.`` attribute chains and the parts its annotations name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {handle for _, handle in INTERPRETER_STACK}
    used = {node.value.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
            and isinstance(node.value.value, ast.Name) and node.value.value.id == "self" and node.value.attr in names}
    modules = {m: handle for m, handle in INTERPRETER_STACK}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in modules:
            used.add(modules[node.module])
    return used


def test_the_interpreter_parts_form_a_stack() -> None:
    """Statements use expressions, expressions use calls, calls use tensor effects, and never the other way."""
    for level, (module, handle) in enumerate(INTERPRETER_STACK):
        below = {h for _, h in INTERPRETER_STACK[:level]}
        used = _parts_used(MODULES[module]) - {handle}
        assert used <= below, (module, sorted(used - below))


def test_the_interpreter_is_composed_not_mixed_in() -> None:
    for module, _ in INTERPRETER_STACK:
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
        assert len(classes) == 1 and not classes[0].bases, (module, [c.name for c in classes])


def test_tensor_effects_and_value_operations_never_reach_the_project() -> None:
    for module in ("packlint.analysis.operations", "packlint.analysis.tensors"):
        text = MODULES[module].read_text(encoding="utf-8")
        assert "self.project" not in text and "packlint.analysis.project" not in text, module
