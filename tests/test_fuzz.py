"""Property-based fuzzing of the engine (issue 9).

1. Generated Python (hypothesmith): on any program ``compile()`` accepts, linting neither raises nor reports an
   ``internal-error``. Each program gets the import line that makes the engine parse it, and is linted twice: as a
   module, and as the body of a function holding a padded value, so the analysis of roots is exercised too.
2. Programs composed from the API tables (a source, propagators, sanitizers, a sink), with metamorphic
   properties: aliasing an import or renaming the variables keeps the (line, code) findings; moving a step, the
   source or the mask into a helper function of the same file keeps the multiset of codes.
3. Real fixture files, mutated (lines deleted, duplicated or re-indented, tokens swapped or replaced, the file
   cut short): never an exception or an internal-error; syntax errors are fine.

A few hundred examples run in the normal suite. For a longer run, set ``PACKLINT_FUZZ_EXAMPLES``, e.g.
``PACKLINT_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py -s``: every property then runs that many examples, and
hypothesmith's slow ``from_node()`` strategy (about a second per example) runs one per 25 of them. Each test prints
what it saw (``-s`` shows it).
"""

from __future__ import annotations

import collections
import io
import os
import re
import textwrap
import tokenize
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from packlint.analysis import api
from packlint.engine import SourceFile, lint_sources

ROOT = Path(__file__).resolve().parent.parent
# generated programs are full of `1()` and `"s"()`, which CPython compiles with a warning
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")
LONG_RUN = int(os.environ.get("PACKLINT_FUZZ_EXAMPLES", "0") or 0)


def examples(default: int) -> int:
    return LONG_RUN or default


