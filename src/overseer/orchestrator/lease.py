"""Who a runner is, its claim on a task kept alive by a heartbeat, and the lock on the workspace.

A runner's id names its machine, its process and a random token. Two runners on one machine can
tell whether the other's process still lives, so a task left by a killed runner is recovered at
once; across machines only the lease's expiry tells, so recovery waits for it. The machine is the
kernel's boot id with the pid namespace: processes that share both see each other's pids, which a
shared hostname (containers) does not promise. The process's start time makes a reused pid a
different process.

Agents of two runners must not edit one workspace at the same time (each attempt's diff would hold
the other's work, and a rollback would undo it), so a runner works on a task only while it holds
the workspace's lock: two runners on one workspace take turns, task by task; runners on different
workspaces sharing one database work side by side.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

from overseer.errors import StoreError
from overseer.state.models import utcnow
from overseer.state.store import Store

logger = logging.getLogger(__name__)

LEASE_S = 60.0  # a claim not renewed for this long is taken for dead
HEARTBEAT_S = 10.0  # renewals: a few may fail (a locked database) before the lease runs out
_PROC = Path("/proc")


def lease_until(seconds: float = LEASE_S) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


@dataclass(frozen=True)
class RunnerId:
    machine: str  # "" where it cannot be known (no /proc): then only the lease's expiry tells
    pid: int
    started: str  # the process's start time, in clock ticks since boot
    token: str

    @classmethod
    def current(cls) -> RunnerId:
        pid = os.getpid()
        return cls(_machine(), pid, _start_time(pid) or "", secrets.token_hex(4))

    @classmethod
    def parse(cls, owner: str) -> RunnerId | None:
        parts = owner.rsplit("/", 3)
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2], parts[3])

    def __str__(self) -> str:
        return f"{self.machine}/{self.pid}/{self.started}/{self.token}"

    def is_gone(self) -> bool:
        """True only when this runner certainly died: it ran on this machine and its process is gone."""
        if not self.machine or self.machine != _machine():
            return False
        return _start_time(self.pid) != self.started


def owner_gone(owner: str | None) -> bool:
    """Whether the runner named `owner` is certainly dead (None: the task was never leased)."""
    if owner is None:
        return True
    runner = RunnerId.parse(owner)
    return runner is not None and runner.is_gone()


def _machine() -> str:
    try:
        boot = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink(_PROC / "self/ns/pid")
    except OSError:
        return ""
    return f"{socket.gethostname()}:{boot}:{namespace}"


def _start_time(pid: int) -> str | None:
    """The start time of a live process, None when there is none (a zombie counts as dead)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the name, in parentheses, may hold spaces
    return None if fields[0] == "Z" else fields[19]


class Heartbeat:
    """Renews this runner's lease on a task from a thread, until stopped.

    A renewal that fails (a locked database) is logged and tried again at the next beat; a lease
    found taken by another runner ends the beats: that runner recovered the task, and the store
    refuses this one's later writes to it.
    """

    def __init__(self, store: Store, task_id: int, owner: str, *, every_s: float = HEARTBEAT_S) -> None:
        self._store = store
        self._task_id = task_id
        self._owner = owner
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"overseer-lease-{task_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                renewed = self._store.renew_lease(self._task_id, self._owner, until=lease_until())
            except StoreError:
                logger.warning("task %s: the lease could not be renewed; trying again", self._task_id, exc_info=True)
                continue
            if not renewed:
                logger.error(
                    "task %s: another overseer took the task over after this one's lease ran out", self._task_id
                )
                return


class WorkspaceLock:
    """An exclusive lock on the workspace (flock on a file in its state dir), released by the kernel
    when the process dies. Waiting for it can be interrupted with Ctrl-C."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def __enter__(self) -> WorkspaceLock:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the lock
            self._fd = None
