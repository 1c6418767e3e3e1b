"""The resident process itself: `python -m overseer.cli.resident_server SOCKET`.

It imports what commands need, then serves its socket: each `run` request is forked off into a
process that becomes the command (the caller's stdio, argv, directory, environment and umask; a
session of its own), writes its exit code back to the caller and ends. The resident reaps its forks
(a fork killed by a signal is reported as 128 + the signal, as a shell would) and exits when it has
been idle for `OVERSEER_RESIDENT_IDLE_S` seconds, when asked to stop, or on SIGTERM. One resident per
socket: a second one finds the lock taken and leaves.

Nothing runs in the resident but imports and this loop: no threads, no event loop, no open database
or log file, so a fork starts as clean as a new interpreter would, less the import time.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib
import json
import locale
import os
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO, cast

from overseer.cli.resident import DEFAULT_IDLE_S, IDLE_ENV, PROTOCOL, ResidentUnavailable, ask

# What `overseer do` imports, lazily or not (listed from its sys.modules): most of a command's
# start-up. A module that fails to import is left to fail in the command, where its error is
# reported as usual.
WARM = (
    "overseer.cli.app",
    "overseer.runtime",
    "overseer.orchestrator.loop",
    "overseer.agents.claude_code",
    "overseer.state.store",
    "overseer.state.engine",
    "overseer.supervise.judge",
    "overseer.report",
    "overseer.llm.embedded",
    "alembic.command",
    "alembic.config",
    "alembic.runtime.migration",
    "alembic.script",
    "sqlalchemy.dialects.sqlite",
    "sqlite3",
    "anyio._backends._asyncio",
    "coverage",
    "typer._adapters",
    "encodings.unicode_escape",
)
_MAX_REQUEST = 4 << 20  # argv, cwd and environment; far more than any real environment


@dataclass
class Fork:
    pid: int
    pidfd: int
    caller: socket.socket


@dataclass
class Resident:
    path: Path
    idle_s: float
    listener: socket.socket
    lock_fd: int
    started: float = field(default_factory=time.time)
    served: int = 0
    forks: dict[int, Fork] = field(default_factory=dict)  # by pidfd
    stopping: bool = False
    last_busy: float = field(default_factory=time.monotonic)

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "socket": str(self.path),
            "started": self.started,
            "served": self.served,
            "running": len(self.forks),
            "idle_exit_s": self.idle_s,
            "executable": sys.executable,
        }


def warm() -> None:
    for name in WARM:
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def main(argv: Sequence[str]) -> int:
    path = Path(argv[0])
    lock = _lock(path)
    if lock is None:
        return 0  # another resident serves this socket
    _log_to(path.with_suffix(".log"))
    warm()
    if threading.active_count() != 1:  # a fork copies only its own thread: refuse to serve half a process
        print(f"resident: an import started a thread ({threading.enumerate()}); not serving", file=sys.stderr)
        return 1
    idle_s = float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_S))
    listener = _listen(path)
    bound = os.stat(path).st_ino
    resident = Resident(path, idle_s, listener, lock)
    _retire_stale(path)
    # SIGTERM ends it now: its forks are processes of their own and report their exit codes themselves.
    signal.signal(signal.SIGTERM, _leave)
    try:
        _serve(resident, listener)
    finally:
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == bound:  # not a newer resident's
                path.unlink()
        listener.close()
        os.close(lock)
    return 0


def _lock(path: Path) -> int | None:
    fd = os.open(path.with_suffix(".lock"), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _log_to(log: Path) -> None:
    """The resident's own messages (not its commands'): start, stop, requests it could not take."""
    stream = open(log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (for the process's life)
    sys.stdout = sys.stderr = stream
    print(f"resident {os.getpid()} started at {time.strftime('%Y-%m-%d %H:%M:%S')}")


def _listen(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path.unlink(missing_ok=True)  # a dead resident's: we hold the lock, so no live one has it
    listener.bind(str(path))
    os.chmod(path, 0o600)
    listener.listen(64)
    listener.setblocking(False)
    return listener


def _retire_stale(path: Path) -> None:
    """Ask the residents of this same installation that serve older code to stop: the code they
    imported is gone for good (an edit, an upgrade), and each would idle on for its full time.
    Another installation's (another interpreter's) are left alone: they are current for theirs."""
    for other in path.parent.glob("*.lock"):
        other = other.with_suffix(".sock")
        if other == path:
            continue
        try:
            if ask(other, "status").get("executable") == sys.executable:
                ask(other, "stop")
                print(f"resident {os.getpid()}: asked the one at {other.name} (older code) to stop")
        except ResidentUnavailable:
            _remove_if_gone(other)
        except (ValueError, OSError) as exc:
            print(f"resident {os.getpid()}: {other.name} answered oddly: {exc}")


def _remove_if_gone(other: Path) -> None:
    """The files of a resident that is no more (it left, or was killed): no one answers on its socket
    and its lock is free."""
    lock = _lock(other)
    if lock is None:
        return  # alive, only slow to answer
    for leftover in (other, other.with_suffix(".log"), other.with_suffix(".lock")):
        leftover.unlink(missing_ok=True)
    os.close(lock)


def _leave(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _serve(resident: Resident, listener: socket.socket) -> None:
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listener")
    while not (resident.stopping and not resident.forks):
        idle_for = time.monotonic() - resident.last_busy
        if not resident.forks and idle_for >= resident.idle_s:
            print(f"resident {os.getpid()}: idle for {idle_for:.0f} s, leaving")
            return
        timeout = None if resident.forks else max(0.0, resident.idle_s - idle_for)
        for key, _ in selector.select(timeout):
            if key.data == "listener":
                _accept(resident, listener, selector)
            elif isinstance(key.data, Fork):
                _caller_gone(key.data, selector)
            else:
                _reap(resident, key.data, selector)
        if resident.stopping:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(listener)


def _accept(resident: Resident, listener: socket.socket, selector: selectors.BaseSelector) -> None:
    try:
        caller, _ = listener.accept()
    except BlockingIOError:
        return
    caller.setblocking(True)
    caller.settimeout(10.0)  # a caller that connects and says nothing must not hold the loop
    resident.last_busy = time.monotonic()
    try:
        message, fds, _, _ = socket.recv_fds(caller, len(PROTOCOL) + 16, 3)
        what = message.removeprefix(PROTOCOL).strip()
        if what == b"run" and len(fds) == 3:
            _fork(resident, caller, fds, selector)
            return
        if what == b"status":
            caller.sendall(json.dumps(resident.status()).encode() + b"\n")
        elif what == b"stop":
            resident.stopping = True
            caller.sendall(json.dumps({**resident.status(), "stopping": True}).encode() + b"\n")
        for fd in fds:
            os.close(fd)
    except (OSError, ValueError) as exc:
        print(f"resident: a request failed: {exc}")
    caller.close()


def _fork(resident: Resident, caller: socket.socket, fds: list[int], selector: selectors.BaseSelector) -> None:
    request = _read_request(caller)
    pid = os.fork()
    if pid == 0:  # the command
        code = 1
        try:
            selector.close()
            _let_go(resident)
            code = _become(request, fds, caller)
        finally:
            os._exit(code)
    for fd in fds:
        os.close(fd)
    caller.settimeout(None)
    caller.sendall(f"pid {pid}\n".encode())
    pidfd = os.pidfd_open(pid)
    fork = Fork(pid, pidfd, caller)
    resident.forks[pidfd] = fork
    resident.served += 1
    selector.register(pidfd, selectors.EVENT_READ, pidfd)
    selector.register(caller, selectors.EVENT_READ, fork)  # the caller says nothing more: readable = gone


def _caller_gone(fork: Fork, selector: selectors.BaseSelector) -> None:
    """The caller died (SIGKILL, a closed terminal): the command dies with it, as it would have as
    that process. Its lifeline takes the agent down with it."""
    selector.unregister(fork.caller)
    with contextlib.suppress(ProcessLookupError):
        os.kill(fork.pid, signal.SIGKILL)


def _read_request(caller: socket.socket) -> dict[str, Any]:
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = caller.recv(65536)
        if not chunk or len(data) > _MAX_REQUEST:
            raise ValueError("the request was cut short")
        data += chunk
    request: dict[str, Any] = json.loads(data)
    return request


def _reap(resident: Resident, pidfd: int, selector: selectors.BaseSelector) -> None:
    fork = resident.forks.pop(pidfd)
    selector.unregister(pidfd)
    with contextlib.suppress(KeyError, ValueError):
        selector.unregister(fork.caller)
    os.close(pidfd)
    _, status = os.waitpid(fork.pid, 0)
    if os.WIFSIGNALED(status):  # it could not write its own exit code: say what a shell would
        with contextlib.suppress(OSError):
            fork.caller.sendall(f"exit {128 + os.WTERMSIG(status)}\n".encode())
    fork.caller.close()
    resident.last_busy = time.monotonic()


# --- in the fork ----------------------------------------------------------------------------------


def _let_go(resident: Resident) -> None:
    """Close what is the resident's, not the command's: above all the lock, which a long command
    would otherwise hold past the resident's exit and so keep a new one from starting."""
    os.close(resident.lock_fd)
    os.close(resident.listener.detach())
    for fork in resident.forks.values():
        os.close(fork.pidfd)
        os.close(fork.caller.detach())


