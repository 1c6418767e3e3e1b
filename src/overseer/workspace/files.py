"""The one definition of "an ignored file" and of "a test file", for every part of overseer.

Ignored: the root `.gitignore`, plus overseer's own and git's dirs. Only the root `.gitignore` is
read (nested ones are not), which covers what the watcher needs; the checkpoints hand ignore rules
to git itself, which honours every level.

A test file is what pytest collects by default (`test_*.py`, `*_test.py`) outside the directories
it never recurses into; a test configuration file is one that can change what pytest collects or
how it runs. The gates, the validator, the tamper check and the watcher all ask here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from pathspec import GitIgnoreSpec

# `.git` without a slash: a worktree or submodule has a `.git` *file*; git never tracks either.
STATE_DIR = ".overseer"  # overseer's store, snapshots and caches in a workspace: never the agent's
ALWAYS_IGNORED: tuple[str, ...] = (".git", STATE_DIR + "/")


class IgnoreRules:
    """Gitignore matching over paths relative to the workspace root, with forward slashes."""

    def __init__(self, lines: list[str]) -> None:
        self._spec = GitIgnoreSpec.from_lines([*ALWAYS_IGNORED, *lines])

    @classmethod
    def load(cls, workspace: Path) -> IgnoreRules:
        gitignore = workspace / ".gitignore"
        text = gitignore.read_text(encoding="utf-8", errors="replace") if gitignore.is_file() else ""
        return cls(text.splitlines())

    def ignored(self, rel_path: str, *, is_dir: bool = False) -> bool:
        parts = [part for part in rel_path.replace("\\", "/").split("/") if part not in ("", ".")]
        if not parts:
            return False
        # As in git, nothing inside an ignored directory can be re-included by a later `!pattern`,
        # so each ancestor directory is asked first.
        for depth in range(1, len(parts)):
            if self._spec.match_file("/".join(parts[:depth]) + "/"):
                return True
        path = "/".join(parts)
        return self._spec.match_file(path + "/" if is_dir else path)


# pytest's own `norecursedirs` defaults (and the hidden dirs it skips): a test file there is not the
# project's.
_NOT_COLLECTED_DIRS = frozenset({"node_modules", "venv", "build", "dist", "CVS", "_darcs", "{arch}", "__pycache__"})
# Files whose edits can change which tests pytest collects, how it runs them, or what they see.
TEST_CONFIG_NAMES = frozenset({"conftest.py", "pytest.ini", ".pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini"})


def _collected_dir(name: str) -> bool:
    return not (name.startswith(".") or name.endswith(".egg") or name in _NOT_COLLECTED_DIRS)


def is_test_file(path: str) -> bool:
    """A file pytest collects tests from by default; `path` is relative, with forward slashes."""
    pure = PurePosixPath(path)
    if not all(_collected_dir(part) for part in pure.parts[:-1]):
        return False
    return pure.suffix == ".py" and (pure.name.startswith("test_") or pure.name.endswith("_test.py"))


def is_test_config(path: str) -> bool:
    """A file that can change what the tests collect or how they run (conftest.py, pytest.ini...)."""
    return PurePosixPath(path).name in TEST_CONFIG_NAMES


def touches_tests(path: str) -> bool:
    """A test file, a test configuration file, or anything under a `tests`/`test` directory
    (helpers, fixtures, data): editing it can change what the tests prove."""
    parts = PurePosixPath(path).parts
    return is_test_file(path) or is_test_config(path) or any(part in ("tests", "test") for part in parts[:-1])


def project_files(workspace: Path, rules: IgnoreRules | None = None) -> Iterator[str]:
    """Every file of the workspace that is not ignored, as sorted relative paths, walking lazily."""
    rules = rules or IgnoreRules.load(workspace)
    for root, dirs, files in os.walk(workspace):
        rel_root = Path(root).relative_to(workspace).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        dirs[:] = sorted(d for d in dirs if not rules.ignored(prefix + d, is_dir=True))
        yield from (prefix + f for f in sorted(files) if not rules.ignored(prefix + f))


def test_files(workspace: Path) -> Iterator[str]:
    """The workspace's test files (not ignored, collected by pytest by default)."""
    return (path for path in project_files(workspace) if is_test_file(path))
