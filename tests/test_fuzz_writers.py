"""Fuzzing the code that writes (issue 19, item 4): ``--fix``, ``--unsafe-fixes``, ``--diff`` and ``--add-noqa``,
through the command line.

1. Generated programs (hypothesmith): every writing command exits 0 or 1 (never 2, never a traceback) and leaves
   a file without findings byte for byte as it was.
2. Real shapes: the bad fixtures that have a fix, with formatting that keeps their AST (blank lines, comments at
   line ends, backslash continuations, trailing whitespace, CRLF line breaks, a byte-order mark, tabs for the
   indentation). ``--unsafe-fixes`` gives a file that parses, whose statements keep their AST except those on a
   fixed finding's lines, with the file's line breaks and BOM; a second run changes nothing. ``--add-noqa`` keeps
   the whole AST, leaves no finding, and a second run adds nothing.

Examples are few and derandomized (the suite stays fast and deterministic); ``PACKLINT_FUZZ_EXAMPLES`` runs more.
"""

from __future__ import annotations

import ast
import functools
import io
import json
import os
import tokenize
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from packlint.cli import main

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")
LONG_RUN = int(os.environ.get("PACKLINT_FUZZ_EXAMPLES", "0") or 0)


def fuzz_settings(default: int):
    return settings(max_examples=LONG_RUN or default, deadline=None, database=None, derandomize=not LONG_RUN,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


def run(*args: str):
    result = CliRunner().invoke(main, ["--no-cache", *args])
    # an exception that escaped main (CliRunner catches it) or a traceback printed are both internal errors
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output and "internal-error" not in result.output, result.output
    return result


def findings(path: Path) -> list[dict]:
    result = run("--output-format", "json", str(path))
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.stdout)
    return data if isinstance(data, list) else data.get("findings", data)


def dump(data: bytes) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.dump(ast.parse(data))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None


# --- 1. generated programs --------------------------------------------------------------------------------------

try:
    import hypothesmith
except ImportError:  # pragma: no cover - pinned in requirements-test.txt
    hypothesmith = None

IMPORT = "from torch.nn.utils.rnn import pad_packed_sequence\n"  # without it the engine never parses the file


@pytest.mark.skipif(hypothesmith is None, reason="pip install hypothesmith==0.3.3")
def test_writing_commands_on_generated_programs(tmp_path: Path) -> None:
    seen = {"programs": 0}

    @fuzz_settings(20)
    @given(source=hypothesmith.from_grammar())
    def check(source: str) -> None:
        text = IMPORT + source
        assume(dump(text.encode("utf-8")) is not None)
        p = tmp_path / "prog.py"
        data = text.encode("utf-8")
        p.write_bytes(data)
        lint = run(str(p))
        assert lint.exit_code in (0, 1), lint.output
        for flags in (["--fix"], ["--fix", "--unsafe-fixes"], ["--diff", "--unsafe-fixes"], ["--add-noqa"]):
            p.write_bytes(data)
            result = run(*flags, str(p))
            assert result.exit_code in (0, 1), f"{flags}: {result.output}\n--- program ---\n{text}"
            if lint.exit_code == 0:
                assert p.read_bytes() == data, flags
            else:  # whatever was written parses
                assert dump(p.read_bytes()) is not None, flags
        seen["programs"] += 1

    check()
    assert seen["programs"] >= 10


# --- 2. mutated fixtures ----------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def fixable() -> tuple[Path, ...]:
    """The bad fixtures under PKL00*/ and PKL102/ whose findings offer a fix (``--diff`` has something to show)."""
    out = []
    for path in sorted([*ROOT.glob("fixtures/PKL00*/bad_*.py"), *ROOT.glob("fixtures/PKL102/bad_*.py")]):
        result = CliRunner().invoke(main, ["--no-cache", "--diff", "--unsafe-fixes", str(path)])
        if result.exit_code == 1 and result.stdout.startswith("---"):
            out.append(path)
    assert len(out) >= 20, out  # the fixes cover most rules' fixtures; fewer means a fix stopped applying
    return tuple(out)


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(text).readline))


def _line_ends(text: str) -> list[int]:
    """0-based lines that end a line of code or a blank/comment line (a NEWLINE or NL token): a blank line, a
    comment or whitespace may follow them without changing the program. Lines that already end in a comment are
    left out (for comments)."""
    return sorted({t.start[0] - 1 for t in _tokens(text) if t.type in (tokenize.NEWLINE, tokenize.NL)})


