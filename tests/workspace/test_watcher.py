"""The workspace watcher on real files: what it reports, what it ignores, how it debounces."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from overseer import log
from overseer.redact import Redactor
from overseer.workspace.watcher import WatchedChange, WorkspaceWatcher, _Debouncer, merge

DEADLINE_S = 10.0


class Recorder:
    """Collects the watcher's callbacks (from its thread) and waits for them (in the test's)."""

    def __init__(self) -> None:
        self.changes: list[WatchedChange] = []
        self._lock = threading.Lock()

    def __call__(self, change: WatchedChange) -> None:
        with self._lock:
            self.changes.append(change)

    def wait_for(self, wanted: WatchedChange) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while wanted not in self.snapshot():
            if time.monotonic() > deadline:
                pytest.fail(f"no {wanted} within {DEADLINE_S}s; got {self.snapshot()}")
            time.sleep(0.02)

    def snapshot(self) -> list[WatchedChange]:
        with self._lock:
            return list(self.changes)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def kinds_in_order(changes: list[WatchedChange], path: str) -> list[str]:
    """The kinds reported for `path`, repeats collapsed (a slow machine may split a burst in two)."""
    kinds: list[str] = []
    for change in changes:
        if change.path == path and (not kinds or kinds[-1] != change.kind):
            kinds.append(change.kind)
    return kinds


def test_reports_created_modified_and_deleted_files(workspace: Path, recorder: Recorder) -> None:
    target = workspace / "a.txt"
    with WorkspaceWatcher(workspace, recorder):
        target.write_text("one\n")
        recorder.wait_for(WatchedChange("a.txt", "created"))
        with target.open("a") as handle:
            handle.write("two\n")
        recorder.wait_for(WatchedChange("a.txt", "modified"))
        target.unlink()
        recorder.wait_for(WatchedChange("a.txt", "deleted"))

    assert kinds_in_order(recorder.snapshot(), "a.txt") == ["created", "modified", "deleted"]


def test_paths_are_relative_with_forward_slashes(workspace: Path, recorder: Recorder) -> None:
    with WorkspaceWatcher(workspace, recorder):
        (workspace / "pkg" / "sub").mkdir(parents=True)
        (workspace / "pkg" / "sub" / "mod.py").write_text("x = 1\n")
        recorder.wait_for(WatchedChange("pkg/sub/mod.py", "created"))

    assert {change.path for change in recorder.snapshot()} == {"pkg/sub/mod.py"}


def test_ignores_gitignored_files_the_overseer_dir_and_directories(workspace: Path, recorder: Recorder) -> None:
    (workspace / ".gitignore").write_text("*.log\nbuild/\n")
    with WorkspaceWatcher(workspace, recorder):
        (workspace / "debug.log").write_text("noise")
        (workspace / "build").mkdir()
        (workspace / "build" / "out.o").write_text("binary")
        (workspace / ".overseer").mkdir()
        (workspace / ".overseer" / "state.db").write_text("rows")
        (workspace / "empty-dir").mkdir()
        (workspace / "sentinel.txt").write_text("last")
        recorder.wait_for(WatchedChange("sentinel.txt", "created"))

    assert {change.path for change in recorder.snapshot()} == {"sentinel.txt"}


def test_a_changed_gitignore_applies_to_later_events(workspace: Path, recorder: Recorder) -> None:
    with WorkspaceWatcher(workspace, recorder):
        (workspace / ".gitignore").write_text("*.tmp\n")
        recorder.wait_for(WatchedChange(".gitignore", "created"))
        (workspace / "scratch.tmp").write_text("noise")
        (workspace / "sentinel.txt").write_text("last")
        recorder.wait_for(WatchedChange("sentinel.txt", "created"))

    assert {change.path for change in recorder.snapshot()} == {".gitignore", "sentinel.txt"}


def test_quick_writes_to_one_file_are_one_event(workspace: Path, recorder: Recorder) -> None:
    existing = workspace / "existing.txt"
    existing.write_text("start\n")
    with WorkspaceWatcher(workspace, recorder, debounce_s=1.0):
        for n in range(10):
            with existing.open("a") as handle:
                handle.write(f"{n}\n")
        fresh = workspace / "fresh.txt"
        for n in range(10):
            fresh.write_text(f"{n}\n")
        recorder.wait_for(WatchedChange("existing.txt", "modified"))
        recorder.wait_for(WatchedChange("fresh.txt", "created"))

    assert sorted(recorder.snapshot(), key=lambda change: change.path) == [
        WatchedChange("existing.txt", "modified"),
        WatchedChange("fresh.txt", "created"),
    ]


def test_a_file_created_and_deleted_within_the_window_is_not_reported(workspace: Path, recorder: Recorder) -> None:
    with WorkspaceWatcher(workspace, recorder, debounce_s=1.0):
        (workspace / "blink.txt").write_text("here")
        (workspace / "blink.txt").unlink()
        (workspace / "sentinel.txt").write_text("last")
        recorder.wait_for(WatchedChange("sentinel.txt", "created"))

    assert recorder.snapshot() == [WatchedChange("sentinel.txt", "created")]


def test_a_rename_is_reported_as_moved_from_the_old_path(workspace: Path, recorder: Recorder) -> None:
    (workspace / "old.txt").write_text("content")
    with WorkspaceWatcher(workspace, recorder):
        (workspace / "old.txt").rename(workspace / "new.txt")
        recorder.wait_for(WatchedChange("new.txt", "moved", moved_from="old.txt"))

    assert recorder.snapshot() == [WatchedChange("new.txt", "moved", moved_from="old.txt")]


def test_stop_raises_the_callbacks_first_error(workspace: Path) -> None:
    called = threading.Event()

    def failing(change: WatchedChange) -> None:
        called.set()
        raise RuntimeError(f"could not record {change.path}")

    watcher = WorkspaceWatcher(workspace, failing, debounce_s=0.05)
    watcher.start()
    (workspace / "a.txt").write_text("x")
    assert called.wait(DEADLINE_S)

    with pytest.raises(RuntimeError, match=r"could not record a\.txt"):
        watcher.stop()


def test_every_failed_delivery_is_logged_with_its_cause_and_the_attempt_that_started_the_watcher(
    workspace: Path, tmp_path: Path
) -> None:
    failed: list[str] = []

    def failing(change: WatchedChange) -> None:
        failed.append(change.path)
        raise RuntimeError(f"could not record {change.path}")

    log.start(verbose=False, redactor=Redactor([]))
    log.to_file(tmp_path, Redactor([]))
    try:
        with log.context(task=1, attempt=2):
            watcher = WorkspaceWatcher(workspace, failing, debounce_s=0.05)
            watcher.start()
        (workspace / "a.txt").write_text("x")
        (workspace / "b.txt").write_text("y")
        deadline = time.monotonic() + DEADLINE_S
        while len(failed) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(RuntimeError, match="could not record"):
            watcher.stop()
    finally:
        log.stop()

    text = (tmp_path / log.LOG_FILE).read_text()
    assert text.count("overseer.workspace.watcher [task 1 attempt 2]: recording the change to") == 2
    assert "RuntimeError: could not record a.txt" in text and "RuntimeError: could not record b.txt" in text


def test_stopping_delivers_what_is_still_pending() -> None:
    delivered: list[WatchedChange] = []
    debouncer = _Debouncer(3600.0, delivered.append)
    debouncer.start()
    debouncer.add(WatchedChange("a.txt", "created"))
    debouncer.add(WatchedChange("a.txt", "modified"))
    debouncer.add(WatchedChange("b.txt", "modified"))

    debouncer.close()

    assert delivered == [WatchedChange("a.txt", "created"), WatchedChange("b.txt", "modified")]


@pytest.mark.parametrize(
    ("old", "new", "net"),
    [
        (None, "modified", "modified"),
        ("created", "modified", "created"),
        ("created", "deleted", None),
        ("modified", "modified", "modified"),
        ("modified", "deleted", "deleted"),
        ("deleted", "created", "modified"),
        ("moved", "modified", "moved"),
        ("modified", "moved", "moved"),
    ],
)
def test_merge_keeps_the_net_effect_of_two_changes(old: str | None, new: str, net: str | None) -> None:
    previous = WatchedChange("f", old) if old else None

    merged = merge(previous, WatchedChange("f", new))

    assert (merged.kind if merged else None) == net


def test_a_watcher_cannot_be_started_twice(workspace: Path) -> None:
    noop: Callable[[WatchedChange], None] = lambda change: None  # noqa: E731
    with WorkspaceWatcher(workspace, noop) as watcher, pytest.raises(RuntimeError, match="already running"):
        watcher.start()


def test_watching_survives_bursts_of_nested_directories(workspace: Path, recorder: Recorder) -> None:
    # `mkdir -p` races watchdog's inotify bookkeeping, which warns from its thread; under an
    # "error" warnings filter (as in this test run) that used to kill the thread and all watching.
    with WorkspaceWatcher(workspace, recorder):
        for n in range(50):
            (workspace / f"pkg{n}" / "sub").mkdir(parents=True)
            (workspace / f"pkg{n}" / "sub" / "mod.py").write_text("x = 1\n")
        (workspace / "sentinel.txt").write_text("last")
        recorder.wait_for(WatchedChange("sentinel.txt", "created"))
