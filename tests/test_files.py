"""packlint.files.discover: folders expanded, excludes and .gitignore honoured, odd paths survived."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from packlint.diagnostics import FileProblem
from packlint.files import DEFAULT_EXCLUDE, discover


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n", encoding="utf-8")


def rel(paths, root: Path) -> list[str]:
    return [Path(os.path.relpath(p, root)).as_posix() for p in paths]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    touch(
        tmp_path,
        "train.py",
        "model/net.py",
        "model/notes.txt",
        "nb/explore.ipynb",
        ".venv/lib/site.py",
        "venv/x.py",
        "build/gen.py",
        "dist/d.py",
        "pkg/__pycache__/c.py",
        "lib/site-packages/torch/t.py",
        "node_modules/n.py",
    )
    return tmp_path


def test_folders_expand_to_py_and_ipynb_sorted(tree):
    files, problems = discover([tree], root=tree)
    assert problems == []
    assert rel(files, tree) == ["model/net.py", "nb/explore.ipynb", "train.py"]


def test_output_does_not_depend_on_argument_order(tree):
    a, _ = discover([tree / "train.py", tree / "model", tree / "nb"], root=tree)
    b, _ = discover([tree / "nb", tree / "model", tree / "train.py"], root=tree)
    assert a == b


def test_a_file_reached_twice_is_listed_once(tree, monkeypatch):
    monkeypatch.chdir(tree)
    files, _ = discover([".", "train.py", "./train.py", "model/../train.py"], root=tree)
    assert [p.as_posix() for p in files].count("train.py") == 1
    assert len(files) == 3


def test_default_excludes_are_the_documented_ones(tree):
    files, _ = discover([tree], root=tree)
    for excluded in (".venv", "venv", "build", "dist", "__pycache__", "site-packages", "node_modules"):
        assert excluded in DEFAULT_EXCLUDE
        assert not any(excluded in p.parts for p in files)


def test_exclude_replaces_defaults_and_extend_exclude_adds(tree):
    files, _ = discover([tree], root=tree, exclude=["model"])
    names = rel(files, tree)
    assert "model/net.py" not in names and "build/gen.py" in names and ".venv/lib/site.py" in names
    files, _ = discover([tree], root=tree, extend_exclude=["nb", "train.py"])
    assert rel(files, tree) == ["model/net.py"]


def test_anchored_exclude_pattern_is_relative_to_root(tmp_path):
    touch(tmp_path, "pkg/cases/a.py", "other/cases/b.py")
    files, _ = discover([tmp_path], root=tmp_path, extend_exclude=["pkg/cases"])
    assert rel(files, tmp_path) == ["other/cases/b.py"]


def test_gitignored_file_is_skipped_but_linted_when_named(tmp_path):
    touch(tmp_path, "keep.py", "secret_gen.py", "sub/out/x.py", "sub/y.py")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("*_gen.py\n", encoding="utf-8")
    (tmp_path / "sub" / ".gitignore").write_text("out/\n", encoding="utf-8")
    files, _ = discover([tmp_path], root=tmp_path)
    assert rel(files, tmp_path) == ["keep.py", "sub/y.py"]
    files, _ = discover([tmp_path / "secret_gen.py"], root=tmp_path)
    assert rel(files, tmp_path) == ["secret_gen.py"]
    files, _ = discover([tmp_path], root=tmp_path, respect_gitignore=False)
    assert "secret_gen.py" in rel(files, tmp_path) and "sub/out/x.py" in rel(files, tmp_path)


def test_parent_gitignore_applies_inside_a_repository(tmp_path):
    touch(tmp_path, "src/gen/a.py", "src/b.py")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("gen/\n", encoding="utf-8")
    files, _ = discover([tmp_path / "src"], root=tmp_path)
    assert rel(files, tmp_path) == ["src/b.py"]


def test_git_info_exclude_is_honoured(tmp_path):
    touch(tmp_path, "a.py", "local.py")
    (tmp_path / ".git" / "info").mkdir(parents=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("local.py\n", encoding="utf-8")
    files, _ = discover([tmp_path], root=tmp_path)
    assert rel(files, tmp_path) == ["a.py"]


def test_deeper_gitignore_can_reinclude(tmp_path):
    touch(tmp_path, "a/keep_me.py", "a/drop.py")
    (tmp_path / ".gitignore").write_text("*.py\n", encoding="utf-8")
    (tmp_path / "a" / ".gitignore").write_text("!keep_me.py\n", encoding="utf-8")
    files, _ = discover([tmp_path], root=tmp_path)
    assert rel(files, tmp_path) == ["a/keep_me.py"]


def test_gitignore_outside_a_repository_above_the_walk_is_not_used(tmp_path):
    touch(tmp_path, "project/a.py")
    (tmp_path / ".gitignore").write_text("a.py\n", encoding="utf-8")
    files, _ = discover([tmp_path / "project"], root=tmp_path / "project")
    assert rel(files, tmp_path) == ["project/a.py"]


def test_explicit_excluded_file_is_linted_unless_force_exclude(tree):
    target = tree / "build" / "gen.py"
    assert discover([target], root=tree)[0] == [target]
    assert discover([target], root=tree, force_exclude=True) == ([], [])


def test_force_exclude_also_applies_gitignore_to_explicit_files(tmp_path):
    touch(tmp_path, "gen.py")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("gen.py\n", encoding="utf-8")
    assert discover([tmp_path / "gen.py"], root=tmp_path, force_exclude=True) == ([], [])


def test_explicit_excluded_folder_is_walked(tree):
    files, _ = discover([tree / "build"], root=tree)
    assert rel(files, tree) == ["build/gen.py"]


def test_explicit_file_with_another_suffix_is_linted(tmp_path):
    touch(tmp_path, "script")
    assert discover([tmp_path / "script"], root=tmp_path)[0] == [tmp_path / "script"]


def test_missing_path_is_an_io_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    touch(tmp_path, "a.py")
    files, problems = discover(["nope.py", "a.py"], root=tmp_path)
    assert files == [Path("a.py")]
    assert problems == [FileProblem("nope.py", "io-error", "No such file or directory")]


def test_directory_named_like_a_python_file_is_a_folder(tmp_path):
    touch(tmp_path, "x.py/inner.py")
    files, problems = discover([tmp_path], root=tmp_path)
    assert rel(files, tmp_path) == ["x.py/inner.py"] and problems == []
    assert discover([tmp_path / "x.py"], root=tmp_path)[0] == [tmp_path / "x.py" / "inner.py"]


def test_folder_with_no_python_files(tmp_path):
    touch(tmp_path, "README.md")
    assert discover([tmp_path], root=tmp_path) == ([], [])


def test_symlink_loop_and_broken_link(tmp_path):
    touch(tmp_path, "real.py")
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    (tmp_path / "broken.py").symlink_to(tmp_path / "missing.py")
    (tmp_path / "self").symlink_to(tmp_path)  # a folder link back to the root
    files, problems = discover([tmp_path], root=tmp_path)
    assert rel(files, tmp_path) == ["real.py"] and problems == []

    files, problems = discover([tmp_path / "loop_a", tmp_path / "broken.py"], root=tmp_path)
    assert files == []
    kinds = {Path(p.path).name: (p.kind, p.message) for p in problems}
    assert kinds["broken.py"] == ("io-error", "broken symbolic link")
    assert kinds["loop_a"][0] == "io-error" and "symbolic links" in kinds["loop_a"][1]


def test_links_out_of_the_tree_are_not_followed_but_inside_ones_are(tmp_path):
    outside = tmp_path / "outside"
    touch(outside, "secret.py")
    project = tmp_path / "project"
    touch(project, "a.py")
    (project / "escape.py").symlink_to(outside / "secret.py")
    (project / "alias.py").symlink_to(project / "a.py")
    (project / "linked_dir").symlink_to(outside)
    files, _ = discover([project], root=project)
    assert rel(files, project) == ["a.py"]  # alias.py is the same file as a.py: listed once


def test_fifo_in_a_walk_is_skipped_and_explicit_one_is_a_problem(tmp_path):
    os.mkfifo(tmp_path / "pipe.py")
    assert discover([tmp_path], root=tmp_path) == ([], [])
    _, problems = discover([tmp_path / "pipe.py"], root=tmp_path)
    assert [(p.kind, p.message) for p in problems] == [("io-error", "not a regular file")]
