"""Opening the store: schema creation, cheap re-opens, schema drift and a locked database, on both backends."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from overseer.errors import StoreError, StoreLockedError
from overseer.redact import Redactor
from overseer.state.engine import HEAD_REVISION, location
from overseer.state.models import Base
from overseer.state.store import Store

if TYPE_CHECKING:
    from .conftest import Query, WriteLock

TABLES = {
    "alembic_version",
    "projects",
    "tasks",
    "task_dependencies",
    "attempts",
    "verdicts",
    "resolutions",
    "breakpoints",
    "events",
    "file_changes",
    "findings",
    "decisions",
}


def open_store(url: str, busy_timeout: float = 5.0) -> Store:
    return Store.open(url, redactor=Redactor([]), busy_timeout=busy_timeout)


def test_open_creates_the_schema_at_head(store_url: str, query: Query) -> None:
    open_store(store_url).close()

    engine = create_engine(store_url, poolclass=NullPool)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()
    assert query("SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_open_of_a_sqlite_file_creates_its_directory_and_uses_wal(db_path: Path, store_url: str, query: Query) -> None:
    open_store(store_url).close()

    assert db_path.is_file()
    assert query("PRAGMA journal_mode") == [("wal",)]


def test_migration_matches_models(store_url: str) -> None:
    open_store(store_url).close()
    engine = create_engine(store_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_reopen_keeps_data_and_only_reads_while_another_process_writes(
    store_url: str, tmp_path: Path, write_lock_held: WriteLock
) -> None:
    with open_store(store_url) as store:
        project = store.ensure_project(tmp_path)
        store.add_task(project.id, "survives a re-open")

    # Were it to migrate again it would need the write lock, and fail within the busy timeout.
    with write_lock_held(), open_store(store_url, busy_timeout=0.2) as store:
        assert [task.text for task in store.list_tasks(project.id)] == ["survives a re-open"]


def test_open_of_a_locked_new_database_raises_locked_error(store_url: str, write_lock_held: WriteLock) -> None:
    started = time.monotonic()
    with write_lock_held(), pytest.raises(StoreLockedError) as caught:
        open_store(store_url, busy_timeout=0.2)
    assert time.monotonic() - started < 5  # the busy timeout was honoured, not the 5 s default
    assert caught.value.context["path"] == location(store_url)
    assert "busy_timeout" in caught.value.hint


def test_write_to_a_locked_database_raises_locked_error_and_writes_nothing(
    store_url: str, tmp_path: Path, write_lock_held: WriteLock
) -> None:
    with open_store(store_url, busy_timeout=0.2) as store:
        project = store.ensure_project(tmp_path)
        with write_lock_held(), pytest.raises(StoreLockedError, match="locked by another process"):
            store.add_task(project.id, "must not be lost silently")
        assert store.list_tasks(project.id) == []


def test_database_from_a_newer_overseer_is_refused_and_left_as_it_was(store_url: str, query: Query) -> None:
    open_store(store_url).close()
    query("UPDATE alembic_version SET version_num = '9999'")

    with pytest.raises(StoreError, match="9999") as caught:
        open_store(store_url)
    assert "newer overseer" in caught.value.hint
    assert query("SELECT version_num FROM alembic_version") == [("9999",)]


WORKER = """
import sys
from pathlib import Path
from overseer.redact import Redactor
from overseer.state.store import Store

with Store.open(sys.argv[1], redactor=Redactor([])) as store:
    project = store.ensure_project(Path(sys.argv[2]))
    for i in range(10):
        task = store.add_task(project.id, f"{sys.argv[3]}-{i}")
        attempt = store.start_attempt(task.id, number=1, prompt="p", checkpoint_before="c")
        store.add_event(attempt.id, "text", {})
"""


def test_processes_starting_together_on_a_new_database_all_get_their_writes_in(
    store_url: str, tmp_path: Path, query: Query
) -> None:
    # They race to create the schema, then for the write lock; the lock and the busy timeout make them queue.
    command = [sys.executable, "-W", "error", "-c", WORKER, store_url, str(tmp_path)]
    workers = [subprocess.Popen([*command, f"w{n}"], stderr=subprocess.PIPE, text=True) for n in range(3)]
    errors = [worker.communicate(timeout=60)[1] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0, 0], errors
    assert query("SELECT count(*) FROM tasks") == [(30,)]
    assert query("SELECT count(*) FROM events") == [(30,)]
    assert query("SELECT count(*) FROM projects") == [(1,)]


def test_the_head_revision_known_to_start_up_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from overseer.state.engine import _alembic_config

    assert ScriptDirectory.from_config(_alembic_config()).get_heads() == [HEAD_REVISION]


KILLED_AFTER_COMMIT = """
import os, signal, sys
from pathlib import Path
from overseer.redact import Redactor
from overseer.state.store import Store

store = Store.open(sys.argv[1], redactor=Redactor([]))
project = store.ensure_project(Path(sys.argv[2]))
store.add_task(project.id, "committed, then killed")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_commit_survives_the_process_being_killed_right_after(store_url: str, tmp_path: Path, query: Query) -> None:
    # No close, no checkpoint, no exit handler: what is committed must already be safe.
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_COMMIT, store_url, str(tmp_path)], check=False)

    assert killed.returncode == -9
    assert query("SELECT text FROM tasks") == [("committed, then killed",)]


def test_a_database_recording_two_revisions_at_once_is_refused_in_one_line(store_url: str, query: Query) -> None:
    open_store(store_url).close()
    query("INSERT INTO alembic_version (version_num) VALUES ('0001')")

    with pytest.raises(StoreError, match="could not be migrated: Requested revision") as caught:
        open_store(store_url)
    assert len(str(caught.value).splitlines()) == 1
    assert sorted(query("SELECT version_num FROM alembic_version")) == [("0001",), (HEAD_REVISION,)]
