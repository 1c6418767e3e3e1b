"""The resident process: overseer's imports paid once, not at every command.

Most of a short command's time is Python importing overseer's dependencies (the agent SDK and its
`mcp`, SQLAlchemy, Alembic: about 3 s of a 6.5 s `overseer do`, measured). A resident process
imports them once and waits on a Unix socket; each command forks it. The client (this module, which
imports nothing but the standard library) hands the fork its argv, working directory, environment,
umask and its own stdin, stdout and stderr (passed as file descriptors), relays Ctrl-C and the
other stopping signals to it, and exits with its exit code. What runs in the fork is exactly the
command `overseer ARGS` would run, in the caller's environment: nothing is shared between commands
but the imported code.

The first command that finds none starts one after it has done its work; it exits after
`OVERSEER_RESIDENT_IDLE_S` seconds (default 900) with nothing to do. The socket is named after a
hash of the interpreter and of every source and installed-package file's change time, so changed
code is never served by an older process. `OVERSEER_RESIDENT=0` turns it off; it is not started
when `CI` is set (a one-shot job would leave it idling). docs/resident.md has the details.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import site
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType

SWITCH = "OVERSEER_RESIDENT"  # "0": never use or start one
IDLE_ENV = "OVERSEER_RESIDENT_IDLE_S"
DEFAULT_IDLE_S = 900.0
PROTOCOL = b"overseer-resident-1"
# Commands that are served: the short ones, whose start-up is most of their time. The interactive
# and long-lived ones (shell, watch, serve, demo) run in-process: start-up does not matter there.
SERVED = frozenset(
    {
        "init", "task", "run", "do", "status", "resolve", "breakpoints", "history", "export",
        "checkpoints", "rollback", "gc", "calibrate", "doctor", "templates",
    }
)  # fmt: skip
RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_STDIO = (0, 1, 2)
_LOCALE = frozenset({"LANG", "LC_ALL", "LC_CTYPE"})
_SUN_PATH = 108  # the longest Unix socket path Linux takes, with its terminating NUL
_START_WAIT_S = 60.0  # a resident imports for about 3 s; a loaded machine can take much longer


class ResidentUnavailable(Exception):
    """No resident could take the command (none running, or it refused): run it in-process."""


def command_of(argv: Sequence[str]) -> str | None:
    """The command's name: the first argument that is not an option."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def enabled(environ: Mapping[str, str]) -> bool:
    return environ.get(SWITCH, "") != "0" and hasattr(socket, "send_fds") and hasattr(os, "pidfd_open")


