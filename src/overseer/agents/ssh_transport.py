"""The `claude` CLI on another machine, over SSH, with this process's stdin, stdout and stderr as its own.

claude-agent-sdk starts its CLI as a child process and talks stream-json over its stdio. Pointed at
`ssh_exec.sh` (its `cli_path`), it starts this module instead: one SSH connection (`open_connection`,
the same client, key and known_hosts checks as `SSHHost`), an exec channel running the CLI in the
remote workspace, and its streams pumped both ways, so the SDK, its hooks and its in-process MCP
servers work as they do with a local CLI. The exit code is the CLI's; 255 (ssh's own) when the
connection could not be opened or was lost.

- The environment crosses on the channel's stdin, never on a command line (which anyone on the
  remote host can read in `ps`): a small reader takes the first lines of stdin as the prologue
  (`ssh_script.command_script`: cd, exports, program lookup, pid) and evals it; the CLI then reads
  the rest of stdin, the SDK's stream. Only ANTHROPIC_* and CLAUDE_* cross (less CLAUDE_CONFIG_DIR,
  a path on this machine), with the names the agent lists (`remote_environ`).
- The lifeline. sshd gives a pty-less command no SIGHUP when its connection goes: the CLI would
  carry on unseen. So a second channel runs a watchdog that kills the CLI's process group (sshd
  made it a session leader) when its stdin ends (the connection closed, this process died) or when
  this side's heartbeat stops arriving (a cut network that closes nothing), and when the run ends.

What to run where comes from the environment the agent gave the SDK (`launch_environ`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import shlex
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

import asyncssh
from pydantic import ValidationError

from overseer.errors import HostError
from overseer.workspace.ssh_host import SSHSettings, open_connection
from overseer.workspace.ssh_script import MARK, command_script

LAUNCHER = Path(__file__).with_name("ssh_exec.sh")
PREFIX = "OVERSEER_SSH_"
SAYS = "overseer-ssh:"  # how this module's own lines on stderr start (the agent looks for them)
LOST = 255  # ssh's own exit code when the connection fails
LOST_WHILE = "was lost while the CLI ran"  # how a lost connection is told on stderr
# The CLI's own settings and the model's credentials (the SDK adds CLAUDE_CODE_ENTRYPOINT and others).
_CROSSING_PREFIXES = ("ANTHROPIC_", "CLAUDE_")
_LOCAL_ONLY = frozenset({"CLAUDE_CONFIG_DIR"})  # names a directory on this machine; set a remote one in `env`
_CHUNK = 65536
_BEAT = b"."
_FAILURES = {  # what the prologue says when the command cannot start
    b"fail cwd": "no such workspace directory there",
    b"fail missing": "no such program there (check agent.options.remote_cli and the login PATH)",
}
# Reads the prologue's N lines from stdin (byte by byte, as `read` does on a pipe: the CLI gets the
# rest untouched), then evals it: the environment never appears in an argv.
_READER = (
    'n={lines}; script=; while [ "$n" -gt 0 ] && IFS= read -r line; do script="$script$line\n"; n=$((n - 1)); done; '
    'eval "$script"'
)
# The lifeline, run as `sh -c LIFELINE sh TIMEOUT PID`: waits until its stdin ends, or no heartbeat
# came for TIMEOUT s (`timeout` is coreutils; without it, the end of stdin only), then kills the CLI's
# process group and every process under the CLI: stopped first, so none forks away meanwhile (its Bash
# commands run in sessions of their own, and they outlive it).
_LIFELINE = """if command -v timeout >/dev/null 2>&1; then
  while [ -n "$(timeout "$1" head -c 1)" ]; do :; done
