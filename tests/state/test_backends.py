"""What one backend accepts, the other does too: odd values come back alike from SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from overseer.domain import AttemptStatus, Decision, Outcome, TaskStatus, Verdict
from overseer.errors import StoreError
from overseer.state.models import Project
from overseer.state.store import Store

if TYPE_CHECKING:
    from .conftest import Query


def test_text_with_a_nul_character_is_stored_not_refused(store: Store, project: Project, backend: str) -> None:
    # Agent output can carry a stray NUL; PostgreSQL's text cannot hold one, so it becomes U+FFFD there.
    task = store.add_task(project.id, "before\x00after")
    attempt = store.start_attempt(task.id, number=1, prompt="p\x00", checkpoint_before="c")
    store.add_event(attempt.id, "tool_result", {"output": "bin\x00ary"})

    nul = "\x00" if backend == "sqlite" else "\ufffd"
    assert store.get_task(task.id).text == f"before{nul}after"
    assert store.attempts(task.id)[0].prompt == f"p{nul}"
    assert store.events(attempt.id)[0].data == {"output": "bin\x00ary"}  # JSON escapes it: kept on both


def test_json_without_a_standard_form_is_stored_as_null(store: Store, project: Project) -> None:
    # Python's json writes NaN and Infinity; PostgreSQL refuses them, so neither backend keeps them.
    task = store.add_task(project.id, "t")
    attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
    store.add_event(attempt.id, "timings", {"ok": 1.5, "nan": math.nan, "deep": [{"inf": -math.inf}, "s", 2]})
    store.finish_attempt(
        attempt.id,
        status=AttemptStatus.FINISHED,
        session_id=None,
        result_text="",
        error="",
        cost_usd=None,
        checkpoint_after=None,
        changes=(),
        verdict=Verdict(findings=(), features={"coverage": math.nan, "lines": 3.0}),
        outcome=Outcome(Decision.PROCEED),
    )

    assert store.events(attempt.id)[0].data == {"ok": 1.5, "nan": None, "deep": [{"inf": None}, "s", 2]}
    assert store.verdict_features(attempt.id) == {"coverage": None, "lines": 3.0}


def test_unicode_long_text_floats_and_times_round_trip(store: Store, project: Project) -> None:
    text = "naïve ✓ 字 🙂 " + "x" * 1_000_000
    task = store.add_task(project.id, text)
    attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
    store.finish_attempt(
        attempt.id,
        status=AttemptStatus.FINISHED,
        session_id="s",
        result_text="",
        error="",
        cost_usd=0.1 + 0.2,  # not a round number in binary: a float column keeps all its digits
        checkpoint_after=None,
        changes=(),
        verdict=None,
        outcome=None,
    )

    assert store.get_task(task.id).text == text
    [saved] = store.attempts(task.id)
    assert saved.cost_usd == 0.1 + 0.2
    assert saved.started_at == attempt.started_at  # to the microsecond, the same instant
    assert saved.started_at.tzinfo == UTC


def test_events_keep_key_order_and_nesting(store: Store, project: Project, query: Query) -> None:
    task = store.add_task(project.id, "t")
    attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
    data = {"z": 1, "a": {"list": [1, "two", None, True, 2**70]}, "m": "ok"}
    store.add_event(attempt.id, "tool_call", data)

    [event] = store.events(attempt.id)
    assert event.data == data
    assert list(event.data) == ["z", "a", "m"]
    assert query("SELECT count(*) FROM events WHERE attempt_id = :id", id=attempt.id) == [(1,)]


def test_a_time_without_a_zone_is_refused_before_it_is_written(store: Store, project: Project) -> None:
    # Which zone a naive time meant cannot be known: SQLite would keep it as given, PostgreSQL as local time.
    task = store.add_task(project.id, "t")
    with pytest.raises(StoreError, match="naive datetime"):
        store.claim_task(task.id, "runner", until=datetime(2030, 1, 1))
    assert store.get_task(task.id).status is TaskStatus.PENDING
