"""Property: after any sequence of edits, a cached run prints exactly what ``--no-cache`` prints (issue 19).

A small multi-file project (modules that import each other, a package, a nested folder with its own
``pyproject.toml``, a notebook) goes through random steps: a file written with one of a few contents that matter to
each other (an encoder whose pooling branch depends on its importers' constructions, a helper that unpacks, a
script that computes a loss, a syntax error), deleted or renamed; a configuration written or removed; nbformat made
absent or present again. Some edits happen "within one clock tick": every path that existed keeps its modification
time, as after ``cp -p`` or two writes inside one tick of a coarse file-system clock. After each step the same
command line runs with and without the cache, through the CLI, and must agree on exit code and output.

Each step checks the whole tree (``.`` as JSON, so its cache is always warm and any input missing from a key shows,
counts included) and one other command line (explicit files, a sub-folder); stdout and stderr must both agree. A modest number of examples runs in the normal suite (a few
seconds, the same examples every time); ``PACKLINT_FUZZ_EXAMPLES=500`` runs more, drawn at random.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packlint.cli import main
import sources

EXAMPLES = int(os.environ.get("PACKLINT_FUZZ_EXAMPLES", "0") or 0) or 30


HELPERS = """\
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def unpack(rnn, x, lengths):
    out, _ = pad_packed_sequence(rnn(pack_padded_sequence(x, lengths, batch_first=True))[0], batch_first=True)
    return out
"""

CONTENTS = {
    "encoder, pools by default": sources.encoder(True),
    "encoder": sources.encoder(False),
    "builds a pooling encoder": "from model import Enc\n\n\ndef run(x, lengths):\n    return Enc(pool=True)(x, lengths)\n",
    "builds a plain encoder": "from model import Enc\n\n\ndef run(x, lengths):\n    return Enc(pool=False)(x, lengths)[:, -1]\n",
    "unpack helper": HELPERS,
    "loss on the helper": "import torch.nn.functional as F\nfrom helpers import unpack\n\n\ndef step(rnn, x, lengths, y):\n"
                          "    out = unpack(rnn, x, lengths)\n    return F.cross_entropy(out.flatten(0, 1), y.flatten())\n",
    "loss on the package helper": "import torch.nn.functional as F\nfrom pkg.helpers import unpack\n\n\n"
                                  "def step(rnn, x, lengths, y):\n    out = unpack(rnn, x, lengths)\n"
                                  "    return F.cross_entropy(out.flatten(0, 1), y.flatten())\n",
    "re-exports the helper": "from .helpers import unpack\n",
    "syntax error": "from torch.nn.utils.rnn import pad_packed_sequence\ndef broken(:\n",
    "empty": "",
}

FILES = ["model.py", "main.py", "helpers.py", "train.py", "pkg/__init__.py", "pkg/helpers.py", "sub/model.py",
         "sub/train.py"]

CONFIGS = {
    "pyproject.toml": ['[tool.packlint]\n', '[tool.packlint]\nignore = ["PKL005"]\n', '[project]\nname = "x"\n'],
    "sub/pyproject.toml": ['[tool.packlint]\nignore = ["PKL001"]\n', '[tool.packlint]\nselect = ["PKL003"]\n',
                           '[project]\nname = "sub"\n'],
}

NOTEBOOK = """\
{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"metadata": {}, "cells": [
 {"cell_type": "code", "language": "python", "collapsed": false, "metadata": {}, "outputs": [], "input": [
  "import torch.nn.functional as F\\n", "from helpers import unpack\\n",
  "loss = F.cross_entropy(unpack(rnn, x, lengths).flatten(0, 1), y.flatten())\\n"]}]}]}
