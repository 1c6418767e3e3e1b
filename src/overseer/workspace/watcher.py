"""Live file changes in the workspace, debounced, for the record of what an attempt is doing.

The authoritative list of what an attempt changed comes from the checkpoints (a diff of two
snapshots); the watcher tells, while the agent runs, what it is touching and when.

`on_change` is called from a background thread, never the caller's: keep it short and thread-safe.
If it raises, the watcher keeps going and `stop()` raises the first such error, so a failed write
of an event is never silently lost; every such error is logged with its cause. Do not call
`stop()` from inside `on_change`.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from watchdog.events import (
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from overseer.workspace.files import IgnoreRules

CREATED, MODIFIED, DELETED, MOVED = "created", "modified", "deleted", "moved"
logger = logging.getLogger(__name__)
# File events only: watchdog drops directory events at the source (files inside a new or moved
# directory still get their own events).
_EVENTS: list[type[FileSystemEvent]] = [FileCreatedEvent, FileModifiedEvent, FileDeletedEvent, FileMovedEvent]


@dataclass(frozen=True)
class WatchedChange:
    path: str  # relative to the workspace, forward slashes
    kind: str  # created | modified | deleted | moved
    moved_from: str | None = None  # for "moved": where the file was


def merge(old: WatchedChange | None, new: WatchedChange) -> WatchedChange | None:
    """The net effect of two changes to one path, or None when they cancel out."""
    if old is None:
        return new
    if new.kind == DELETED:
        return None if old.kind == CREATED else new  # born and gone within the window
    if old.kind == DELETED:  # the path existed before and exists again: replaced in place
        return new if new.kind == MOVED else WatchedChange(new.path, MODIFIED)
    if old.kind == CREATED:  # it did not exist before the window, whatever happened since
        return old
    return new if new.kind == MOVED else old


class _Debouncer:
    """Holds each path's net change until `delay` passes without news of it, then delivers it."""

    def __init__(self, delay: float, deliver: Callable[[WatchedChange], None]) -> None:
        self._delay = delay
        self._deliver = deliver
        self._pending: dict[str, tuple[WatchedChange, float]] = {}
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="overseer-watch-debounce", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, change: WatchedChange) -> None:
        with self._cond:
            self._put(change)
            self._cond.notify()

    def move(self, src: str, dest: str) -> None:
        with self._cond:
            before = self._pending.pop(src, None)
            if before and before[0].kind == CREATED:  # never announced, so nothing "moved"
                self._put(WatchedChange(dest, CREATED))
            else:
                origin = before[0].moved_from if before and before[0].kind == MOVED else None
                self._put(WatchedChange(dest, MOVED, moved_from=origin or src))
            self._cond.notify()

    def close(self) -> None:
        """Deliver everything still pending, then end the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    def _put(self, change: WatchedChange) -> None:
        old = self._pending.pop(change.path, None)
        net = merge(old[0] if old else None, change)
        if net is not None:
            self._pending[change.path] = (net, time.monotonic() + self._delay)

    def _run(self) -> None:
        done = False
        while not done:
            batch, done = self._next_batch()
            for change in batch:
                self._deliver(change)

    def _next_batch(self) -> tuple[list[WatchedChange], bool]:
        with self._cond:
            while True:
                if self._closing:
                    batch = [change for change, _ in self._pending.values()]
                    self._pending.clear()
                    return batch, True
                now = time.monotonic()
                due = [path for path, (_, at) in self._pending.items() if at <= now]
                if due:
                    return [self._pending.pop(path)[0] for path in due], False
                next_at = min((at for _, at in self._pending.values()), default=None)
                self._cond.wait(None if next_at is None else next_at - now)


class _Handler(FileSystemEventHandler):
    """Turns watchdog's events into workspace-relative changes, dropping ignored paths."""

    def __init__(self, root: Path, debouncer: _Debouncer) -> None:
        self._root = root
        self._debouncer = debouncer
        self._rules = IgnoreRules.load(root)

    def on_any_event(self, event: FileSystemEvent) -> None:
        src = self._relative(event.src_path)
        if event.event_type == MOVED:
            self._moved(src, self._relative(event.dest_path))
        elif event.event_type in (CREATED, MODIFIED, DELETED) and src is not None:
            self._debouncer.add(WatchedChange(src, event.event_type))
        if ".gitignore" in (src, self._relative(event.dest_path)):
            self._rules = IgnoreRules.load(self._root)  # later events follow the new rules

    def _moved(self, src: str | None, dest: str | None) -> None:
        if src is not None and dest is not None:
            self._debouncer.move(src, dest)
        elif dest is not None:  # from an ignored (or outside) place: appears
            self._debouncer.add(WatchedChange(dest, CREATED))
        elif src is not None:  # to an ignored place: disappears
            self._debouncer.add(WatchedChange(src, DELETED))

    def _relative(self, path: bytes | str) -> str | None:
        """The path relative to the workspace, or None when it is outside, empty or ignored."""
        if not path:
            return None
        rel = os.path.relpath(os.fsdecode(path), self._root).replace(os.sep, "/")
        if rel == "." or rel.startswith("../") or rel == ".." or self._rules.ignored(rel):
            return None
        return rel


class WorkspaceWatcher:
    """Watches the workspace recursively and reports file changes, debounced per path.

    Changes to one path less than `debounce_s` apart are coalesced into one call of `on_change`
    (created then modified is "created"; created then deleted is nothing). Directory events and
    paths that `IgnoreRules` ignores are dropped. `on_change` runs on a background thread.
    """

    def __init__(self, workspace: Path, on_change: Callable[[WatchedChange], None], *, debounce_s: float = 0.2) -> None:
        self.workspace = workspace.resolve()
        self._on_change = on_change
        self._debounce_s = debounce_s
        self._error: BaseException | None = None
        self._running: tuple[_Debouncer, BaseObserver] | None = None

    def start(self) -> None:
        if self._running is not None:
            raise RuntimeError("the watcher is already running")
        _quiet_watchdog_races()
        # Deliveries run in the starter's context, so their log records carry its task and attempt.
        context = contextvars.copy_context()
        debouncer = _Debouncer(self._debounce_s, lambda change: context.run(self._deliver, change))
        observer = Observer()
        handler = _Handler(self.workspace, debouncer)
        observer.schedule(handler, str(self.workspace), recursive=True, event_filter=_EVENTS)
        debouncer.start()
        observer.start()  # watches are in place when this returns
        self._running = (debouncer, observer)

    def stop(self) -> None:
        """Stop watching, deliver what is pending, join the threads; raise on_change's first error."""
        if self._running is None:
            return
        debouncer, observer = self._running
        self._running = None
        observer.stop()
        observer.join()
        debouncer.close()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __enter__(self) -> WorkspaceWatcher:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _deliver(self, change: WatchedChange) -> None:
        try:
            self._on_change(change)
        except Exception as exc:
            # `stop()` raises the first error; this and every later one keep their cause in the log.
            logger.warning("recording the change to %s failed", change.path, exc_info=True)
            if self._error is None:
                self._error = exc


def _quiet_watchdog_races() -> None:
    """Silence watchdog's warnings about its own watch bookkeeping.

    `mkdir -p a/b` or `rm -rf a` race the inotify emitter, which then re-adds (or fails to remove)
    a watch it already handled and warns from its thread; the warning is harmless, but under an
    "error" warnings filter it would kill the thread and end all watching without a word.
    """
    warnings.filterwarnings(
        "ignore",
        message=r"Callback with id '.*' (already exists|does not exist)",
        category=RuntimeWarning,
        module=r"watchdog\.",
    )
