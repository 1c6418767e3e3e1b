"""Throwaway copies of snapshots: where overseer runs the tests, examples and linters it trusts.

The agent cannot touch a scratch copy (it is made from a shadow-git snapshot after the attempt, in
a temp directory of overseer's own), and nothing run there can change the workspace. Copies are
cheap (git writes the files from its object store) and all removed when the `Scratch` closes.

The copies live on the workspace's host, beside its shadow repository: on another machine the
gates run there too, and overseer's own scripts they need (the pytest plugin, the examples runner)
are uploaded into the scratch area once (`tool`).
"""

from __future__ import annotations

from pathlib import Path, PurePath
from types import TracebackType

from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.host import Host
from overseer.workspace.local_host import is_local

_TOOLS = ".tools"  # in the scratch root: overseer's own files, uploaded to a remote host


class Scratch:
    def __init__(self, checkpoints: Checkpoints) -> None:
        self.checkpoints = checkpoints
        self._root = self.host.mkdtemp("overseer-scratch-")
        self._count = 0
        self._tools: dict[Path, PurePath] = {}

    @property
    def host(self) -> Host:
        return self.checkpoints.host

    def copy(self, sha: str, name: str = "tree") -> PurePath:
        """A fresh directory holding snapshot `sha`, free to change (each call makes a new one)."""
        dest = self.directory(name)
        self.checkpoints.export(sha, dest)
        return dest

    def directory(self, name: str) -> PurePath:
        """A fresh empty directory in the scratch area (each call makes a new one)."""
        self._count += 1
        dest = self._root / f"{self._count:02d}-{name}"
        self.host.mkdir(dest)
        return dest

    def tool(self, path: Path) -> PurePath:
        """Where the host reads `path`, one of overseer's own files (a script a gate runs): in place
        on this machine; on another, a copy uploaded into the scratch area on first use."""
        if is_local(self.host):
            return path
        if path not in self._tools:
            tools = self._root / _TOOLS
            self.host.mkdir(tools)
            self.host.write_bytes(tools / path.name, path.read_bytes())
            self._tools[path] = tools / path.name
        return self._tools[path]

    def close(self) -> None:
        self.host.rmtree(self._root)

    def __enter__(self) -> Scratch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
