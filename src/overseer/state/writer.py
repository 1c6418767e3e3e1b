"""The event writer: agent and watcher events reach the store as they happen, from a thread of its own.

Whoever emits an event only puts it on a queue (microseconds, no lock the database holds); the
writer thread takes everything that has gathered since its last write and stores it in one
transaction. A slow or locked database therefore makes the batches bigger, never the agent
slower. A lock held by another process is waited out, the batch tried again; any other failure
is logged and raised by the next `flush`, so a lost write fails the attempt instead of vanishing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from types import TracebackType
from typing import Any

from overseer.errors import StoreLockedError
from overseer.state.store import NewEvent, Store

logger = logging.getLogger(__name__)

_MAX_BATCH = 500  # events per transaction: bounds one write's time when a backlog has built up
_LOCKED_RETRY_S = 0.2  # pause before trying a locked batch again (the busy timeout waited already)
_LOCKED_GIVE_UP_S = 120.0  # a database locked this long is not coming back: fail the record


class EventWriter:
    """Use as a context manager around the work whose events it writes; `put` from any thread."""

    def __init__(self, store: Store, *, locked_give_up_s: float = _LOCKED_GIVE_UP_S) -> None:
        self._store = store
        self._locked_give_up_s = locked_give_up_s
        # Items: an event, a flush marker (set once everything before it is written), or None: stop.
        self._queue: queue.SimpleQueue[NewEvent | threading.Event | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="overseer-event-writer", daemon=True)
        self._error: BaseException | None = None
        self.written = 0  # events stored, and the seconds spent storing them: the writer's cost
        self.busy_s = 0.0

    def __enter__(self) -> EventWriter:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(raise_error=exc is None)

    def put(self, attempt_id: int, kind: str, data: dict[str, Any]) -> None:
        """Queue an event; it is stamped now, when it happened."""
        self._queue.put(NewEvent(attempt_id, kind, data))

    def flush(self) -> None:
        """Wait until every event put so far is stored; raise the first write that failed."""
        marker = threading.Event()
        self._queue.put(marker)
        marker.wait()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self, *, raise_error: bool = True) -> None:
        """Write what is queued, then stop the thread (a daemon: a killed process loses only the queue)."""
        if not self._thread.is_alive():
            return
        try:
            self.flush()
        except Exception:
            if raise_error:  # else it is logged, and the error in flight is the one to report
                raise
        finally:
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        running = True
        while running:
            items = [self._queue.get()]  # wait for something, then take all that has gathered
            while len(items) < _MAX_BATCH:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            running = self._handle(items)

    def _handle(self, items: list[NewEvent | threading.Event | None]) -> bool:
        """Write the events; a marker or the stop is reached once what came before it is written."""
        batch: list[NewEvent] = []
        for item in items:
            if isinstance(item, NewEvent):
                batch.append(item)
                continue
            self._write(batch)
            batch = []
            if item is None:
                return False
            item.set()
        self._write(batch)
        return True

    def _write(self, batch: list[NewEvent]) -> None:
        if not batch:
            return
        started = time.perf_counter()
        while True:
            try:
                self._store.add_events(batch)
                self.written += len(batch)
                break
            except StoreLockedError as exc:
                if time.perf_counter() - started >= self._locked_give_up_s:
                    self._fail(batch, exc)
                    break
                logger.warning("event writer: the database is locked, %d events wait: %s", len(batch), exc)
                time.sleep(_LOCKED_RETRY_S)
            except Exception as exc:
                self._fail(batch, exc)
                break
        self.busy_s += time.perf_counter() - started

    def _fail(self, batch: list[NewEvent], exc: BaseException) -> None:
        attempts = sorted({event.attempt_id for event in batch})
        logger.error("event writer: %d events of attempt %s were not stored", len(batch), attempts, exc_info=exc)
        if self._error is None:
            self._error = exc
