"""Opening the store: schema creation, cheap re-opens, schema drift and a locked database."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from overseer.errors import StoreError, StoreLockedError
from overseer.redact import Redactor
from overseer.state.engine import HEAD_REVISION
from overseer.state.models import Base
from overseer.state.store import Store, sqlite_url

if TYPE_CHECKING:
    from .conftest import Query

TABLES = {
    "alembic_version",
    "projects",
    "tasks",
    "task_dependencies",
    "attempts",
    "verdicts",
    "resolutions",
    "events",
    "file_changes",
    "findings",
    "decisions",
}


def open_store(db_path: Path, busy_timeout: float = 5.0) -> Store:
    return Store.open(sqlite_url(db_path), redactor=Redactor([]), busy_timeout=busy_timeout)


@contextmanager
def write_lock_held(db_path: Path) -> Iterator[None]:
    """Another process's writer, as SQLite sees it: a separate connection inside BEGIN IMMEDIATE."""
    with closing(sqlite3.connect(db_path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")


def test_open_creates_parent_dir_schema_and_wal(db_path: Path, query: Query) -> None:
    open_store(db_path).close()

    tables = {name for (name,) in query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == TABLES
    assert query("SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert query("PRAGMA journal_mode") == [("wal",)]


def test_migration_matches_models(db_path: Path) -> None:
    open_store(db_path).close()
    engine = create_engine(sqlite_url(db_path))
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_reopen_keeps_data_and_only_reads_while_another_process_writes(db_path: Path, tmp_path: Path) -> None:
    with open_store(db_path) as store:
        project = store.ensure_project(tmp_path)
        store.add_task(project.id, "survives a re-open")

    # Were it to migrate again it would need the write lock, and fail within the busy timeout.
    with write_lock_held(db_path), open_store(db_path, busy_timeout=0.2) as store:
        assert [task.text for task in store.list_tasks(project.id)] == ["survives a re-open"]


def test_open_of_a_locked_new_database_raises_locked_error(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    started = time.monotonic()
    with write_lock_held(db_path), pytest.raises(StoreLockedError) as caught:
        open_store(db_path, busy_timeout=0.2)
    assert time.monotonic() - started < 5  # the busy timeout was honoured, not the 5 s default
    assert caught.value.context["path"] == str(db_path)
    assert "busy_timeout" in caught.value.hint


def test_write_to_a_locked_database_raises_locked_error_and_writes_nothing(db_path: Path, tmp_path: Path) -> None:
    with open_store(db_path, busy_timeout=0.2) as store:
        project = store.ensure_project(tmp_path)
        with write_lock_held(db_path), pytest.raises(StoreLockedError, match="locked by another process"):
            store.add_task(project.id, "must not be lost silently")
        assert store.list_tasks(project.id) == []


def test_database_from_a_newer_overseer_is_refused(db_path: Path) -> None:
    open_store(db_path).close()
    with closing(sqlite3.connect(db_path)) as connection, connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")

    with pytest.raises(StoreError, match="9999") as caught:
        open_store(db_path)
    assert "newer overseer" in caught.value.hint


def test_unusable_database_file_raises_store_error(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as caught:
        open_store(db_path)
    assert not isinstance(caught.value, StoreLockedError)
    assert caught.value.context["path"] == str(db_path)


WORKER = """
import sys
from pathlib import Path
from overseer.redact import Redactor
from overseer.state.store import Store, sqlite_url

db = Path(sys.argv[1])
with Store.open(sqlite_url(db), redactor=Redactor([])) as store:
    project = store.ensure_project(db.parent)
    for i in range(10):
        task = store.add_task(project.id, f"{sys.argv[2]}-{i}")
        attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
        store.add_event(attempt.id, "text", {})
"""


def test_processes_starting_together_on_a_new_database_all_get_their_writes_in(db_path: Path, query: Query) -> None:
    # They race to create the schema, then for the write lock; WAL and the busy timeout make them queue.
    command = [sys.executable, "-W", "error", "-c", WORKER, str(db_path)]
    workers = [subprocess.Popen([*command, f"w{n}"], stderr=subprocess.PIPE, text=True) for n in range(3)]
    errors = [worker.communicate(timeout=60)[1] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0, 0], errors
    assert query("SELECT count(*) FROM tasks") == [(30,)]
    assert query("SELECT count(*) FROM events") == [(30,)]
    assert query("SELECT count(*) FROM projects") == [(1,)]


def test_the_head_revision_known_to_start_up_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from overseer.state.engine import HEAD_REVISION, _alembic_config

    assert ScriptDirectory.from_config(_alembic_config()).get_heads() == [HEAD_REVISION]