def fuzz_settings(default: int):
    return settings(max_examples=examples(default), deadline=None, database=None, derandomize=not LONG_RUN,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


def lint_text(text: str, path: str = "prog.py"):
    return lint_sources([SourceFile(path=path, text=text, module=Path(path).stem)])


def assert_no_internal_error(result, text: str) -> None:
    internal = [p for p in result.problems if p.kind == "internal-error"]
    assert not internal, f"{internal}\n--- program ---\n{text}"


def compiles(text: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(text, "prog.py", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
    return True


def report(name: str, stats: collections.Counter) -> None:
    print(f"\n[fuzz] {name}: " + ", ".join(f"{k}={v}" for k, v in sorted(stats.items())))


# --- 1. generated programs --------------------------------------------------------------------------------------

try:
    import hypothesmith
except ImportError:  # pragma: no cover - pinned in requirements-test.txt
    hypothesmith = None
needs_hypothesmith = pytest.mark.skipif(hypothesmith is None, reason="pip install hypothesmith==0.3.3")

IMPORT = "from torch.nn.utils.rnn import pad_packed_sequence\n"
ROOT_PREFIX = IMPORT + "\n\ndef fuzz_root(packed):\n    out, lengths = pad_packed_sequence(packed, batch_first=True)\n"


def embed(source: str, in_function: bool) -> str:
    if not in_function:
        return IMPORT + source
    return ROOT_PREFIX + textwrap.indent(source, "    ", lambda line: True) + "\n    return out\n"


def _check_generated(source: str, stats: collections.Counter) -> None:
    assume(compiles(embed(source, False)))
    for in_function in (False, True):
        text = embed(source, in_function)
        if compiles(text):
            _check_one(text, "in a function" if in_function else "module level", stats)
    stats["programs"] += 1


def _check_one(text: str, where: str, stats: collections.Counter) -> None:
    result = lint_text(text)
    assert_no_internal_error(result, text)
    kinds = {p.kind for p in result.problems}
    # CPython compiled it; only packlint's own bracket-depth limit may still refuse it
    assert kinds <= {"syntax-error"}, result.problems
    assert all("nested" in p.message for p in result.problems), result.problems
    stats[where] += 1
    stats["refused as too nested"] += len(result.problems)
    stats["findings"] += len(result.findings)


@needs_hypothesmith
def test_generated_programs_never_crash_the_engine() -> None:
    stats: collections.Counter = collections.Counter()

    @fuzz_settings(200)
    @given(source=hypothesmith.from_grammar())
    def check(source: str) -> None:
        _check_generated(source, stats)

    check()
    report("from_grammar", stats)
    assert stats["programs"] >= examples(200) // 2


@needs_hypothesmith
@pytest.mark.skipif(not LONG_RUN, reason="slow (about a second per example): set PACKLINT_FUZZ_EXAMPLES")
def test_generated_syntax_trees_never_crash_the_engine() -> None:
    stats: collections.Counter = collections.Counter()

    @settings(max_examples=max(1, LONG_RUN // 25), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(source=hypothesmith.from_node())
    def check(source: str) -> None:
        _check_generated(source, stats)

    check()
    report("from_node", stats)


# --- 2. programs composed from the tables, and metamorphic properties ------------------------------------------

def _table(kind: str, prefix: str) -> list[str]:
    """Short names of the table entries of one kind under one module (so the generator follows the tables)."""
    return sorted(c.qualname[len(prefix):] for c in api.CALLABLES
                  if c.kind == kind and c.qualname.startswith(prefix) and "." not in c.qualname[len(prefix):])


_UNARY = {"relu", "tanh", "sigmoid", "gelu", "elu", "selu", "leaky_relu", "silu", "dropout", "exp", "abs", "neg",
          "clone", "detach", "contiguous", "log_softmax"}  # element-wise, callable with the tensor alone
_METHODS_KEEP = sorted(m for m, kind in api.TENSOR_METHODS.items()
                       if kind == "keep" and m not in ("to", "type", "type_as", "expand", "expand_as", "repeat",
                                                       "clamp", "cuda", "tolist", "numpy"))

PROPAGATORS = (
    [f"torch.{n}({{x}})" for n in _table("propagate", "torch.") if n in _UNARY - {"log_softmax"}]
    + [f"F.{n}({{x}})" for n in _table("propagate", "torch.nn.functional.") if n in _UNARY - {"log_softmax"}]
    + [f"{{x}}.{m}()" for m in _METHODS_KEEP]
    + ["{x} * 2.0", "{x} + 1.0", "head({x})", "F.log_softmax({x}, dim=-1)", "torch.cat([{x}, {x}], dim=-1)",
       "{x}.to(x.device)", "F.layer_norm({x}, {x}.shape[-1:])", "{x}.clamp(min=0)"]
)
SANITIZERS = [
    "{x}.masked_fill(~mask.unsqueeze(-1), 0.0)",
    "{x} * mask.unsqueeze(-1)",
    "{x} * mask.unsqueeze(-1).float()",
    "torch.where(mask.unsqueeze(-1), {x}, torch.zeros_like({x}))",
]
SINKS = [
    "F.cross_entropy({x}.reshape(-1, {x}.size(-1)), y.reshape(-1))",
    "F.cross_entropy({x}.reshape(-1, 5), y.reshape(-1), ignore_index=-100)",
    "F.cross_entropy({x}.reshape(-1, 5), y.reshape(-1), ignore_index=0)",
    "F.cross_entropy({x}.reshape(-1, 5), y.reshape(-1), reduction='none').sum()",
    "F.cross_entropy({x}[mask], y[mask])",
    "nn.CrossEntropyLoss()({x}.reshape(-1, 5), y.reshape(-1))",
    "nn.CrossEntropyLoss(ignore_index=0)({x}.reshape(-1, 5), y.reshape(-1))",
    "F.nll_loss(F.log_softmax({x}, -1).transpose(1, 2), y)",
    "F.mse_loss({x}, y)",
    "F.mse_loss({x}, y, reduction='none').mean()",
    "F.mse_loss({x} * mask.unsqueeze(-1), y * mask.unsqueeze(-1))",
    "(F.mse_loss({x}, y, reduction='none').sum(-1) * mask).mean()",
    "(F.mse_loss({x}, y, reduction='none').sum(-1) * mask).sum() / mask.sum()",
    "F.l1_loss({x}.mean(dim=1), y)",
    "F.binary_cross_entropy_with_logits({x}.squeeze(-1), y)",
    "F.ctc_loss({x}.transpose(0, 1), y, lengths, lengths)",
    "head({x}[:, -1]).sum()",
    "{x}.max(dim=1)[0].sum()",
    "{x}.mean(dim=1).sum()",
    "F.avg_pool1d({x}.transpose(1, 2), {x}.size(1)).sum()",
    "torch.softmax({x} @ {x}.transpose(1, 2), dim=-1).sum()",
    "({x}.sum(dim=-1) * mask).sum() / mask.sum()",
]
ALIASES = ["from-as", "module-as", "from-module-as", "functional-as", "functional-from"]
NAMES = ["enc", "feats", "z", "hidden_states", "out", "t0", "représentation", "a_b_c", "scores", "logits", "seq",
         "h_2", "Encoded", "x_", "padded"]

HEADER = ["import torch", "import torch.nn as nn", "import torch.nn.functional as F",
          "from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence", "", ""]


def program(steps: list[str], sink: str, *, names: list[str] | None = None, mask: str = "mask",
            alias: str | None = None, helper: int | str | None = None, pad_targets: int | None = None) -> str:
    """One training step: pack, run, unpack, build a length mask, apply ``steps`` in order, then the ``sink``.

    Every variant has the same line layout up to the end of ``run``, so findings keep their lines: an alias only
    rewrites the import lines and the calls, a rename only the names, a helper one line of ``run`` (the helper is
    appended after it)."""
    n = len(steps)
    v = names or [f"h{i}" for i in range(n + 1)]
    head = list(HEADER)
    unpack, pack, fmod = "pad_packed_sequence", "pack_padded_sequence", "F"
    if alias == "from-as":
        head[3] = "from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence as unpack"
        unpack = "unpack"
    elif alias == "module-as":
        head[3] = "import torch.nn.utils.rnn as rnn_utils"
        unpack, pack = "rnn_utils.pad_packed_sequence", "rnn_utils.pack_padded_sequence"
    elif alias == "from-module-as":
        head[3] = "from torch.nn.utils import rnn as rnn_utils"
        unpack, pack = "rnn_utils.pad_packed_sequence", "rnn_utils.pack_padded_sequence"
    elif alias == "functional-as":
        head[2] = "import torch.nn.functional as fn"
        fmod = "fn"
    elif alias == "functional-from":
        head[2] = "from torch.nn import functional as F"

    def fix(expr: str) -> str:
        return re.sub(r"\bmask\b", mask, re.sub(r"\bF\.", fmod + ".", expr))

    body = ["def run(rnn, head, x, lengths, y):",
            f"    packed = {pack}(x, lengths, batch_first=True, enforce_sorted=False)",
            f"    {v[0]}, _ = {unpack}(rnn(packed)[0], batch_first=True)",
            f"    {mask} = torch.arange({v[0]}.size(1))[None, :] < lengths[:, None]"]
    if pad_targets is not None:
        head[4] = "from torch.nn.utils.rnn import pad_sequence"
        body.insert(1, f"    y = pad_sequence(y, batch_first=True, padding_value={pad_targets})")
    extra: list[str] = []
    if helper == "source":
        body[-2] = f"    {v[0]} = unpack_helper(rnn, packed)"
        extra = ["", "", "def unpack_helper(rnn, packed):",
                 f"    out, _ = {unpack}(rnn(packed)[0], batch_first=True)", "    return out"]
    elif helper == "mask":
        body[-1] = f"    {mask} = make_mask({v[0]}, lengths)"
        extra = ["", "", "def make_mask(h, lengths):",
                 "    return torch.arange(h.size(1))[None, :] < lengths[:, None]"]
    for i, step in enumerate(steps):
        if helper == i:
            body.append(f"    {v[i + 1]} = helper({v[i]}, lengths, {mask}, y, head)")
            extra = ["", "", f"def helper(t, lengths, {mask}, y, head):", "    return " + fix(step.format(x="t"))]
        else:
            body.append(f"    {v[i + 1]} = " + fix(step.format(x=v[i])))
    if helper == n:
        body.append(f"    loss = helper({v[n]}, lengths, {mask}, y, head)")
        extra = ["", "", f"def helper(t, lengths, {mask}, y, head):", "    return " + fix(sink.format(x="t"))]
    else:
        body.append("    loss = " + fix(sink.format(x=v[n])))
    body.append("    return loss")
    return "\n".join(head + body + extra) + "\n"


@st.composite
def compositions(draw) -> dict:
    n = draw(st.integers(0, 4))
    return {
        "steps": draw(st.lists(st.sampled_from(PROPAGATORS + SANITIZERS), min_size=n, max_size=n)),
        "sink": draw(st.sampled_from(SINKS)),
        "pad_targets": draw(st.sampled_from([None, None, 0, -100, 1])),
    }


def findings_of(text: str) -> list:
    result = lint_text(text)
    assert not result.problems, f"{result.problems}\n{text}"
    return result.findings


def lines_and_codes(findings) -> list[tuple[int, str]]:
    return sorted((f.line, f.code) for f in findings)


def codes(findings) -> list[str]:
    return sorted(f.code for f in findings)


def _metamorphic(default: int, name: str, body) -> None:
    stats: collections.Counter = collections.Counter()

    @fuzz_settings(default)
    @given(spec=compositions(), data=st.data())
    def check(spec: dict, data) -> None:
        base = findings_of(program(**spec))
        stats["programs"] += 1
        stats["with findings"] += bool(base)
        for f in base:
            stats[f.code] += 1
        body(spec, data, base)

    check()
    report(name, stats)
    # not vacuous: most composed programs are flagged, and several rules fire
    assert stats["with findings"] >= stats["programs"] // 2
    assert sum(1 for k in stats if k.startswith("PKL")) >= 3


def test_aliasing_an_import_keeps_the_findings() -> None:
    def body(spec, data, base):
        alias = data.draw(st.sampled_from(ALIASES), label="alias")
        variant = program(**spec, alias=alias)
        assert lines_and_codes(findings_of(variant)) == lines_and_codes(base), variant

    _metamorphic(200, "alias", body)


def test_renaming_variables_keeps_the_findings() -> None:
    def body(spec, data, base):
        names = data.draw(st.lists(st.sampled_from(NAMES), min_size=len(spec["steps"]) + 1,
                                   max_size=len(spec["steps"]) + 1, unique=True), label="names")
        mask = data.draw(st.sampled_from(["mask", "valid", "m", "keep"]), label="mask name")
        variant = program(**spec, names=names, mask=mask)
        assert lines_and_codes(findings_of(variant)) == lines_and_codes(base), variant

    _metamorphic(200, "rename", body)


def test_moving_a_step_into_a_helper_keeps_the_codes() -> None:
    def body(spec, data, base):
        where = data.draw(st.sampled_from([*range(len(spec["steps"]) + 1), "source", "mask"]), label="helper")
        variant = program(**spec, helper=where)
        assert codes(findings_of(variant)) == codes(base), variant

    _metamorphic(200, "helper", body)


def test_composed_programs_read_like_the_fixtures() -> None:
    """The generator's plain case is a real finding, and its masked twin is clean (so the properties above are
    about programs that matter)."""
    assert codes(findings_of(program(["torch.relu({x})"], SINKS[0]))) == ["PKL001"]
    assert codes(findings_of(program(["torch.relu({x})"], "F.cross_entropy({x}[mask], y[mask])"))) == []
    assert lines_and_codes(findings_of(program([], SINKS[0], alias="from-as"))) == [(11, "PKL001")]


# --- 3. mutated fixtures ----------------------------------------------------------------------------------------

FIXTURES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "fixtures").rglob("*.py"))
_TEXTS: dict[str, str] = {}


def _text(rel: str) -> str:
    if rel not in _TEXTS:
        _TEXTS[rel] = (ROOT / rel).read_text(encoding="utf-8")
    return _TEXTS[rel]


def _tokens(text: str) -> list[tuple[int, int, str]]:
    """(start offset, end offset, string) of the names, operators, numbers and strings of ``text``."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.NAME, tokenize.OP, tokenize.NUMBER, tokenize.STRING):
                a = starts[tok.start[0] - 1] + tok.start[1]
                b = starts[tok.end[0] - 1] + tok.end[1]
                out.append((a, b, tok.string))
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


MUTATIONS = ["delete lines", "duplicate line", "indent line", "dedent line", "swap tokens", "replace token",
             "delete token", "truncate", "swap lines"]


def mutate(text: str, kind: str, draw) -> str:
    lines = text.splitlines(keepends=True)
    pick_line = lambda label: draw(st.integers(0, max(0, len(lines) - 1)), label=label)  # noqa: E731
    if kind == "delete lines":
        first = pick_line("first line")
        count = draw(st.integers(1, 4), label="count")
        return "".join(lines[:first] + lines[first + count:])
    if kind == "duplicate line":
        i = pick_line("line")
        return "".join(lines[: i + 1] + lines[i:])
    if kind in ("indent line", "dedent line"):
        i = pick_line("line")
        line = lines[i] if lines else ""
        lines[i:i + 1] = ["    " + line if kind == "indent line" else line[4:] if line.startswith("    ") else line]
        return "".join(lines)
    if kind == "swap lines":
        i, j = pick_line("line"), pick_line("other line")
        if lines:
            lines[i], lines[j] = lines[j], lines[i]
        return "".join(lines)
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text)), label="cut")]
    tokens = _tokens(text)
    if len(tokens) < 2:
        return text
    i = draw(st.integers(0, len(tokens) - 1), label="token")
    a, b, s = tokens[i]
    if kind == "delete token":
        return text[:a] + text[b:]
    j = draw(st.integers(0, len(tokens) - 1), label="other token")
    c, d, t = tokens[j]
    if kind == "replace token":
        return text[:a] + t + text[b:]
    if i == j:
        return text
    (a, b, s), (c, d, t) = sorted([(a, b, s), (c, d, t)])
    return text[:a] + t + text[b:c] + s + text[d:]


def test_mutated_fixtures_never_crash_the_engine() -> None:
    assert len(FIXTURES) > 50
    stats: collections.Counter = collections.Counter()

    @fuzz_settings(300)
    @given(rel=st.sampled_from(FIXTURES), rounds=st.integers(1, 3), data=st.data())
    def check(rel: str, rounds: int, data) -> None:
        text = _text(rel)
        for _ in range(rounds):
            text = mutate(text, data.draw(st.sampled_from(MUTATIONS), label="mutation"), data.draw)
        result = lint_text(text, path=Path(rel).name)
        assert_no_internal_error(result, text)
        assert {p.kind for p in result.problems} <= {"syntax-error"}, result.problems
        stats["programs"] += 1
        stats["still compile" if compiles(text) else "syntax errors"] += 1
        stats["with findings"] += bool(result.findings)
        if compiles(text):
            assert not result.problems, (result.problems, text)

    check()
    report("mutated fixtures", stats)
