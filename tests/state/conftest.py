"""Fixtures for the state layer: a real SQLite file per test, opened through the real Store."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from overseer.redact import Redactor
from overseer.state.models import Project
from overseer.state.store import Store, sqlite_url


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "overseer.db"


@pytest.fixture
def secret() -> str:
    """A secret the `redactor` fixture knows by value."""
    return "hunter2-correct-horse-battery"


@pytest.fixture
def redactor(secret: str) -> Redactor:
    return Redactor([secret])


@pytest.fixture
def store(db_path: Path, redactor: Redactor) -> Iterator[Store]:
    with Store.open(sqlite_url(db_path), redactor=redactor) as opened:
        yield opened


@pytest.fixture
def project(store: Store, tmp_path: Path) -> Project:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return store.ensure_project(workspace)


Query = Callable[..., list[tuple[object, ...]]]


@pytest.fixture
def query(db_path: Path) -> Query:
    """Run SQL on the database file directly, bypassing the store, to see what really got written."""

    def run(sql: str, *params: object) -> list[tuple[object, ...]]:
        with closing(sqlite3.connect(db_path)) as connection:
            return connection.execute(sql, params).fetchall()

    return run