"""
NOTEBOOKS = [NOTEBOOK, NOTEBOOK.replace('"metadata": {}, "outputs"', '"outputs"').replace('"nbformat": 3', '"nbformat": 4'),
             "{not json"]

# every file of the tree starts with a content that gives or takes a finding elsewhere, so that most steps matter
BASE = [("model.py", "encoder"), ("helpers.py", "unpack helper"), ("main.py", "builds a pooling encoder"),
        ("train.py", "loss on the helper"), ("sub/train.py", "loss on the helper"), ("pkg/__init__.py", "empty"),
        ("pkg/helpers.py", "unpack helper"), ("sub/model.py", "loss on the package helper")]

COMMANDS = [(".",), ("train.py",), ("main.py", "model.py"), ("sub",), ("nb.ipynb", "helpers.py")]

same_tick = st.booleans()
steps = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(FILES), st.sampled_from(sorted(CONTENTS)), same_tick),
    st.tuples(st.just("delete"), st.sampled_from(FILES + sorted(CONFIGS) + ["nb.ipynb"]), same_tick),
    st.tuples(st.just("rename"), st.sampled_from(FILES + sorted(CONFIGS)), st.sampled_from(FILES + sorted(CONFIGS)),
              same_tick),
    st.tuples(st.just("config"), st.sampled_from(sorted(CONFIGS)), st.integers(0, 2), same_tick),
    st.tuples(st.just("notebook"), st.integers(0, len(NOTEBOOKS) - 1), same_tick),
    st.tuples(st.just("nbformat"), st.booleans()),
)


@contextlib.contextmanager
def times_kept(root: Path, keep: bool):
    """With ``keep``, every path that existed keeps its modification time; new ones get the oldest."""
    if not keep:
        yield
        return
    before = {p: p.stat().st_mtime_ns for p in [root, *root.rglob("*")]}
    yield
    oldest = min(before.values())
    for p in [root, *root.rglob("*")]:
        t = before.get(p, oldest)
        os.utime(p, ns=(t, t))


def apply(root: Path, step: tuple) -> None:
    kind = step[0]
    if kind == "write":
        _, name, content, _ = step
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(CONTENTS[content], encoding="utf-8")
    elif kind == "delete":
        (root / step[1]).unlink(missing_ok=True)
    elif kind == "rename":
        _, src, dst, _ = step
        if (root / src).exists() and src != dst:
            (root / dst).parent.mkdir(parents=True, exist_ok=True)
            os.replace(root / src, root / dst)
    elif kind == "config":
        _, name, which, _ = step
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(CONFIGS[name][which], encoding="utf-8")
    elif kind == "notebook":
        (root / "nb.ipynb").write_text(NOTEBOOKS[step[1]], encoding="utf-8")


def run(args: tuple[str, ...], nbformat_absent: bool):
    with contextlib.ExitStack() as stack:
        if nbformat_absent:
            saved = sys.modules.get("nbformat", ...)
            sys.modules["nbformat"] = None  # `import nbformat` fails, as when it is not installed
            stack.callback(lambda: sys.modules.pop("nbformat") if saved is ... else
                           sys.modules.__setitem__("nbformat", saved))
        result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    stdout = result.stdout
    if "json" in args and result.exit_code in (0, 1, 2) and stdout.startswith("{"):
        data = json.loads(stdout)
        data["summary"].pop("files_parsed")  # how much work was done, the one number a cache exists to change
        stdout = json.dumps(data, indent=1)
    return result.exit_code, stdout, result.stderr


@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 30,
          suppress_health_check=[HealthCheck.too_slow])
@given(start=st.lists(st.tuples(st.sampled_from(FILES), st.sampled_from(sorted(CONTENTS))), max_size=3),
       edits=st.lists(st.tuples(steps, st.sampled_from(COMMANDS)), min_size=1, max_size=7))
def test_a_cached_run_prints_what_an_uncached_run_prints(start, edits) -> None:
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        root = Path(tmp)
        for name, content in [*BASE, *start]:
            apply(root, ("write", name, content, False))
        for p in [root, *root.rglob("*")]:
            os.utime(p, (978_307_200, 978_307_200))  # an old tree: the run manifest is recorded from the start
        nbformat_absent = False
        for step, args in edits:
            if step[0] == "nbformat":
                nbformat_absent = step[1]
            else:
                with times_kept(root, step[-1]):
                    apply(root, step)
            # the whole tree every time, as JSON (counts, trails, errors): its cache is always warm
            for command in dict.fromkeys([("--output-format", "json", "."), args]):
                cached = run(command, nbformat_absent)
                uncached = run(("--no-cache", *command), nbformat_absent)
                assert cached == uncached, (step, command)
