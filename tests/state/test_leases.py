"""Claims, leases, pending feedback and batched events: what lets runners share a store and lose nothing.

Every test runs on SQLite and on PostgreSQL (the `store` fixture). Racing runners are separate
Store objects, each with its own connections, on threads: the database is what arbitrates.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from overseer.domain import AttemptStatus, Decision, Outcome, TaskStatus
from overseer.errors import StoreError, StoreLockedError, UsageError
from overseer.redact import Redactor
from overseer.state.models import Project, Task, utcnow
from overseer.state.store import NewEvent, Store
from overseer.state.writer import EventWriter
from tests.state.conftest import Query, WriteLock

LATER = timedelta(minutes=1)


@pytest.fixture
def task(store: Store, project: Project) -> Task:
    return store.add_task(project.id, "make the tests pass")


@pytest.fixture
def other_stores(store_url: str) -> Iterator[list[Store]]:
    """Three more runners' stores on the same database."""
    stores = [Store.open(store_url, redactor=Redactor([])) for _ in range(3)]
    yield stores
    for opened in stores:
        opened.close()


def finish(store: Store, attempt_id: int, outcome: Outcome | None) -> None:
    store.finish_attempt(
        attempt_id,
        status=AttemptStatus.FINISHED,
        session_id="s",
        result_text="",
        error="",
        cost_usd=None,
        checkpoint_after=None,
        changes=(),
        verdict=None,
        outcome=outcome,
    )


def test_a_pending_task_is_claimed_once(store: Store, task: Task) -> None:
    until = utcnow() + LATER

    assert store.claim_task(task.id, "runner-a", until=until)
    assert not store.claim_task(task.id, "runner-b", until=until)
    assert not store.claim_task(task.id, "runner-a", until=until)  # not even again by its owner

    claimed = store.get_task(task.id)
    assert (claimed.status, claimed.lease_owner, claimed.lease_expires_at) == (TaskStatus.RUNNING, "runner-a", until)


