"""Attempts and what they leave behind: events, file changes, findings, the decision, recovery."""

from __future__ import annotations

from datetime import UTC

import pytest

from overseer.domain import AttemptStatus, Decision, FileChange, Finding, Outcome, Severity, Verdict
from overseer.errors import StoreError, UsageError
from overseer.redact import Redactor
from overseer.state.models import Project, Task
from overseer.state.store import Store
from tests.state.conftest import Query


@pytest.fixture
def task(store: Store, project: Project) -> Task:
    return store.add_task(project.id, "make the tests pass")


def finish(store: Store, attempt_id: int, **overrides: object) -> None:
    fields: dict[str, object] = {
        "status": AttemptStatus.FINISHED,
        "session_id": "session-1",
        "result_text": "done",
        "error": "",
        "cost_usd": None,
        "checkpoint_after": None,
        "changes": (),
        "verdict": None,
        "outcome": None,
    }
    store.finish_attempt(attempt_id, **{**fields, **overrides})  # type: ignore[arg-type]


def test_started_attempt_is_committed_before_it_returns(store: Store, task: Task, store_url: str) -> None:
    attempt = store.start_attempt(task.id, number=1, prompt="fix it", checkpoint_before="abc123")

    # A second, independent store sees it: the row is on disk, not pending in a session.
    with Store.open(store_url, redactor=Redactor([])) as other:
        [seen] = other.attempts(task.id)
    assert (seen.id, seen.number, seen.status, seen.prompt) == (
        attempt.id,
        1,
        AttemptStatus.RUNNING,
        "fix it",
    )
    assert seen.checkpoint_before == "abc123"
    assert seen.started_at.tzinfo == UTC
    assert seen.finished_at is None


def test_duplicate_attempt_number_raises_and_keeps_the_first(store: Store, task: Task) -> None:
    store.start_attempt(task.id, number=1, prompt="first", checkpoint_before="c")
    with pytest.raises(StoreError):
        store.start_attempt(task.id, number=1, prompt="second", checkpoint_before="c")
    assert [a.prompt for a in store.attempts(task.id)] == ["first"]


def test_events_are_numbered_per_attempt_and_keep_their_data(store: Store, task: Task) -> None:
    one = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
    two = store.start_attempt(task.id, number=2, prompt="p", checkpoint_before="c")
    store.add_event(one.id, "text", {"text": "hello"})
    store.add_event(two.id, "session", {"session_id": "s"})
    store.add_event(one.id, "tool_call", {"name": "Bash", "input": {"command": "ls"}, "allowed": True, "n": 2})

    events = store.events(one.id)
    assert [(e.seq, e.kind) for e in events] == [(1, "text"), (2, "tool_call")]
    assert events[1].data == {"name": "Bash", "input": {"command": "ls"}, "allowed": True, "n": 2}
    assert [(e.seq, e.kind) for e in store.events(two.id)] == [(1, "session")]


def test_event_for_an_unknown_attempt_is_refused(store: Store) -> None:
    with pytest.raises(UsageError, match="unknown attempt id 42"):
        store.add_event(42, "text", {})


def test_finish_attempt_writes_attempt_changes_findings_and_decision(store: Store, task: Task) -> None:
    attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="before")
    verdict = Verdict(
        findings=(
            Finding("validate", "false_claim", Severity.BLOCKING, "claims tests pass; they fail"),
            Finding("gates", "lint", Severity.WARNING, "2 ruff errors"),
        ),
        confidence=0.25,
    )
    finish(
        store,
        attempt.id,
        session_id="session-9",
        result_text="all done",
        error="",
        cost_usd=0.42,
        checkpoint_after="after",
        changes=[
            FileChange("src/a.py", "modified", "1" * 40, "2" * 40),
            FileChange("b.txt", "added", None, "3" * 40),
        ],
        verdict=verdict,
        outcome=Outcome(Decision.RETRY, feedback="run the tests before claiming they pass"),
    )

    [saved] = store.attempts(task.id)
    assert (saved.status, saved.session_id, saved.result_text, saved.cost_usd, saved.checkpoint_after) == (
        AttemptStatus.FINISHED,
        "session-9",
        "all done",
        0.42,
        "after",
    )
    assert saved.finished_at is not None and saved.finished_at >= saved.started_at
    assert [(c.path, c.kind, c.sha_before, c.sha_after) for c in store.file_changes(attempt.id)] == [
        ("src/a.py", "modified", "1" * 40, "2" * 40),
        ("b.txt", "added", None, "3" * 40),
    ]
    assert [(f.stage, f.code, f.severity, f.message) for f in store.findings(attempt.id)] == [
        ("validate", "false_claim", Severity.BLOCKING, "claims tests pass; they fail"),
        ("gates", "lint", Severity.WARNING, "2 ruff errors"),
    ]
    decision = store.decision(attempt.id)
    assert decision is not None
    assert (decision.decision, decision.confidence, decision.feedback, decision.brief) == (
        Decision.RETRY,
        0.25,
        "run the tests before claiming they pass",
        "",
    )


def test_finish_without_verdict_or_outcome_writes_only_the_attempt(store: Store, task: Task) -> None:
    attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
    finish(store, attempt.id, status=AttemptStatus.ERROR, result_text="", error="agent crashed")

    [saved] = store.attempts(task.id)
    assert (saved.status, saved.error) == (AttemptStatus.ERROR, "agent crashed")
    assert store.findings(attempt.id) == []
    assert store.decision(attempt.id) is None


def test_failed_finish_writes_nothing(store: Store, task: Task, query: Query) -> None:
    attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
    # Another program decided the attempt already: a second decision violates a constraint at the
    # end of the transaction, and the whole transaction is undone.
    query(
        "INSERT INTO decisions (attempt_id, decision, feedback, brief, at) VALUES (:id, 'proceed', '', '', :at)",
        id=attempt.id,
        at="2025-01-01 00:00:00+00:00",
    )
    with pytest.raises(StoreError):
        finish(
            store,
            attempt.id,
            status=AttemptStatus.ERROR,
            changes=[FileChange("x.py", "added", None, "4" * 40)],
            outcome=Outcome(Decision.RETRY, feedback="try again"),
        )
    [saved] = store.attempts(task.id)
    assert saved.status == AttemptStatus.RUNNING
    assert store.file_changes(attempt.id) == []
    assert store.get_task(task.id).pending_feedback is None
    decision = store.decision(attempt.id)
    assert decision is not None and decision.decision == Decision.PROCEED
