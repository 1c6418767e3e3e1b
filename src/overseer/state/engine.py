"""Connecting to the state database: engine set-up, schema migration and error translation.

Kept apart from `store.py` so the store reads as the list of things overseer records, while
the SQLite-specific care lives here:

- WAL journal, so `overseer task list` can read while `overseer run` writes;
- a busy timeout, so two processes queue for the write lock instead of failing at once;
- foreign keys on (SQLite leaves them off by default);
- transactions begun by us, not by the sqlite3 driver, which would run SELECTs outside any
  transaction and start writes late. A writing transaction starts with BEGIN IMMEDIATE, so it
  waits for the lock up front instead of failing when it upgrades a read to a write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, exc, inspect, make_url, text

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

from overseer.errors import OverseerError, StoreError, StoreLockedError

# Execution option read by the "begin" hook: how a SQLite transaction starts.
SQLITE_BEGIN = "overseer_sqlite_begin"
WRITE_OPTIONS = {SQLITE_BEGIN: "IMMEDIATE"}
MIGRATIONS = "overseer.state:migrations"  # package resource: works from a wheel as well as a checkout
# The newest revision in migrations/versions. Known here so that start-up can check the schema with
# one plain query and import Alembic only to migrate; tests/state checks it matches Alembic's head.
HEAD_REVISION = "0002"


def sqlite_url(path: Path) -> str:
    return URL.create("sqlite+pysqlite", database=str(path)).render_as_string()


def location(url: str) -> str:
    """Where the database is, for error messages: a file path, or the URL without its password."""
    parsed = make_url(url)
    if _is_sqlite_file(parsed):
        return str(parsed.database)
    return parsed.render_as_string(hide_password=True)


def connect(url: str, *, busy_timeout: float) -> Engine:
    parsed = make_url(url)
    if _is_sqlite_file(parsed):
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, busy_timeout)
    return engine


def _is_sqlite_file(url: URL) -> bool:
    database = url.database or ""
    return url.get_backend_name() == "sqlite" and database not in ("", ":memory:")


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the "begin" hook below emits BEGIN instead
        cursor = dbapi_connection.cursor()
        try:
            # The timeout first: switching to WAL itself waits for a lock.
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """Turn database and migration failures into StoreError, so the CLI can report them in one line."""
    try:
        yield
    except OverseerError:
        raise
    except exc.OperationalError as error:
        if "database is locked" in str(error.orig):
            raise StoreLockedError(
                "the state database is locked by another process",
                path=where,
                hint="wait for the other overseer to finish, or raise store.busy_timeout_s",
            ) from error
        raise _store_error(error, where) from error
    except exc.SQLAlchemyError as error:
        raise _store_error(error, where) from error


def _store_error(error: Exception, where: str) -> StoreError:
    detail = error.orig if isinstance(error, exc.DBAPIError) else error
    return StoreError(f"the state database could not be used: {detail}", path=where)


def upgrade_if_needed(engine: Engine, where: str) -> None:
    """Bring the schema to the newest revision; one plain read when it is already there (every start-up)."""
    with engine.connect() as connection:
        if _recorded_revisions(connection) == {HEAD_REVISION}:
            return
    from alembic.util import CommandError

    try:
        _migrate(engine, where)
    except CommandError as error:
        raise _store_error(error, where) from error


def _migrate(engine: Engine, where: str) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    heads = set(script.get_heads())
    with engine.execution_options(**WRITE_OPTIONS).begin() as connection:
        current = _current_revisions(connection)
        if current == heads:  # another process migrated while we waited for the lock
            return
        _refuse_unknown(current, script, where)
        command.upgrade(_alembic_config(connection), "heads")


def _recorded_revisions(connection: Connection) -> set[str]:
    if not inspect(connection).has_table("alembic_version"):
        return set()
    return {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}


def _current_revisions(connection: Connection) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    return set(MigrationContext.configure(connection).get_current_heads())


def _refuse_unknown(current: set[str], script: ScriptDirectory, where: str) -> None:
    known = {revision.revision for revision in script.walk_revisions()}
    if unknown := current - known:
        raise StoreError(
            f"the state database has schema revision {', '.join(sorted(unknown))}, unknown to this overseer",
            path=where,
            hint="it was written by a newer overseer; upgrade overseer",
        )


def _alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    return config
