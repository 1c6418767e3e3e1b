"""Connecting to the state database: engine set-up, schema migration and error translation.

Kept apart from `store.py` so the store reads as the list of things overseer records, while the
care each backend needs lives here. On both, the store sees the same database: one writer at a
time (a writer queues for the lock up to the busy timeout, then fails as "locked"), and each read
transaction sees one consistent snapshot.

SQLite:
- WAL journal, so `overseer task list` can read while `overseer run` writes;
- a busy timeout, so two processes queue for the write lock instead of failing at once;
- synchronous=NORMAL, which WAL makes safe: a commit survives the process being killed at any
  moment, which is what overseer must survive; only an OS crash or a power cut can undo the last
  commits (never corrupt the file), as it can undo the agent's own unsynced edits to the
  workspace. It takes the fsync out of every commit (WAL is synced at checkpoints), which was
  half of a single-row write's time here and most of its slow tail (docs/benchmarks.md);
- foreign keys on (SQLite leaves them off by default);
- transactions begun by us, not by the sqlite3 driver, which would run SELECTs outside any
  transaction and start writes late. A writing transaction starts with BEGIN IMMEDIATE, so it
  waits for the lock up front instead of failing when it upgrades a read to a write.

PostgreSQL (psycopg 3):
- a writing transaction first takes a transaction-level advisory lock: SQLite's BEGIN IMMEDIATE.
  Writers queue, so the store's read-then-write steps (the next event number, a project looked
  up then created) never race, at READ COMMITTED, where each statement sees the latest commits;
- lock_timeout is the busy timeout: how long a writer waits for that lock (or a row lock).
  statement_timeout is not its equivalent: it would also stop a long read, which SQLite lets run;
- a reading transaction runs at REPEATABLE READ: one snapshot, as a SQLite read transaction;
- a connect timeout, so a server that does not answer fails in seconds, not at TCP's timeout;
- NUL characters in text become U+FFFD: PostgreSQL's text cannot hold them (SQLite's can), and
  agent output with a stray NUL must not fail the write that records it.

On both, JSON is written as the standard has it: NaN and infinities, which Python's json writes
and PostgreSQL refuses, are stored as null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, exc, inspect, make_url, text

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

from overseer.errors import OverseerError, StoreError
from overseer.state.failures import translate

# Execution option read by the "begin" hooks: this transaction will write.
WRITING = "overseer_writing"
WRITE_OPTIONS = {WRITING: True}
MIGRATIONS = "overseer.state:migrations"  # package resource: works from a wheel as well as a checkout
# The newest revision in migrations/versions. Known here so that start-up can check the schema with
# one plain query and import Alembic only to migrate; tests/state checks it matches Alembic's head.
HEAD_REVISION = "0004"
# The advisory lock every PostgreSQL write takes ("overseer" in ASCII); advisory locks are per database.
PG_WRITE_LOCK = 0x6F766572_73656572
PG_CONNECT_TIMEOUT_S = 10


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
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    engine = create_engine(parsed, connect_args=connect_args, json_serializer=dump_json)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, busy_timeout)
    elif engine.dialect.name == "postgresql":
        _configure_postgresql(engine, busy_timeout)
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
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get(WRITING, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN DEFERRED")


def _configure_postgresql(engine: Engine, busy_timeout: float) -> None:
    # lock_timeout 0 would mean "wait forever"; SQLite's busy timeout 0 means "do not wait".
    lock_timeout_ms = max(1, int(busy_timeout * 1000))

    nul_free = _nul_free_str_dumper()

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.adapters.register_dumper(str, nul_free)
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {lock_timeout_ms}")
        dbapi_connection.commit()  # a SET in a transaction that is rolled back would be undone

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(WRITING, False):
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})").close()
        else:
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def _nul_free_str_dumper() -> type:
    from psycopg.types.string import StrDumperUnknown

    class NulFreeStr(StrDumperUnknown):
        def dump(self, obj: str) -> Any:
            return super().dump(obj.replace("\x00", "\ufffd"))

    return NulFreeStr


def dump_json(value: Any) -> str:
    """JSON without NaN or infinities (they become null); the common case pays one C-speed dumps."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


@contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """Turn database and migration failures into StoreError, so the CLI can report them in one line."""
    try:
        yield
    except OverseerError:
        raise
    except exc.SQLAlchemyError as error:
        raise translate(error, where) from error


def upgrade_if_needed(engine: Engine, where: str) -> None:
    """Bring the schema to the newest revision; one plain read when it is already there (every start-up)."""
    with engine.connect() as connection:
        if _recorded_revisions(connection) == {HEAD_REVISION}:
            return
    from alembic.util import CommandError

    try:
        _migrate(engine, where)
    except CommandError as error:
        raise StoreError(f"the state database could not be migrated: {error}", path=where) from error


def _migrate(engine: Engine, where: str) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    with engine.execution_options(**WRITE_OPTIONS).begin() as connection:
        # Read under the write lock: another process may have migrated while we waited for it
        # (then the upgrade below finds nothing to do).
        current = _current_revisions(connection)
        _refuse_unknown(current, script, where)
        if not current:
            _refuse_foreign(connection, where)
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
            hint=f"it was written by a newer overseer (this one knows up to {HEAD_REVISION}); upgrade overseer",
        )


def _refuse_foreign(connection: Connection, where: str) -> None:
    """A database with tables but no overseer schema belongs to something else: never write into it."""
    if tables := sorted(set(inspect(connection).get_table_names()) - {"alembic_version"}):
        shown = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
        raise StoreError(
            f"the state database holds other tables ({shown}) and no overseer schema",
            path=where,
            hint="it belongs to another program: point store.url at an empty or overseer database",
        )


def _alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    return config
