"""Recovery of what a stopped runner left: a real store, a real workspace and its real checkpoints.

The agent's work is played by writing files; what matters here is what recovery does with them.
(tests/e2e/test_kill.py kills a real `overseer run` at five points of an attempt.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from overseer.domain import AttemptStatus, Decision, Outcome, TaskStatus
from overseer.orchestrator.lease import RunnerId, WorkspaceLock
from overseer.orchestrator.recovery import RECOVERED, Recovery
from overseer.redact import Redactor
from overseer.state.models import Attempt, Task, utcnow
from overseer.state.store import Store, sqlite_url
from overseer.workspace.checkpoints import Checkpoints

DEAD = "another-host:boot:pid:[1]/1/1/dead"  # a runner elsewhere: only its lease's expiry tells


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    (path / ".overseer").mkdir(parents=True)
    (path / "module.py").write_text("def f():\n    return 1\n")
    return path


@pytest.fixture
def store(workspace: Path) -> Iterator[Store]:
    with Store.open(sqlite_url(workspace / ".overseer" / "state.db"), redactor=Redactor([])) as opened:
        yield opened


@pytest.fixture
def checkpoints(workspace: Path) -> Checkpoints:
    return Checkpoints(workspace)


@pytest.fixture
def lock(workspace: Path) -> WorkspaceLock:
    return WorkspaceLock(workspace / ".overseer" / "run.lock")


def recovery(store: Store, checkpoints: Checkpoints, *, restore: bool = True) -> Recovery:
    return Recovery(store, checkpoints, str(RunnerId.current()), restore=restore)


def left_running(store: Store, checkpoints: Checkpoints, workspace: Path, *, owner: str = DEAD) -> tuple[Task, Attempt]:
    """A task whose runner died while its agent had edited one file and added another."""
    task = store.add_task(store.ensure_project(workspace).id, "change f")
    store.claim_task(task.id, owner, until=utcnow() - timedelta(seconds=1))
    attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before=checkpoints.snapshot("before"))
    store.add_event(attempt.id, "session", {"session_id": "session-1"})
    (workspace / "module.py").write_text("def f():\n    return 2\n")
    (workspace / "new.py").write_text("x = 1\n")
    return task, attempt


def test_an_orphaned_attempt_is_recorded_and_the_workspace_restored(
    store: Store, checkpoints: Checkpoints, workspace: Path, lock: WorkspaceLock
) -> None:
    task, attempt = left_running(store, checkpoints, workspace)

    assert recovery(store, checkpoints).recover(task.project_id, lock) == [task.id]

    [closed] = store.attempts(task.id)
    assert (closed.status, closed.session_id) == (AttemptStatus.INTERRUPTED, "session-1")
    assert [(c.path, c.kind) for c in store.file_changes(attempt.id)] == [
        ("module.py", "modified"),
        ("new.py", "added"),
    ]
    modified = store.file_changes(attempt.id)[0].sha_after
    assert closed.checkpoint_after and modified and "return 2" in (checkpoints.blob(modified, 1000) or "")
    checkpoints.verify(attempt.checkpoint_before)
    assert not (workspace / "new.py").exists()
    event = store.first_event(attempt.id, RECOVERED)
    assert event is not None and event.data["restored"] is True
    released = store.get_task(task.id)
    assert (released.status, released.lease_owner, released.session_id) == (TaskStatus.PENDING, None, "session-1")


def test_keep_leaves_the_changes_and_says_so(
    store: Store, checkpoints: Checkpoints, workspace: Path, lock: WorkspaceLock
) -> None:
    task, attempt = left_running(store, checkpoints, workspace)

    recovery(store, checkpoints, restore=False).recover(task.project_id, lock)

    assert (workspace / "new.py").exists() and "return 2" in (workspace / "module.py").read_text()
    event = store.first_event(attempt.id, RECOVERED)
    assert event is not None and event.data["restored"] is False
    assert store.attempts(task.id)[0].status is AttemptStatus.INTERRUPTED


def test_a_live_runners_task_is_left_alone(
    store: Store, checkpoints: Checkpoints, workspace: Path, lock: WorkspaceLock
) -> None:
    alive = str(RunnerId.current())  # this process: alive
    task, _ = left_running(store, checkpoints, workspace, owner=alive)
    store.renew_lease(task.id, alive, until=utcnow() + timedelta(minutes=1))

    assert recovery(store, checkpoints).recover(task.project_id, lock) == []
    assert store.attempts(task.id)[0].status is AttemptStatus.RUNNING
    assert (workspace / "new.py").exists()


def test_a_dead_runner_on_this_machine_is_recovered_before_its_lease_expires(
    store: Store, checkpoints: Checkpoints, workspace: Path, lock: WorkspaceLock
) -> None:
    me = RunnerId.current()
    dead = str(RunnerId(me.machine, me.pid, "not-this-process", "t"))  # this pid, another start time
    task, _ = left_running(store, checkpoints, workspace, owner=dead)
    store.renew_lease(task.id, dead, until=utcnow() + timedelta(minutes=1))

    assert recovery(store, checkpoints).recover(task.project_id, lock) == [task.id]


@pytest.mark.parametrize(
    ("decision", "status"),
    [
        (Decision.PROCEED, TaskStatus.COMPLETED),
        (Decision.ESCALATE, TaskStatus.NEEDS_HUMAN),
        (Decision.RETRY, TaskStatus.PENDING),
    ],
)
def test_a_decided_attempt_sends_the_task_where_its_decision_said(
    store: Store, checkpoints: Checkpoints, workspace: Path, lock: WorkspaceLock, decision: Decision, status: TaskStatus
) -> None:
    task, attempt = left_running(store, checkpoints, workspace)
    after = checkpoints.snapshot("after")
    store.finish_attempt(
        attempt.id,
        status=AttemptStatus.FINISHED,
        session_id="session-1",
        result_text="done",
        error="",
        cost_usd=None,
        checkpoint_after=after,
        changes=checkpoints.changes(attempt.checkpoint_before, after),
        verdict=None,
        outcome=Outcome(decision, feedback="fix the tests", brief="a human should look"),
    )

    recovery(store, checkpoints).recover(task.project_id, lock)

    released = store.get_task(task.id)
    assert released.status is status and released.lease_owner is None
    assert released.pending_feedback == ("fix the tests" if decision is Decision.RETRY else None)
    checkpoints.verify(after)  # a finished attempt's work is never undone
    assert store.first_event(attempt.id, RECOVERED) is None


def test_an_attempt_the_agent_could_not_run_fails_the_task(
    store: Store, checkpoints: Checkpoints, workspace: Path, lock: WorkspaceLock
) -> None:
    task, attempt = left_running(store, checkpoints, workspace)
    store.finish_attempt(
        attempt.id,
        status=AttemptStatus.ERROR,
        session_id=None,
        result_text="",
        error="claude CLI not found",
        cost_usd=None,
        checkpoint_after=None,
        changes=(),
        verdict=None,
        outcome=None,
    )

    recovery(store, checkpoints).recover(task.project_id, lock)

    released = store.get_task(task.id)
    assert (released.status, released.brief) == (TaskStatus.FAILED, "claude CLI not found")


def test_recovery_stopped_halfway_is_finished_without_undoing_twice(
    store: Store, checkpoints: Checkpoints, workspace: Path, lock: WorkspaceLock
) -> None:
    """A recoverer killed after it restored the workspace: the next one must not restore again over
    what happened since (here, a developer's own edit)."""
    task, attempt = left_running(store, checkpoints, workspace)
    halfway = Recovery(store, checkpoints, DEAD, restore=True)
    halfway._interrupt(task.id, attempt)
    halfway._put_back(store.attempts(task.id)[0])
    (workspace / "module.py").write_text("def f():\n    return 3  # the developer's\n")

    assert recovery(store, checkpoints).recover(task.project_id, lock) == [task.id]

    assert "return 3" in (workspace / "module.py").read_text()
    assert [e.kind for e in store.events(attempt.id)].count(RECOVERED) == 1
    assert store.get_task(task.id).status is TaskStatus.PENDING
