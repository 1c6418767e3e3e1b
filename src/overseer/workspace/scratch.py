"""Throwaway copies of snapshots: where overseer runs the tests, examples and linters it trusts.

The agent cannot touch a scratch copy (it is made from a shadow-git snapshot after the attempt, in
a temp directory of overseer's own), and nothing run there can change the workspace. Copies are
cheap (git writes the files from its object store) and all removed when the `Scratch` closes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from overseer.workspace.checkpoints import Checkpoints


class Scratch:
    def __init__(self, checkpoints: Checkpoints) -> None:
        self.checkpoints = checkpoints
        self._root = Path(tempfile.mkdtemp(prefix="overseer-scratch-"))
        self._count = 0

    def copy(self, sha: str, name: str = "tree") -> Path:
        """A fresh directory holding snapshot `sha`, free to change (each call makes a new one)."""
        self._count += 1
        dest = self._root / f"{self._count:02d}-{name}"
        dest.mkdir()
        self.checkpoints.export(sha, dest)
        return dest

    def close(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> Scratch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
