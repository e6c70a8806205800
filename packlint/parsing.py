"""Parsing with CPython's own parser, behind a guard against inputs that could crash or exhaust it.

``ast`` rather than a concrete syntax tree: its positions and syntax-error messages are the ones users see in their
editors, and it parses about nine times faster than LibCST on real PyTorch files (docs/analysis.md, "Why ast").
"""

from __future__ import annotations

import ast
import re
from itertools import accumulate

class ParseFailure(Exception):
    def __init__(self, message: str, line: int = 1, col: int = 1):
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


_BRACKETS = re.compile(r"[()\[\]{}]")
_STEP = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}
MAX_NESTING = 150  # CPython itself refuses more than 200 nested brackets; LibCST's native parser can crash first


def nesting_depth(text: str) -> tuple[int, int]:
    """Deepest bracket nesting and the line where it happens, counted with the tokenizer (strings and comments do
    not count). A cheap character scan runs first and settles the common case."""
    deepest = max(accumulate(map(_STEP.__getitem__, _BRACKETS.findall(text))), default=0)  # C loops only
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


def parse(text: str) -> ast.Module:
    """Parse with CPython's own parser: its positions and messages are the ones users' editors show, and it is
    about ten times faster than a concrete-syntax parse (see docs/analysis.md, "Why ast")."""
    if "\x00" in text:
        raise ParseFailure("source contains a null byte")
    depth, line = nesting_depth(text)
    if depth > MAX_NESTING:
        raise ParseFailure(f"too many nested parentheses ({depth}; packlint parses at most {MAX_NESTING})",
                            line or 1, 1)
    try:
        return ast.parse(text)
    except SyntaxError as exc:
        raise ParseFailure(exc.msg, exc.lineno or 1, exc.offset or 1) from None
    except (RecursionError, MemoryError):
        raise ParseFailure("expression nested too deeply to parse") from None
    except Exception as exc:  # noqa: BLE001 - any other parser failure is a problem, not a crash
        raise ParseFailure(f"cannot parse: {exc}") from None