def test_racing_runners_claim_every_task_exactly_once(
    store: Store, project: Project, other_stores: list[Store]
) -> None:
    tasks = [store.add_task(project.id, f"task {n}").id for n in range(30)]
    runners = [store, *other_stores]
    claimed: dict[str, list[int]] = {f"runner-{n}": [] for n in range(len(runners))}
    start = threading.Barrier(len(runners))

    def claim_all(owner: str, runner: Store) -> None:
        start.wait()
        for task_id in tasks:
            if runner.claim_task(task_id, owner, until=utcnow() + LATER):
                claimed[owner].append(task_id)

    threads = [threading.Thread(target=claim_all, args=item) for item in zip(claimed, runners, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = sorted(task_id for ids in claimed.values() for task_id in ids)
    assert every == tasks
    owners = {t.id: t.lease_owner for t in store.list_tasks(project.id)}
    assert all(owners[task_id] == owner for owner, ids in claimed.items() for task_id in ids)


def test_only_the_owner_renews_and_releases(store: Store, task: Task) -> None:
    store.claim_task(task.id, "runner-a", until=utcnow() + LATER)
    later = utcnow() + 2 * LATER

    assert not store.renew_lease(task.id, "runner-b", until=later)
    assert store.renew_lease(task.id, "runner-a", until=later)
    assert store.get_task(task.id).lease_expires_at == later
    with pytest.raises(StoreError, match="no longer claimed"):
        store.release_task(task.id, "runner-b")
    store.release_task(task.id, "runner-a")

    released = store.get_task(task.id)
    assert (released.status, released.lease_owner, released.lease_expires_at) == (TaskStatus.PENDING, None, None)
    assert store.claim_task(task.id, "runner-b", until=later)  # pending again: anyone may claim it


def test_take_over_is_compare_and_set(store: Store, task: Task, other_stores: list[Store]) -> None:
    store.claim_task(task.id, "dead-runner", until=utcnow() - LATER)
    seen = store.get_task(task.id)

    assert store.take_over(seen, "recoverer-1", until=utcnow() + LATER)
    assert not other_stores[0].take_over(seen, "recoverer-2", until=utcnow() + LATER)  # second recoverer
    assert store.get_task(task.id).lease_owner == "recoverer-1"


def test_a_runner_that_renews_keeps_its_task(store: Store, task: Task) -> None:
    store.claim_task(task.id, "slow-runner", until=utcnow() - LATER)
    seen = store.get_task(task.id)  # looks expired...
    store.renew_lease(task.id, "slow-runner", until=utcnow() + LATER)  # ...but its runner was alive

    assert not store.take_over(seen, "recoverer", until=utcnow() + LATER)
    assert store.get_task(task.id).lease_owner == "slow-runner"


def test_a_task_never_leased_can_be_taken_over(store: Store, task: Task) -> None:
    """A task left running by an overseer older than leases (or by a status set by hand)."""
    store.set_task_status(task.id, TaskStatus.RUNNING)

    assert store.take_over(store.get_task(task.id), "recoverer", until=utcnow() + LATER)
    assert [t.id for t in store.running_tasks(task.project_id)] == [task.id]


def test_settling_uses_up_guidance_and_feedback_and_pending_keeps_guidance(store: Store, task: Task) -> None:
    store.set_guidance(task.id, "use str.split()")
    store.claim_task(task.id, "runner", until=utcnow() + LATER)
    store.release_task(task.id, "runner")  # back to pending: the guidance is still to be used
    assert store.get_task(task.id).guidance == "use str.split()"

    store.claim_task(task.id, "runner", until=utcnow() + LATER)
    attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
    finish(store, attempt.id, Outcome(Decision.RETRY, feedback="the tests fail"))
    store.release_task(task.id, "runner", TaskStatus.NEEDS_HUMAN, brief="stuck")

    settled = store.get_task(task.id)
    assert (settled.status, settled.brief, settled.guidance, settled.pending_feedback) == (
        TaskStatus.NEEDS_HUMAN,
        "stuck",
        None,
        None,
    )


def test_retry_feedback_stays_pending_until_an_attempt_is_judged(store: Store, task: Task, secret: str) -> None:
    first = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
    finish(store, first.id, Outcome(Decision.RETRY, feedback=f"test_x fails; token {secret}"))
    assert store.get_task(task.id).pending_feedback == "test_x fails; token [REDACTED]"

    second = store.start_attempt(task.id, number=2, prompt="p", checkpoint_before="c")
    finish(store, second.id, None)  # interrupted: nothing judged, the feedback is still owed
    assert store.get_task(task.id).pending_feedback == "test_x fails; token [REDACTED]"

    third = store.start_attempt(task.id, number=3, prompt="p", checkpoint_before="c")
    finish(store, third.id, Outcome(Decision.PROCEED))
    assert store.get_task(task.id).pending_feedback is None


def test_an_attempt_closed_by_recovery_is_not_overwritten(store: Store, task: Task) -> None:
    attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
    finish(store, attempt.id, None)

    with pytest.raises(StoreError, match="already closed"):
        finish(store, attempt.id, Outcome(Decision.PROCEED))
    assert store.decision(attempt.id) is None


def test_a_batch_of_events_numbers_on_per_attempt_and_keeps_when_they_happened(
    store: Store, task: Task, secret: str
) -> None:
    one = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
    two = store.start_attempt(task.id, number=2, prompt="p", checkpoint_before="c")
    store.add_event(one.id, "session", {"session_id": "s"})
    happened = utcnow() - LATER

    store.add_events(
        [
            NewEvent(one.id, "text", {"text": f"key {secret}"}, at=happened),
            NewEvent(two.id, "text", {"text": "hello"}),
            NewEvent(one.id, "tool_call", {"tool": "Bash"}),
        ]
    )

    events = store.events(one.id)
    assert [(e.seq, e.kind) for e in events] == [(1, "session"), (2, "text"), (3, "tool_call")]
    assert (events[1].at, events[1].data) == (happened, {"text": "key [REDACTED]"})
    assert [(e.seq, e.kind) for e in store.events(two.id)] == [(1, "text")]


def test_a_batch_with_an_unknown_attempt_writes_nothing(store: Store, task: Task) -> None:
    attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
    with pytest.raises(UsageError):
        store.add_events([NewEvent(attempt.id, "text", {}), NewEvent(999, "text", {})])
    assert store.events(attempt.id) == []


def test_the_writer_stores_events_from_many_threads_in_order(store: Store, task: Task) -> None:
    attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")

    with EventWriter(store) as writer:

        def emit(thread: int) -> None:
            for n in range(200):
                writer.put(attempt.id, "text", {"thread": thread, "n": n})

        threads = [threading.Thread(target=emit, args=(t,)) for t in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    events = store.events(attempt.id)
    assert [e.seq for e in events] == list(range(1, 601))
    for number in range(3):
        assert [e.data["n"] for e in events if e.data["thread"] == number] == list(range(200))
    assert writer.written == 600


def test_a_locked_database_holds_the_writer_not_the_emitter(
    store: Store, task: Task, write_lock_held: WriteLock, query: Query
) -> None:
    """While another process holds the write lock, `put` returns (the agent goes on) and the events
    wait in the queue; once the lock is released, the writer stores them all."""
    attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")

    def emit() -> None:
        for n in range(50):
            writer.put(attempt.id, "text", {"n": n})

    with EventWriter(store) as writer:
        with write_lock_held():
            emitter = threading.Thread(target=emit)
            emitter.start()
            emitter.join(timeout=60)  # a wide bound: the puts take microseconds; a blocked put never returns
            assert not emitter.is_alive()
            stored_while_locked = query("SELECT count(*) FROM events WHERE attempt_id = :id", id=attempt.id)
        writer.flush()

    assert stored_while_locked == [(0,)]
    assert [e.data["n"] for e in store.events(attempt.id)] == list(range(50))


def test_a_database_locked_for_too_long_fails_the_record(store: Store, task: Task, write_lock_held: WriteLock) -> None:
    attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
    with EventWriter(store, locked_give_up_s=0) as writer, write_lock_held():
        writer.put(attempt.id, "text", {})
        with pytest.raises(StoreLockedError):
            writer.flush()
    assert store.events(attempt.id) == []


def test_a_failed_write_is_raised_by_flush(store: Store) -> None:
    writer = EventWriter(store).__enter__()
    writer.put(12345, "text", {})  # no such attempt
    with pytest.raises(UsageError, match="unknown attempt id 12345"):
        writer.flush()
    writer.close()
