"""Where a workspace's files live: this machine, or another one reached over SSH.

Everything overseer itself does to a workspace outside the agent (shadow-git snapshots, scratch
copies, the gates' commands and the files they read back) goes through a `Host`, so one code path
serves a local workspace and a remote one. Paths given to a host are the host's own paths: a
`PurePosixPath` for a remote one, a `Path` for this machine (a `Path` is a `PurePath` too). Code that
holds a host never calls file-system methods on such a path itself; it asks the host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Completed:
    """A finished command: its exit code (None: killed after its timeout) and what it wrote."""

    exit_code: int | None
    stdout: bytes
    stderr: bytes  # empty when stderr was merged into stdout

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


@runtime_checkable
class Host(Protocol):
    """The operations overseer needs on the machine a workspace lives on."""

    @property
    def label(self) -> str:
        """How the host is named in messages and records: "local", or "ssh://user@host:port"."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: PurePath | None = None,
        env: Mapping[str, str | None] | None = None,
        unset_prefixes: Sequence[str] = (),
        stdin: bytes | None = None,
        timeout_s: float | None = None,
        merge_stderr: bool = False,
    ) -> Completed:
        """Run `argv` (no shell) in `cwd` and wait for it.

        The environment is the host's own (this process's, for the local host; the login
        environment, for a remote one) without the variables whose names start with one of
        `unset_prefixes`, then with `env` over it (a value of None removes that name). stdin is
        `stdin`, or empty (never the terminal: a command waiting for input must fail, not hang).
        The command gets a process group of its own; after `timeout_s` the whole group is killed
        and `exit_code` is None, with what it had written so far. `merge_stderr` interleaves stderr
        into stdout as it was written. A program that cannot be started raises OSError (local) or
        HostError (remote); a command that fails is a Completed with its exit code, not an error.
        """
        ...

    def read_bytes(self, path: PurePath) -> bytes:
        """The file's bytes; FileNotFoundError when there is none."""
        ...

    def write_bytes(self, path: PurePath, data: bytes) -> None:
        """Create or replace the file (its directory must exist)."""
        ...

    def exists(self, path: PurePath) -> bool: ...

    def is_file(self, path: PurePath) -> bool: ...

    def mkdir(self, path: PurePath) -> None:
        """Make the directory and any missing parents; an existing one is fine."""
        ...

    def unlink(self, path: PurePath) -> None:
        """Remove the file; a missing one is fine."""
        ...

    def mkdtemp(self, prefix: str) -> PurePath:
        """A new private (0700) directory in the host's temp directory."""
        ...

    def rmtree(self, path: PurePath) -> None:
        """Remove the directory and everything in it; errors are ignored (it is a temp directory)."""
        ...

    def which(self, program: str) -> str | None:
        """The program's full path on the host's PATH, or None."""
        ...


@dataclass(frozen=True)
class Site:
    """Where a workspace's files are: a host, and the path there. overseer's own state (the store,
    the log, the configuration) is always in the local workspace directory; a remote workspace's
    files, snapshots and gate runs are on its host."""

    host: Host
    path: PurePath