def blank_lines(text: str, picks: list[int]) -> str:
    lines = text.split("\n")
    ends = _line_ends(text)
    for i in sorted({ends[p % len(ends)] for p in picks}, reverse=True):
        lines.insert(i + 1, "")
    return "\n".join(lines)


def end_comments(text: str, picks: list[int]) -> str:
    commented = {t.start[0] - 1 for t in _tokens(text) if t.type == tokenize.COMMENT}
    ends = [i for i in _line_ends(text) if i not in commented]
    lines = text.split("\n")
    for i in {ends[p % len(ends)] for p in picks}:
        lines[i] += "  # a remark"
    return "\n".join(lines)


def trailing_whitespace(text: str, picks: list[int]) -> str:
    ends = _line_ends(text)
    lines = text.split("\n")
    for i in {ends[p % len(ends)] for p in picks}:
        lines[i] += " \t "
    return "\n".join(lines)


def backslashes(text: str, picks: list[int]) -> str:
    """Break lines between two tokens of code on the same line, with a backslash continuation."""
    code = (tokenize.NAME, tokenize.OP, tokenize.NUMBER, tokenize.STRING)
    toks = _tokens(text)
    gaps = [a.end for a, b in zip(toks, toks[1:])
            if a.type in code and b.type in code and a.end[0] == b.start[0] == a.start[0]]
    lines = text.split("\n")
    for row, col in sorted({gaps[p % len(gaps)] for p in picks}, reverse=True):
        line = lines[row - 1]
        lines[row - 1:row] = [line[:col] + " \\", "        " + line[col:].lstrip(" ")]
    return "\n".join(lines)


def wrap_in_parentheses(text: str, picks: list[int]) -> str:
    """Put the right-hand side of one-line assignments and returns in parentheses, across lines."""
    tree = ast.parse(text)
    targets = [n for n in ast.walk(tree)
               if isinstance(n, (ast.Assign, ast.Return)) and n.value is not None
               and n.value.lineno == n.value.end_lineno == n.lineno == n.end_lineno]
    if not targets:
        return text
    lines = text.split("\n")
    for node in sorted({id(t): t for t in (targets[p % len(targets)] for p in picks)}.values(),
                       key=lambda n: n.lineno, reverse=True):
        value = node.value
        line = lines[node.lineno - 1]
        a, b = _char(line, value.col_offset), _char(line, value.end_col_offset)
        indent = line[: len(line) - len(line.lstrip())]
        lines[node.lineno - 1:node.lineno] = [line[:a] + "(", indent + "    " + line[a:b], indent + ")" + line[b:]]
    return "\n".join(lines)


def _char(line: str, utf8_offset: int) -> int:
    return len(line.encode("utf-8")[:utf8_offset].decode("utf-8"))


def tabs(text: str) -> str:
    """Indent with tabs: each four leading spaces of a line outside a string become a tab."""
    in_string = set()
    for t in _tokens(text):
        if t.type == tokenize.STRING and t.end[0] > t.start[0]:
            in_string.update(range(t.start[0] + 1, t.end[0] + 1))
    lines = text.split("\n")
    for i, line in enumerate(lines, start=1):
        if i in in_string:
            continue
        stripped = line.lstrip(" ")
        n = len(line) - len(stripped)
        lines[i - 1] = "\t" * (n // 4) + " " * (n % 4) + stripped
    return "\n".join(lines)


TEXT_MUTATIONS = {"blank": blank_lines, "comment": end_comments, "trailing": trailing_whitespace,
                  "backslash": backslashes, "paren": wrap_in_parentheses}


@st.composite
def mutated(draw) -> tuple[Path, bytes, dict]:
    """A fixable fixture with random formatting changes that keep its AST; the bytes to write, and how."""
    path = draw(st.sampled_from(fixable()))
    text = path.read_text(encoding="utf-8")
    for name in draw(st.lists(st.sampled_from(sorted(TEXT_MUTATIONS)), max_size=4)):
        picks = draw(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=4))
        text = TEXT_MUTATIONS[name](text, picks)
    how = {"tabs": draw(st.booleans()), "crlf": draw(st.booleans()), "bom": draw(st.booleans())}
    if how["tabs"]:
        text = tabs(text)
    if how["crlf"]:
        text = text.replace("\n", "\r\n")
    data = ("\ufeff" if how["bom"] else "").encode("utf-8") + text.encode("utf-8")
    return path, data, how


