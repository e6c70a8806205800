"""The import-statement scan that file selection and cache keys use (no parse) reads exactly what ``ast`` reads.

``scan_imports`` finds import statements lexically and reads each with ``tokenize``; ``ast_imports`` takes them
from a parsed tree, as the analysis does. A hypothesis property holds the two equal on generated modules (every
way of writing an import, mixed with code that says "import" in strings, comments and expressions), and a table of
hand-picked cases pins the tricky ones.
"""

from __future__ import annotations

import ast
import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from packlint.resolver import ImportStmt, ast_imports, bindings, imported_names, scan_imports

LONG_RUN = int(os.environ.get("PACKLINT_FUZZ_EXAMPLES", "0") or 0)

# names: plain, soft keywords, look-alikes of keywords, and non-ASCII (the parser NFKC-normalises `ｍodel`)
NAMES = ["a", "pkg", "model", "torch", "nn", "utils", "match", "type", "_", "important", "from_", "imports",
         "ｍodel", "données", "x1"]
name = st.sampled_from(NAMES)
dotted = st.lists(name, min_size=1, max_size=3).map(".".join)
space = st.sampled_from([" ", "  ", "\t", " \\\n  ", " \\\n"])


@st.composite
def plain_import(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        mod = draw(dotted)
        if draw(st.booleans()):
            mod += f"{draw(space)}as{draw(space)}{draw(name)}"
        parts.append(mod)
    return f"import{draw(space)}" + f"{draw(st.sampled_from([',', ' ,', ', ']))}".join(parts)


@st.composite
def from_import(draw) -> str:
    level = draw(st.integers(0, 4))
    module = draw(st.none() | dotted) if level else draw(dotted)
    dots = "".join(draw(st.sampled_from([".", ". "])) for _ in range(level))
    if level >= 3 and draw(st.booleans()):
        dots = "..." + "." * (level - 3)  # tokenize reads `...` as one token
    head = f"from{draw(space) if dots else ' '}{dots}"
    if module:
        head += (draw(st.sampled_from(["", " "])) if dots else "") + module
    sep = draw(space) if module or draw(st.booleans()) else ""
    head += f"{sep}import"
    if draw(st.integers(0, 5)) == 0:
        return f"{head}{draw(space)}*"
    items = []
    for _ in range(draw(st.integers(1, 4))):
        item = draw(name)
        if draw(st.booleans()):
            item += f" as {draw(name)}"
        items.append(item)
    style = draw(st.sampled_from(["flat", "paren", "paren-lines", "paren-comments"]))
    if style == "flat":
        return f"{head} " + ", ".join(items)
    if style == "paren":
        return f"{head} (" + ", ".join(items) + ("," if draw(st.booleans()) else "") + ")"
    comment = "  # import this, from that" if style == "paren-comments" else ""
    body = "".join(f"\n    {item},{comment}" for item in items)
    return f"{head} ({comment}{body}\n){comment}"


NOISE = [
    "x = 'import os'",
    'doc = """\nfrom pkg import model\nimport torch\n"""',
    "s = '''it's\n import a'''",
    "# import commented.out",
    "b = rb'from \\' import'",
    "f = f\"{1} import {2}\"",
    "d = {'import': 1, 'from': 2}",
    "important = imports = from_ = 1",
    "t = (1,\n     2)",
    "y = 1 + \\\n    2",
    "print('a;import b')",
    "q = 'unterminated \\\n import c'",
    "def gen():\n    yield from range(3)",
    "try:\n    pass\nexcept ValueError as e:\n    raise KeyError from e",
    "lam = lambda: 0",
    "v: int = 1",
]


@st.composite
def module_text(draw) -> str:
    chunks = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["import", "from", "noise", "block", "oneliner", "semicolons"]))
        stmt = draw(plain_import() if draw(st.booleans()) else from_import())
        if kind == "noise":
            chunks.append(draw(st.sampled_from(NOISE)))
        elif kind == "block":
            header = draw(st.sampled_from(["if True:", "def f():", "class C:", "try:", "with ctx:"]))
            inner = "\n".join("    " + line for line in stmt.split("\n"))
            tail = "\nexcept ImportError:\n    pass" if header == "try:" else ""
            chunks.append(f"{header}\n{inner}{tail}")
        elif kind == "oneliner":
            chunks.append(f"if x: {stmt}" if "\n" not in stmt else stmt)
        elif kind == "semicolons":
            other = draw(plain_import() if draw(st.booleans()) else from_import())
            joined = draw(st.sampled_from([";", "; ", " ;"]))
            chunks.append(f"x = 1{joined}{stmt}" if "\n" in other else f"{other}{joined}{stmt}")
        else:
            chunks.append(stmt)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join("\n".join(chunks).split("\n")) + newline