def _become(request: dict[str, Any], fds: list[int], caller: socket.socket) -> int:
    """Turn this fork into the caller's command, run it, tell the caller its exit code."""
    os.setsid()  # a process group of its own: the caller relays Ctrl-C to all of it, as a terminal would
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.umask(int(request["umask"]))
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    argv = [str(arg) for arg in request["argv"]]
    sys.argv = ["overseer", *argv]
    sys.stdin, sys.stdout, sys.stderr = _text(0, "r"), _text(1, "w"), _text(2, "w")
    code = _command(argv)
    with contextlib.suppress(OSError):
        caller.sendall(f"exit {code}\n".encode())
    return code


def _command(argv: list[str]) -> int:
    from overseer.cli.app import main

    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # as the interpreter would: print it, exit 1
        traceback.print_exc()
        code = 1
    _finalize()
    return code


def _finalize() -> None:
    """What the interpreter does at exit, in its order, before the fork's os._exit: wait for the
    threads that are not daemons, run the atexit functions (the logging module's flush, the
    finalizers of temporary directories...), flush stdio."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def _text(fd: int, mode: str) -> TextIO:
    """A text stream on `fd` as the interpreter opens one at start-up: line-buffered on a terminal
    (stderr always), in the locale's encoding, stderr never failing on a character."""
    line_buffered = mode == "w" and (fd == 2 or os.isatty(fd))
    errors = "backslashreplace" if fd == 2 else "strict"
    encoding = locale.getpreferredencoding(False)
    stream = open(fd, mode, buffering=1 if line_buffered else -1, encoding=encoding, errors=errors, closefd=False)  # noqa: SIM115 (the process's stdio)
    return cast(TextIO, stream)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
