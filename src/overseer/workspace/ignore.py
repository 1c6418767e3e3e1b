"""Which workspace paths overseer leaves alone: the root `.gitignore`, plus its own and git's dirs.

Only the root `.gitignore` is read (nested `.gitignore` files are not), which covers what the watcher
needs; the checkpoints hand ignore rules to git itself, which honours every level.
"""

from __future__ import annotations

from pathlib import Path

from pathspec import GitIgnoreSpec

# `.git` without a slash: a worktree or submodule has a `.git` *file*; git never tracks either.
ALWAYS_IGNORED: tuple[str, ...] = (".git", ".overseer/")


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
