"""Running a gate's command: its own process group, a timeout, and nothing left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

_KILL_GRACE_S = 5.0  # how long to wait for output after killing a timed-out command


@dataclass(frozen=True)
class CommandRun:
    exit_code: int | None  # None: killed after the timeout
    output: str  # stdout and stderr, interleaved as they were written


def run_command(command: list[str], cwd: Path, timeout_s: float) -> CommandRun:
    """Run `command` in `cwd`; on timeout kill it and everything it started.

    Its own session (process group) lets the kill reach grandchildren too: a hung test server
    left behind would hold the output pipe open and keep overseer waiting forever.
    """
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ in the workspace from our own run
        "COLUMNS": "250",  # pytest trims failure reasons to the terminal width, 80 without a tty
    }
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,  # a test waiting for input must fail, not hang
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=os.name == "posix",
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return CommandRun(exit_code=None, output=_kill(proc))
        return CommandRun(exit_code=proc.returncode, output=output)


def _kill(proc: subprocess.Popen[str]) -> str:
    """Kill the process group and return whatever output it had written."""
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.kill()
    try:
        output, _ = proc.communicate(timeout=_KILL_GRACE_S)
    except subprocess.TimeoutExpired:  # a grandchild escaped the group and holds the pipe
        proc.kill()
        return ""
    return output