def statements(data: bytes) -> list[tuple[str, range]]:
    """Every statement's AST without positions and without the statements nested in it, with the lines it owns
    (a simple statement: all of it; a compound one: its header, up to its first nested statement)."""
    out = []
    for node in ast.walk(ast.parse(data)):
        if not isinstance(node, ast.stmt):
            continue
        nested = [getattr(node, f) for f in ("body", "orelse", "finalbody", "handlers", "cases")
                  if isinstance(getattr(node, f, None), list)]
        first = min((s.lineno for block in nested for s in block), default=node.end_lineno + 1)
        shallow = ast.copy_location(type(node)(**{f: ([] if isinstance(getattr(node, f), list) and
                                                      f in ("body", "orelse", "finalbody", "handlers", "cases")
                                                      else getattr(node, f)) for f in node._fields}), node)
        out.append((ast.dump(shallow), range(node.lineno, max(first, node.lineno + 1))))
    return out


def check_mutated(tmp_path: Path, path: Path, data: bytes) -> Path:
    before = dump(data)
    assume(before is not None)
    p = tmp_path / path.name
    p.write_bytes(data)
    return p


def test_fixes_on_mutated_fixtures_touch_only_the_fixed_statements(tmp_path: Path) -> None:
    seen = {"files": 0, "fixed": 0}

    @fuzz_settings(25)
    @given(case=mutated())
    def check(case) -> None:
        path, data, how = case
        p = check_mutated(tmp_path, path, data)
        found = findings(p)
        lines = {f["line"] for f in found}
        result = run("--fix", "--unsafe-fixes", str(p))
        assert result.exit_code in (0, 1), result.output
        new = p.read_bytes()
        assert new != data, f"{path.name}: nothing fixed\n{result.output}"
        assert dump(new) is not None, f"{path.name}: the fixed file does not parse\n{new.decode('utf-8')}"
        old_statements, new_statements = statements(data), statements(new)
        assert len(old_statements) == len(new_statements), new.decode("utf-8")
        for (old, owned), (now, _) in zip(old_statements, new_statements):
            if old != now:
                assert lines & set(owned), f"{path.name}: a statement off the finding lines {sorted(lines)} changed " \
                                           f"at lines {owned}\n--- after ---\n{new.decode('utf-8')}"
        # the file keeps its byte-order mark and its line breaks
        assert new.startswith(b"\xef\xbb\xbf") == how["bom"]
        if how["crlf"]:
            assert b"\n" not in new.replace(b"\r\n", b""), "a bare line feed in a CRLF file"
        else:
            assert b"\r" not in new
        # a second run changes nothing
        again = run("--fix", "--unsafe-fixes", str(p))
        assert again.exit_code in (0, 1) and p.read_bytes() == new, again.output
        diff = run("--diff", "--unsafe-fixes", str(p))
        assert diff.exit_code == 0 and diff.stdout == "", diff.output
        seen["files"] += 1
        seen["fixed"] += len(found) - len(findings(p))

    check()
    assert seen["files"] >= 15 and seen["fixed"] > 0, seen


def test_add_noqa_on_mutated_fixtures_keeps_the_ast_and_silences_everything(tmp_path: Path) -> None:
    seen = {"files": 0}

    @fuzz_settings(25)
    @given(case=mutated())
    def check(case) -> None:
        path, data, how = case
        p = check_mutated(tmp_path, path, data)
        assert run(str(p)).exit_code == 1
        result = run("--add-noqa", str(p))
        assert result.exit_code == 0, result.output
        new = p.read_bytes()
        assert new != data
        assert dump(new) == dump(data), f"{path.name}: the AST changed\n--- after ---\n{new.decode('utf-8')}"
        assert new.startswith(b"\xef\xbb\xbf") == how["bom"]
        if how["crlf"]:
            assert b"\n" not in new.replace(b"\r\n", b""), "a bare line feed in a CRLF file"
        else:
            assert b"\r" not in new
        assert run(str(p)).exit_code == 0
        again = run("--add-noqa", str(p))
        assert "Added 0 noqa directives." in again.stderr and p.read_bytes() == new
        seen["files"] += 1

    check()
    assert seen["files"] >= 15, seen


def test_the_mutations_keep_the_ast() -> None:
    """The mutations are what the properties assume: same AST, different text."""
    text = fixable()[0].read_text(encoding="utf-8")
    for name, mutate in TEXT_MUTATIONS.items():
        new = mutate(text, [1, 7, 30])
        assert new != text and dump(new.encode()) == dump(text.encode()), name
    for new in (tabs(text), text.replace("\n", "\r\n")):
        assert new != text and dump(new.encode()) == dump(text.encode())
