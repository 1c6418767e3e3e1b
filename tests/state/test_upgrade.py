"""Alembic carries every schema change, on both backends: a database made at the oldest revision and
filled as an old overseer filled it upgrades to head, keeps every row, and takes new ones.

The rows go in through the tables as they were at that revision (reflected from the database),
ids assigned by the database itself: on PostgreSQL that is what keeps its sequences in step, so the
writes after the upgrade prove the ids go on where they were.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, create_engine, inspect
from sqlalchemy.pool import NullPool

from overseer.domain import AttemptStatus, Decision, Route, Severity, TaskStatus
from overseer.redact import Redactor
from overseer.state.engine import _alembic_config
from overseer.state.store import Store

THEN = datetime(2025, 1, 1, 12, 30, 15, 123456, tzinfo=UTC)


def oldest_revision() -> str:
    [base] = ScriptDirectory.from_config(_alembic_config()).get_bases()
    return base


def insert(connection: Connection, tables: MetaData, table: str, **values: Any) -> int:
    primary_key = connection.execute(tables.tables[table].insert().values(**values)).inserted_primary_key
    return int(primary_key[0]) if primary_key else 0


def fill(connection: Connection) -> dict[str, int]:
    """What an overseer at the oldest revision had recorded: two tasks, one judged attempt."""
    tables = MetaData()
    tables.reflect(connection)
    ids: dict[str, int] = {}
    ids["project"] = insert(connection, tables, "projects", workspace="/ws", created_at=THEN)
    common = {"project_id": ids["project"], "priority": 1, "created_at": THEN, "updated_at": THEN}
    ids["first"] = insert(connection, tables, "tasks", text="add mul", status="needs_human", **common)
    ids["second"] = insert(connection, tables, "tasks", text="test mul", status="pending", **common)
    insert(connection, tables, "task_dependencies", task_id=ids["second"], depends_on_id=ids["first"])
    ids["attempt"] = insert(
        connection,
        tables,
        "attempts",
        task_id=ids["first"],
        number=1,
        status="finished",
        prompt="do it",
        session_id="s-1",
        checkpoint_before="abc",
        result_text="done",
        error="",
        cost_usd=0.25,
        started_at=THEN,
        finished_at=THEN,
    )
    attempt = {"attempt_id": ids["attempt"]}
    event = {"seq": 1, "kind": "tool_call", "data": {"name": "Bash", "n": [1, 2]}, "at": THEN}
    insert(connection, tables, "events", **event, **attempt)
    insert(connection, tables, "file_changes", path="a.py", kind="added", sha_after="1" * 40, **attempt)
    finding = {"stage": "gates", "code": "tests_failed", "severity": "blocking", "message": "1 of 3 failed"}
    insert(connection, tables, "findings", **finding, **attempt)
    decision = {"decision": "escalate", "confidence": 0.2, "feedback": "", "brief": "stopped", "at": THEN}
    insert(connection, tables, "decisions", **decision, **attempt)
    return ids


def test_a_filled_database_at_the_oldest_revision_upgrades_to_head_intact(store_url: str, db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)  # where the SQLite file goes (the store would make it)
    engine = create_engine(store_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), oldest_revision())
            ids = fill(connection)
    finally:
        engine.dispose()

    with Store.open(store_url, redactor=Redactor([])) as store:
        assert [(t.id, t.text, t.status, t.created_at) for t in store.list_tasks(ids["project"])] == [
            (ids["first"], "add mul", TaskStatus.NEEDS_HUMAN, THEN),
            (ids["second"], "test mul", TaskStatus.PENDING, THEN),
        ]
        assert store.dependencies(ids["project"]) == {ids["first"]: set(), ids["second"]: {ids["first"]}}
        [attempt] = store.attempts(ids["first"])
        assert (attempt.id, attempt.status, attempt.cost_usd, attempt.finished_at) == (
            ids["attempt"],
            AttemptStatus.FINISHED,
            0.25,
            THEN,
        )
        assert [(e.seq, e.kind, e.data) for e in store.events(attempt.id)] == [
            (1, "tool_call", {"name": "Bash", "n": [1, 2]})
        ]
        assert [(c.path, c.kind) for c in store.file_changes(attempt.id)] == [("a.py", "added")]
        [finding] = store.findings(attempt.id)
        assert (finding.code, finding.severity, finding.route) == ("tests_failed", Severity.BLOCKING, Route.AGENT)
        decision = store.decision(attempt.id)
        assert decision is not None and (decision.decision, decision.brief) == (Decision.ESCALATE, "stopped")
        assert store.verdict(attempt.id) is None

        # New rows after the old ones: ids and event numbers go on, the newer tables take rows.
        third = store.add_task(ids["project"], "after the upgrade", depends_on=[ids["first"]])
        assert third.id > ids["second"]
        again = store.start_attempt(ids["first"], number=2, prompt="again", checkpoint_before="def")
        assert again.id > ids["attempt"]
        store.add_event(attempt.id, "text", {})
        assert [e.seq for e in store.events(attempt.id)] == [1, 2]
        assert store.add_resolution(ids["first"], "retry").attempt_id == again.id

    with Store.open(store_url, redactor=Redactor([])) as reopened:  # at head now: no migration, same rows
        assert len(reopened.list_tasks(ids["project"])) == 3


def test_every_revision_goes_down_and_up_again(store_url: str, db_path: Path) -> None:
    with Store.open(store_url, redactor=Redactor([])) as store:
        store.ensure_project(db_path.parent)  # the oldest tables hold a row on the way down
    engine = create_engine(store_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            command.downgrade(_alembic_config(connection), oldest_revision())
            assert MigrationContext.configure(connection).get_current_heads() == (oldest_revision(),)
            command.downgrade(_alembic_config(connection), "base")
            assert set(inspect(connection).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()

    with Store.open(store_url, redactor=Redactor([])) as store:  # up again, from nothing
        assert store.list_tasks(store.ensure_project(db_path.parent).id) == []