def served(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    return enabled(environ) and command_of(argv) in SERVED


def starts_one(environ: Mapping[str, str]) -> bool:
    """Whether a command that found no resident starts one: not in CI, where jobs are one-shot."""
    return enabled(environ) and environ.get("CI", "").lower() in ("", "0", "false", "no")


# --- where the socket is -------------------------------------------------------------------------


def runtime_dir(environ: Mapping[str, str]) -> Path:
    """A private directory of this user's: $XDG_RUNTIME_DIR/overseer, else a 0700 one in /tmp.

    Raises ResidentUnavailable when it is not private (someone else's, or open to others): a socket
    there could be another user's process waiting for our file descriptors.
    """
    base = environ.get("XDG_RUNTIME_DIR")
    path = Path(base) / "overseer" if base else Path(tempfile.gettempdir()) / f"overseer-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=False)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ResidentUnavailable(f"{path} is not a private directory of this user's")
    return path


def code_key(environ: Mapping[str, str]) -> str:
    """A hash of the interpreter and what it was started with, overseer's own files and the
    site-packages directories.

    Editing a source file changes its mtime; installing, upgrading or removing a package changes the
    entries (dist-info names carry versions) and so the mtime of its site-packages directory. The
    PYTHON* variables (PYTHONPATH finds plugins, PYTHONIOENCODING makes the streams) and the locale's
    are fixed when an interpreter starts: a command needs a resident started with the same ones.
    """
    digest = hashlib.sha256(f"{sys.executable}\0{sys.version}\0".encode())
    for name in sorted(environ):
        if name.startswith("PYTHON") or name in _LOCALE:
            digest.update(f"{name}={environ[name]}\0".encode())
    package = Path(__file__).resolve().parent.parent
    for root, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            info = os.stat(os.path.join(root, name))
            digest.update(f"{root}/{name}\0{info.st_mtime_ns}\0{info.st_size}\0".encode())
    for directory in site.getsitepackages():
        with contextlib.suppress(OSError):
            digest.update(f"{directory}\0{os.stat(directory).st_mtime_ns}\0".encode())
    return digest.hexdigest()[:20]


def socket_path(environ: Mapping[str, str]) -> Path:
    path = runtime_dir(environ) / f"{code_key(environ)}.sock"
    if len(os.fsencode(path)) >= _SUN_PATH:
        raise ResidentUnavailable(f"{path}: too long a path for a Unix socket (XDG_RUNTIME_DIR is deep)")
    return path


def sockets(environ: Mapping[str, str]) -> list[Path]:
    """Every resident socket of this user's, this code's and older versions'."""
    return sorted(runtime_dir(environ).glob("*.sock"))


# --- the client ------------------------------------------------------------------------------------


def connect(path: Path, timeout_s: float | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(str(path))
    except OSError as exc:
        sock.close()
        raise ResidentUnavailable(f"no resident at {path}: {exc.strerror or exc}") from exc
    if _peer_uid(sock) != os.getuid():
        sock.close()
        raise ResidentUnavailable(f"{path} is served by another user's process")
    sock.settimeout(None)
    return sock


def _peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)  # struct ucred: pid, uid, gid
    return int.from_bytes(creds[4:8], sys.byteorder)


def run(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """Have the resident run `overseer ARGV` for this process; return its exit code.

    Raises ResidentUnavailable when none takes it, before anything of the command has run.
    """
    with connect(socket_path(environ)) as sock:
        request = {"argv": list(argv), "cwd": os.getcwd(), "env": dict(environ), "umask": _umask()}
        try:
            socket.send_fds(sock, [PROTOCOL + b" run\n"], list(_STDIO))
            sock.sendall(json.dumps(request).encode() + b"\n")
        except OSError as exc:  # a closed stdin, or the resident went away
            raise ResidentUnavailable(f"the resident did not take the command: {exc}") from exc
        replies = sock.makefile("rb")
        try:
            started = replies.readline().split()
        except OSError as exc:
            raise ResidentUnavailable(f"the resident did not start the command: {exc}") from exc
        if len(started) != 2 or started[0] != b"pid":
            raise ResidentUnavailable("the resident did not start the command")
        # From here on the command has started: whatever happens, it must not be run a second time.
        with _relaying(int(started[1])):
            try:
                return _exit_code(replies.readline())
            except OSError:
                return _exit_code(b"")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _exit_code(line: bytes) -> int:
    words = line.split()
    if len(words) == 2 and words[0] == b"exit":
        return int(words[1])
    print("overseer: the resident process went away before the command ended", file=sys.stderr)
    return 1


@contextlib.contextmanager
def _relaying(pid: int) -> Iterator[None]:
    """Pass the stopping signals on to the command (a process group of its own, as a terminal
    would signal its foreground job), and put the old handlers back after."""

    def relay(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)

    previous = {signum: signal.signal(signum, relay) for signum in RELAYED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def ask(path: Path, what: str) -> dict[str, object]:
    """A resident's answer to `status` or `stop`."""
    with connect(path, timeout_s=5.0) as sock:
        sock.sendall(PROTOCOL + f" {what}\n".encode())
        reply = sock.makefile("rb").readline()
    if not reply:
        raise ResidentUnavailable(f"the resident at {path} did not answer")
    answer: dict[str, object] = json.loads(reply)
    return answer


# --- starting one ---------------------------------------------------------------------------------


def start(path: Path, environ: Mapping[str, str]) -> None:
    """Start a resident for `path` in the background, detached from this process and its terminal."""
    env = {**environ, SWITCH: "1"}
    subprocess.Popen(
        [sys.executable, "-m", "overseer.cli.resident_server", str(path)],
        env=env,
        cwd="/",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def wait_ready(path: Path, timeout_s: float = _START_WAIT_S) -> dict[str, object]:
    """Wait until the resident at `path` answers; its status."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return ask(path, "status")
        except ResidentUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
