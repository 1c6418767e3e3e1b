"""Fixtures for the state layer: a real database per test, opened through the real Store.

Every test that asks for `store` (or `store_url`, `query`) runs twice: on a SQLite file in a temp
dir, and on a fresh database of the real PostgreSQL server the session started (the `postgres`
fixture). A test about one backend only says so with `@pytest.mark.parametrize("backend", [...])`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from overseer.redact import Redactor
from overseer.state.engine import PG_WRITE_LOCK
from overseer.state.models import Project
from overseer.state.store import Store, sqlite_url
from overseer.testing.postgres import PostgresCluster

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "overseer.db"


@pytest.fixture
def store_url(backend: str, db_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a new, empty database on `backend`; dropped after the test."""
    if backend == "sqlite":
        yield sqlite_url(db_path)
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    url = cluster.create_database()
    yield url
    cluster.drop_database(str(make_url(url).database))


@pytest.fixture
def secret() -> str:
    """A secret the `redactor` fixture knows by value."""
    return "hunter2-correct-horse-battery"


@pytest.fixture
def redactor(secret: str) -> Redactor:
    return Redactor([secret])


@pytest.fixture
def store(store_url: str, redactor: Redactor) -> Iterator[Store]:
    with Store.open(store_url, redactor=redactor) as opened:
        yield opened


@pytest.fixture
def project(store: Store, tmp_path: Path) -> Project:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return store.ensure_project(workspace)


Query = Callable[..., list[tuple[Any, ...]]]


@pytest.fixture
def query(store_url: str) -> Iterator[Query]:
    """Run SQL on the database directly, bypassing the store, to see what really got written.

    Named parameters (`query("... WHERE id = :id", id=1)`); one transaction per call, committed.
    Its own engine, without the store's set-up, as another program would connect.
    """
    engine = create_engine(store_url, poolclass=NullPool)

    def run(sql: str, **params: object) -> list[tuple[Any, ...]]:
        with engine.begin() as connection:
            result = connection.execute(text(sql), params)
            return [tuple(row) for row in result] if result.returns_rows else []

    yield run
    engine.dispose()


WriteLock = Callable[[], AbstractContextManager[None]]


@pytest.fixture
def write_lock_held(backend: str, db_path: Path, store_url: str) -> WriteLock:
    """Another process's writer, as the backend sees it, for as long as the `with` lasts.

    SQLite: a separate connection inside BEGIN IMMEDIATE. PostgreSQL: a separate connection holding
    the advisory lock that every write of the store takes first.
    """

    @contextmanager
    def sqlite_writer() -> Iterator[None]:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(db_path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                other.execute("ROLLBACK")

    @contextmanager
    def postgresql_writer() -> Iterator[None]:
        engine = create_engine(store_url, poolclass=NullPool)
        try:
            with engine.connect() as other:
                other.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK})
                yield
                other.rollback()
        finally:
            engine.dispose()

    return sqlite_writer if backend == "sqlite" else postgresql_writer