@settings(max_examples=LONG_RUN or 400, deadline=None, database=None, derandomize=not LONG_RUN,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(module_text())
def test_scan_agrees_with_ast_on_generated_modules(text: str) -> None:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        assume(False)
    assert scan_imports(text) == ast_imports(tree), text


def _stmt(line, is_from, level, module, *names):
    return ImportStmt(line, is_from, level, module, tuple(n if isinstance(n, tuple) else (n, None) for n in names))


TRICKY = [
    ("parenthesised, multi-line", "from pkg import (\n    model,\n)\n", [_stmt(1, True, 0, "pkg", "model")]),
    ("comments inside parentheses", "from pkg import (  # models\n    model,  # the tagger\n    losses as L\n)\n",
     [_stmt(1, True, 0, "pkg", "model", ("losses", "L"))]),
    ("backslash continuation", "from pkg \\\n    import model, \\\n    losses\n",
     [_stmt(1, True, 0, "pkg", "model", "losses")]),
    ("semicolons", "import os; from pkg import model;import a.b as c\n",
     [_stmt(1, False, 0, None, "os"), _stmt(1, True, 0, "pkg", "model"), _stmt(1, False, 0, None, ("a.b", "c"))]),
    ("strings and comments that say import",
     "'''\nimport fake\n'''\nx = 'from fake import y'  # import fake2\nimport real\n",
     [_stmt(5, False, 0, None, "real")]),
    ("relative imports", "from . import model\nfrom ..utils import mask as m\nfrom .import x\nfrom ...a import *\n",
     [_stmt(1, True, 1, None, "model"), _stmt(2, True, 2, "utils", ("mask", "m")), _stmt(3, True, 1, None, "x"),
      _stmt(4, True, 3, "a", "*")]),
    ("dotted alias", "import torch.nn.functional as F, os.path\n",
     [_stmt(1, False, 0, None, ("torch.nn.functional", "F"), "os.path")]),
    ("nested and one-line blocks", "def f():\n    import inner\nif TYPE_CHECKING: from pkg import T\n",
     [_stmt(2, False, 0, None, "inner"), _stmt(3, True, 0, "pkg", "T")]),
    ("yield from and raise from are not imports",
     "def g():\n    yield from h()\n    x = (yield\n         from h())\n    raise E from None\n", []),
    ("a continued line is not a statement start", "x = 1 + \\\n    2\nimport real\n",
     [_stmt(3, False, 0, None, "real")]),
    ("a comment's backslash continues nothing", "x = 1  # see \\\nimport real\n", [_stmt(2, False, 0, None, "real")]),
    ("\\r line endings", "import a\rfrom b import (\r  c,\r)\r", [_stmt(1, False, 0, None, "a"),
                                                               _stmt(2, True, 0, "b", "c")]),
    ("NFKC names", "from ｍodel import Ｔagger\n", [_stmt(1, True, 0, "model", "Tagger")]),
    ("names that start like keywords", "important = 1\nfrom_ = imports = 2\nimport importlib\n",
     [_stmt(3, False, 0, None, "importlib")]),
]


@pytest.mark.parametrize("text, expected", [(t, e) for _, t, e in TRICKY], ids=[n for n, _, _ in TRICKY])
def test_tricky_imports(text: str, expected: list[ImportStmt]) -> None:
    assert scan_imports(text) == expected
    assert ast_imports(ast.parse(text)) == expected


def test_malformed_statements_are_left_out_and_the_rest_kept() -> None:
    text = "from pkg import (\nimport ok\nfrom x import\nfrom y import a as\nimport z\n"
    assert [s.names[0][0] for s in scan_imports(text)] == ["ok", "z"]
    assert scan_imports("import a\nfrom b import (c") == [_stmt(1, False, 0, None, "a")]


def test_one_meaning_for_both_extractors() -> None:
    """Bindings and loaded modules are computed from the record, whichever extractor made it."""
    text = "from .models import (\n    Tagger as T,\n)\nimport torch.nn as nn, os.path\n"
    for stmts in (scan_imports(text), ast_imports(ast.parse(text))):
        assert bindings(stmts[0], "pkg.train", False) == {"T": "pkg.models.Tagger"}
        assert imported_names(stmts[0], "pkg.train", False) == ["pkg.models", "pkg.models.Tagger"]
        assert bindings(stmts[1], "pkg.train", False) == {"nn": "torch.nn", "os": "os"}
        assert imported_names(stmts[1], "pkg", True) == ["torch.nn", "os.path"]
    assert imported_names(scan_imports("from . import model\n")[0], "pkg", True) == ["pkg", "pkg.model"]
