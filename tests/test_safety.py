"""Safety and fault handling through the real CLI: code is never executed, timeouts and --debug, concurrent runs
sharing one cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from packlint.cli import main

HOSTILE_IMPORT = """\
import socket
from pathlib import Path
from torch.nn.utils.rnn import pad_packed_sequence

Path(__file__).with_name("EXECUTED").write_text("packlint ran me")
socket.create_connection(("127.0.0.1", 9))


def f(packed):
    out, _ = pad_packed_sequence(packed, batch_first=True)
    return out[:, -1]
"""

BAD = """\
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_packed_sequence


def loss_fn(packed, y):
    out, _ = pad_packed_sequence(packed, batch_first=True)
    return F.mse_loss(out, y)
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_linting_never_executes_the_code(tmp_path: Path) -> None:
    (tmp_path / "evil.py").write_text(HOSTILE_IMPORT, encoding="utf-8")
    (tmp_path / "importer.py").write_text("import evil\nfrom evil import f\n", encoding="utf-8")
    result = run("--no-cache", str(tmp_path))
    assert result.exit_code == 1 and ": PKL003 " in result.stdout
    assert not (tmp_path / "EXECUTED").exists()


def test_file_timeout_is_a_problem_line(tmp_path: Path, monkeypatch) -> None:
    """The budget is wall-clock time, so the test's clock is one that ticks per reading: 1 ms each time the
    interpreter looks. Whether 0.1 s is passed then depends on the work done, not on how fast this machine is."""
    import itertools
    import time

    ticks = itertools.count()
    monkeypatch.setattr(time, "monotonic", lambda: next(ticks) * 1e-3)
    body = "\n".join(f"    x{i} = out.view(-1, 3).relu().reshape(2, -1).transpose(0, 1)" for i in range(2000))
    (tmp_path / "slow.py").write_text("from torch.nn.utils.rnn import pad_packed_sequence\n\n\ndef f(packed):\n"
                                      "    out, _ = pad_packed_sequence(packed)\n" + body + "\n", encoding="utf-8")
    (tmp_path / "bad.py").write_text(BAD, encoding="utf-8")
    result = run("--no-cache", "--file-timeout", "0.1", str(tmp_path))
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert any(ln.startswith(f"{tmp_path / 'slow.py'}:4:1: error: timeout: analysis of f took longer than 0.1 s")
               for ln in lines), lines
    assert any(": PKL001 " in ln and "bad.py" in ln for ln in lines)


def test_debug_prints_the_traceback_of_an_internal_error(tmp_path: Path, monkeypatch) -> None:
    from packlint.analysis.expressions import Expressions

    def boom(self, node):
        raise ValueError("injected")

    monkeypatch.setattr(Expressions, "eval_Call", boom)
    (tmp_path / "bad.py").write_text(BAD, encoding="utf-8")
    quiet = run("--no-cache", str(tmp_path / "bad.py"))
    loud = run("--no-cache", "--debug", str(tmp_path / "bad.py"))
    assert quiet.exit_code == loud.exit_code == 2
    assert "internal-error" in quiet.stdout and "Traceback" not in quiet.output
    assert "Traceback (most recent call last)" in loud.stderr and "ValueError: injected" in loud.stderr


def test_two_processes_sharing_a_cache_agree_and_leave_it_valid(tmp_path: Path) -> None:
    import json

    for i in range(30):
        (tmp_path / f"m{i}.py").write_text(BAD.replace("loss_fn", f"loss_{i}"), encoding="utf-8")
    cmd = [sys.executable, "-m", "packlint.cli", "-q", "."]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [1, 1]
    assert outs[0][0] == outs[1][0] and outs[0][0].count(": PKL001 ") == 30
    entries = sorted((tmp_path / ".packlint_cache").rglob("*.json"))
    assert entries and all(json.loads(e.read_text(encoding="utf-8"))["key"] == e.stem for e in entries)
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.stdout == outs[0][0]