else cat >/dev/null; fi
tree() { ps -e -o pid= -o ppid= 2>/dev/null | awk -v root="$1" '{ up[$1] = $2 }
  END { for (p in up) { q = p; while (q != root && (q in up) && q > 1) q = up[q]; if (q == root) print p } }'; }
kill -s STOP -- "-$2" $(tree "$2") 2>/dev/null
kill -s KILL -- "-$2" $(tree "$2") 2>/dev/null
exit 0
"""


def launch_environ(*, settings: SSHSettings, workspace: str, cli: str, passed: Sequence[str]) -> dict[str, str]:
    """The variables `ssh_exec.sh` and this module read: the host and how to log in, the remote
    workspace, the CLI's path there, and the names passed through as they are."""
    return {
        f"{PREFIX}PYTHON": sys.executable,
        f"{PREFIX}SETTINGS": settings.model_dump_json(),
        f"{PREFIX}WORKSPACE": workspace,
        f"{PREFIX}CLI": cli,
        f"{PREFIX}PASS": json.dumps(list(passed)),
    }


def remote_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The CLI's environment on the remote host, set over the login one: ANTHROPIC_* and CLAUDE_*
    (less the local-only names) and the names listed to pass."""
    passed = set(json.loads(environ.get(f"{PREFIX}PASS", "[]")))
    return {
        name: value
        for name, value in environ.items()
        if name in passed or (name.startswith(_CROSSING_PREFIXES) and name not in _LOCAL_ONLY)
    }


def main(argv: Sequence[str]) -> int:
    environ = os.environ
    try:
        settings = SSHSettings.model_validate_json(environ[f"{PREFIX}SETTINGS"])
        workspace = PurePosixPath(environ[f"{PREFIX}WORKSPACE"])
        script = command_script([environ[f"{PREFIX}CLI"], *argv], workspace, remote_environ(environ), (), False)
    except (KeyError, ValidationError, ValueError) as exc:
        _say(f"started without what it needs (launch_environ): {exc}")
        return 2
    return asyncio.run(_session(settings, script))


async def _session(settings: SSHSettings, script: str) -> int:
    try:
        conn = await open_connection(settings)
    except HostError as exc:
        _say(str(exc))
        return LOST
    try:
        return await _run_cli(conn, settings, script)
    except HostError as exc:
        _say(str(exc))
        return LOST
    except (asyncssh.Error, OSError) as exc:
        _say(f"the connection to {settings.label} {LOST_WHILE}: {exc or type(exc).__name__}")
        return LOST
    finally:
        conn.abort()


async def _run_cli(conn: asyncssh.SSHClientConnection, settings: SSHSettings, script: str) -> int:
    reader = _READER.format(lines=script.count("\n"))
    process = await conn.create_process(f"exec /bin/sh -c {shlex.quote(reader)}", encoding=None)
    process.stdin.write(script.encode())
    stderr = asyncio.ensure_future(_pump_stderr(process.stderr))
    pid = await _prologue(process.stdout, settings.label)
    if pid is None:  # it could not start (what it said is on stderr, its exit code says why), or the connection went
        await stderr
        await process.wait_closed()
        return _finished(process.returncode, settings)
    lifeline = await conn.create_process(_lifeline(pid, settings), encoding=None)
    beats = asyncio.ensure_future(_heartbeat(lifeline.stdin, settings.keepalive_s / 3))
    threading.Thread(target=_feed, args=(asyncio.get_running_loop(), process.stdin), daemon=True).start()
    try:
        await asyncio.gather(_pump(process.stdout, 1), stderr)
        await process.wait_closed()
    finally:
        beats.cancel()
        with contextlib.suppress(OSError, asyncssh.Error):
            lifeline.stdin.write_eof()  # the run is over: whatever it left running in its group goes too
    return _finished(process.returncode, settings)


async def _prologue(stdout: asyncssh.SSHReader[bytes], label: str) -> int | None:
    """The CLI's pid, read from the prologue's line (a login script's chatter before it is dropped);
    None when the command could not start."""
    while line := await stdout.readline():
        if not line.startswith(MARK):
            continue
        head = line[len(MARK) :].strip()
        if head.startswith(b"pid ") and head[4:].isdigit():
            return int(head[4:])
        _say(f"cannot start the CLI on {label}: {_FAILURES.get(head, head.decode(errors='replace'))}")
        return None
    return None


def _lifeline(pid: int, settings: SSHSettings) -> str:
    timeout = str(max(1, round(settings.keepalive_s)))
    return f"exec /bin/sh -c {shlex.quote(_LIFELINE)} sh {timeout} {pid}"


async def _heartbeat(stdin: asyncssh.SSHWriter[bytes], every_s: float) -> None:
    with contextlib.suppress(OSError, asyncssh.Error):
        while True:
            stdin.write(_BEAT)
            await asyncio.sleep(every_s)


def _feed(loop: asyncio.AbstractEventLoop, stdin: asyncssh.SSHWriter[bytes]) -> None:
    """This process's stdin (the SDK's stream) into the CLI's, then its end. A thread of its own: a
    blocking read serves a pipe, a file or a terminal alike, and it never holds up the exit."""
    try:
        while chunk := os.read(0, _CHUNK):
            asyncio.run_coroutine_threadsafe(_send(stdin, chunk), loop).result()
        asyncio.run_coroutine_threadsafe(_send(stdin, b""), loop).result()
    except (OSError, RuntimeError, asyncssh.Error, concurrent.futures.CancelledError):
        return  # the channel or the loop is gone: the output side ends the run


async def _send(stdin: asyncssh.SSHWriter[bytes], chunk: bytes) -> None:
    if not chunk:
        stdin.write_eof()
        return
    stdin.write(chunk)
    await stdin.drain()  # the CLI reads what it was sent before more is read here


async def _pump(stream: asyncssh.SSHReader[bytes], fd: int) -> None:
    while chunk := await stream.read(_CHUNK):
        _write_all(fd, chunk)


async def _pump_stderr(stream: asyncssh.SSHReader[bytes]) -> None:
    """stderr after the prologue's mark; what came before it only when there is no mark (the shell's own error)."""
    before = bytearray()
    while line := await stream.readline():
        if line.startswith(MARK + b"stderr"):
            await _pump(stream, 2)
            return
        before += line
    _write_all(2, bytes(before))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _finished(returncode: int | None, settings: SSHSettings) -> int:
    """The CLI's exit code (killed by a signal: 128 + its number, as a shell says); no exit status
    means the channel closed without one: the connection was lost."""
    if returncode is None:
        raise HostError(f"the connection to {settings.label} {LOST_WHILE} (no exit status)")
    return 128 - returncode if returncode < 0 else returncode


def _say(message: str) -> None:
    print(f"{SAYS} {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
