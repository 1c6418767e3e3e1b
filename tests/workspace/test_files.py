"""Ignore rules: the root .gitignore with git's semantics, plus .git and .overseer always."""

from __future__ import annotations

from pathlib import Path

import pytest

from overseer.workspace.files import IgnoreRules


@pytest.fixture
def rules(workspace: Path) -> IgnoreRules:
    (workspace / ".gitignore").write_text(
        "# build output\n*.log\n!important.log\nbuild/\n/only-at-root.txt\nvendor/\n!vendor/keep.py\n"
    )
    return IgnoreRules.load(workspace)


@pytest.mark.parametrize(
    ("path", "is_dir", "ignored"),
    [
        ("app.py", False, False),
        ("debug.log", False, True),
        ("deep/down/debug.log", False, True),
        ("important.log", False, False),
        ("build", True, True),
        ("build", False, False),  # `build/` names directories only
        ("build/out/x.o", False, True),
        ("only-at-root.txt", False, True),
        ("sub/only-at-root.txt", False, False),
        ("vendor/keep.py", False, True),  # as in git: no re-including inside an ignored directory
        ("./debug.log", False, True),
        ("", True, False),
    ],
)
def test_gitignore_rules_follow_git(rules: IgnoreRules, path: str, is_dir: bool, ignored: bool) -> None:
    assert rules.ignored(path, is_dir=is_dir) is ignored


@pytest.mark.parametrize(
    ("path", "is_dir"),
    [
        (".git", True),
        (".git/index", False),
        ("sub/.git", False),
        (".overseer", True),
        (".overseer/db", False),
    ],
)
def test_git_and_overseer_dirs_are_always_ignored(workspace: Path, path: str, is_dir: bool) -> None:
    assert IgnoreRules.load(workspace).ignored(path, is_dir=is_dir)


def test_a_workspace_without_gitignore_ignores_only_the_defaults(workspace: Path) -> None:
    rules = IgnoreRules.load(workspace)

    assert not rules.ignored("debug.log")
    assert not rules.ignored("src/app.py")
