"""benchmarks/real_repos.py end to end, without the network: a bare mirror the test builds, two pinned commits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "real_repos.py"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

HEADER = """import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
"""

LOSS = """

def loss(rnn, x, lengths, y):
    out, _ = pad_packed_sequence(rnn(pack_padded_sequence(x, lengths, batch_first=True))[0], batch_first=True)
    return F.cross_entropy(out.reshape(-1, out.size(-1)), y.reshape(-1))
"""

LAST = """

def last(rnn, x, lengths):
    out, _ = pad_packed_sequence(rnn(pack_padded_sequence(x, lengths, batch_first=True))[0], batch_first=True)
    return out[:, -1]
"""


def _git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    proc = subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def _packlint() -> str:
    exe = Path(sys.executable).parent / "packlint"
    found = str(exe) if exe.is_file() else shutil.which("packlint")
    if not found:
        pytest.skip("no packlint executable beside this interpreter")
    return found


def _toml(path: Path, commit: str) -> Path:
    path.write_text(f'[[repo]]\nname = "tiny"\nurl = "https://github.com/acme/tiny"\ncommit = "{commit}"\n'
                    'why = "a loss over padded steps"\n', encoding="utf-8")
    return path


@pytest.fixture()
def mirror(tmp_path: Path) -> tuple[Path, str, str]:
    """A bare mirror at mirrors/acme+tiny/repo (the fetch tool's layout) holding two commits."""
    src = tmp_path / "src"
    src.mkdir()
    _git("init", "-q", cwd=src)
    (src / "pkg").mkdir()
    (src / "pkg" / "model.py").write_text(HEADER + LOSS, encoding="utf-8")
    (src / "README.md").write_text("tiny\n", encoding="utf-8")
    _git("add", "-A", cwd=src)
    _git("commit", "-q", "-m", "one", cwd=src)
    first = _git("rev-parse", "HEAD", cwd=src)
    # the second commit moves the loss two lines down and adds a last-step read
    (src / "pkg" / "model.py").write_text("# moved\n\n" + HEADER + LOSS + LAST, encoding="utf-8")
    _git("commit", "-q", "-am", "two", cwd=src)
    second = _git("rev-parse", "HEAD", cwd=src)
    mirrors = tmp_path / "mirrors"
    mirrors.mkdir()
    _git("clone", "-q", "--bare", str(src), str(mirrors / "acme+tiny" / "repo"))
    return mirrors, first, second


def test_checkout_lint_compare(tmp_path: Path, mirror: tuple[Path, str, str]) -> None:
    mirrors, first, second = mirror
    packlint = _packlint()
    runs = {}
    for label, commit in (("a", first), ("b", second)):
        toml = _toml(tmp_path / f"{label}.toml", commit)
        work = tmp_path / f"work_{label}"
        proc = _run("checkout", "--toml", str(toml), "--mirrors", str(mirrors), "--work", str(work))
        assert proc.returncode == 0, proc.stderr
        assert (work / "tiny" / "pkg" / "model.py").is_file() and (work / "tiny" / "README.md").is_file()
        assert not (work / "tiny" / ".git").exists()
        again = _run("checkout", "--toml", str(toml), "--mirrors", str(mirrors), "--work", str(work))
        assert again.returncode == 0 and "already at" in again.stdout
        out = tmp_path / f"{label}.json"
        proc = _run("lint", "--toml", str(toml), "--work", str(work), "--packlint", packlint, "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        runs[label] = out

    a = json.loads(runs["a"].read_text(encoding="utf-8"))["repos"]["tiny"]
    b = json.loads(runs["b"].read_text(encoding="utf-8"))["repos"]["tiny"]
    assert a["commit"] == first and b["commit"] == second
    assert [(f["code"], f["path"], f["line"]) for f in a["findings"]] == [("PKL001", "pkg/model.py", 7)]
    assert a["by_code"] == {"PKL001": 1} and a["problems"] == 0 and a["files_checked"] == 1
    assert [(f["code"], f["line"]) for f in b["findings"]] == [("PKL001", 9), ("PKL003", 14)]
    assert b["findings"] == sorted(b["findings"], key=lambda f: (f["path"], f["line"], f["code"], f["message"]))

    cmp1 = _run("compare", str(runs["a"]), str(runs["b"]))
    cmp2 = _run("compare", str(runs["a"]), str(runs["b"]))
    assert cmp1.returncode == 0 and cmp1.stdout == cmp2.stdout
    lines = cmp1.stdout.splitlines()
    assert lines[0] == "== tiny: +2 -1 (A 1, B 2); commit " + f"{first[:12]} -> {second[:12]}"
    assert lines[1].startswith("  - PKL001 pkg/model.py:7 ")
    assert lines[2].startswith("  + PKL001 pkg/model.py:9 ")
    assert lines[3].startswith("  + PKL003 pkg/model.py:14 ")
    assert lines[-1] == "3 findings changed"
    same = _run("compare", str(runs["a"]), str(runs["a"]))
    assert same.stdout.splitlines() == ["no finding changed"]

    table = _run("summary", str(runs["b"]))
    assert table.returncode == 0 and "| tiny | " + second[:12] + " | 1 (1) | 1 | 1 | 2 | 0 |" in table.stdout


def test_checkout_refuses_unknown_commits_and_foreign_folders(tmp_path: Path, mirror: tuple[Path, str, str]) -> None:
    mirrors, _first, _second = mirror
    work = tmp_path / "work"
    bad = _run("checkout", "--toml", str(_toml(tmp_path / "bad.toml", "0" * 40)), "--mirrors", str(mirrors),
               "--work", str(work))
    assert bad.returncode == 1 and "is not in" in bad.stderr and not (work / "tiny").exists()
    (work / "tiny").mkdir(parents=True)
    (work / "tiny" / "mine.txt").write_text("keep\n", encoding="utf-8")
    foreign = _run("checkout", "--toml", str(_toml(tmp_path / "a.toml", _first)), "--mirrors", str(mirrors),
                   "--work", str(work))
    assert foreign.returncode == 1 and (work / "tiny" / "mine.txt").is_file()
    nomirror = _run("checkout", "--toml", str(tmp_path / "a.toml"), "--mirrors", str(tmp_path / "none"),
                    "--work", str(tmp_path / "w2"))
    assert nomirror.returncode == 1 and "no git mirror" in nomirror.stderr


def test_pinned_list_is_well_formed() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import real_repos
    finally:
        sys.path.pop(0)
    repos = real_repos.load_repos(real_repos.DEFAULT_TOML)
    assert len(repos) >= 20
    assert all(r["url"].startswith("https://github.com/") for r in repos)
    assert len({real_repos.owner_name(r["url"]).lower() for r in repos}) == len(repos)
