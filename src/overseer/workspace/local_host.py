"""This machine as a `Host`: subprocesses and pathlib, as overseer has always worked locally.

A command runs in a session (process group) of its own, so that the kill after its timeout reaches
everything it started: a hung test server left behind would hold the output pipe open and keep
overseer waiting forever.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath

from overseer.workspace.host import Completed, Host

KILL_GRACE_S = 5.0  # how long to wait for output after killing a timed-out command


class LocalHost:
    """The Host protocol on this machine. Stateless: the one instance `LOCAL` serves everyone."""

    @property
    def label(self) -> str:
        return "local"

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
        with subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=_environment(env, unset_prefixes),
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,  # never the terminal
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            start_new_session=os.name == "posix",
        ) as proc:
            try:
                stdout, stderr = proc.communicate(stdin, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                return _kill(proc)
            return Completed(proc.returncode, stdout, stderr or b"")

    def read_bytes(self, path: PurePath) -> bytes:
        return Path(path).read_bytes()

    def write_bytes(self, path: PurePath, data: bytes) -> None:
        Path(path).write_bytes(data)

    def exists(self, path: PurePath) -> bool:
        return Path(path).exists()

    def is_file(self, path: PurePath) -> bool:
        return Path(path).is_file()

    def mkdir(self, path: PurePath) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)

    def unlink(self, path: PurePath) -> None:
        Path(path).unlink(missing_ok=True)

    def mkdtemp(self, prefix: str) -> PurePath:
        return Path(tempfile.mkdtemp(prefix=prefix))

    def rmtree(self, path: PurePath) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def which(self, program: str) -> str | None:
        return shutil.which(program)


LOCAL = LocalHost()


def is_local(host: Host) -> bool:
    """The host is this machine: its paths are `Path`s, its interpreter is overseer's own."""
    return isinstance(host, LocalHost)


def _environment(env: Mapping[str, str | None] | None, unset_prefixes: Sequence[str]) -> dict[str, str]:
    prefixes = tuple(unset_prefixes)
    merged = {key: value for key, value in os.environ.items() if not (prefixes and key.startswith(prefixes))}
    for key, value in (env or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _kill(proc: subprocess.Popen[bytes]) -> Completed:
    """Kill the process group and return whatever output it had written."""
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.kill()
    try:
        stdout, stderr = proc.communicate(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:  # a grandchild escaped the group and holds the pipe
        proc.kill()
        return Completed(None, b"", b"")
    return Completed(None, stdout, stderr or b"")
