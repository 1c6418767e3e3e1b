"""What overseer says when the state database fails: one line, what happened and what to do.

The failures a user can act on are rows of one table, recognised by the driver's codes, not its
words: SQLite's primary result code, PostgreSQL's SQLSTATE. A connection that psycopg could not
open (or lost) carries no SQLSTATE; its first line says why (refused, wrong password, no such
database) and is kept. Anything else passes through as the driver said it, on one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exc

from overseer.errors import StoreError, StoreLockedError

# SQLite result codes (https://sqlite.org/rescode.html): primary ones, and an extended one that is
# all a full disk gives when a WAL database is opened there (its shared-memory file cannot grow).
SQLITE_READONLY, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 8, 11, 13, 14, 26
SQLITE_BUSY, SQLITE_LOCKED = 5, 6
SQLITE_IOERR_SHMSIZE = 4874
NO_SQLSTATE = ""  # psycopg's "the connection failed or was lost"


@dataclass(frozen=True)
class KnownFailure:
    sqlite_codes: frozenset[int]  # primary or extended result codes
    sqlstates: tuple[str, ...]  # exact codes or whole classes ("08"); NO_SQLSTATE for connection failures
    error: type[StoreError]
    message: str
    hint: str
    with_reason: bool = False  # append the driver's own first line (it says which of several causes)


KNOWN_FAILURES = (
    KnownFailure(
        frozenset({SQLITE_BUSY, SQLITE_LOCKED}),
        ("55P03",),  # lock_not_available: lock_timeout expired
        StoreLockedError,
        "the state database is locked by another process",
        "wait for the other overseer to finish, or raise store.busy_timeout_s",
    ),
    KnownFailure(
        frozenset({SQLITE_FULL, SQLITE_IOERR_SHMSIZE}),
        ("53100",),  # disk_full
        StoreError,
        "the disk that holds the state database is full; nothing was written",
        "free some space there, then run the command again",
    ),
    KnownFailure(
        frozenset({SQLITE_NOTADB, SQLITE_CORRUPT}),
        (),
        StoreError,
        "the state database file is not an overseer database, or it is damaged",
        "move the file aside (overseer starts a new one), or point store.url at the right database",
    ),
    KnownFailure(
        frozenset({SQLITE_CANTOPEN, SQLITE_READONLY}),
        (),
        StoreError,
        "the state database file cannot be opened for writing",
        "check that its directory exists and that this user may write there",
    ),
    KnownFailure(
        frozenset(),
        (NO_SQLSTATE, "08", "28", "3D000"),  # connection, authorization, no such database
        StoreError,
        "cannot connect to the PostgreSQL server",
        "check that it is running, and the host, port, user, password and database in store.url",
        with_reason=True,
    ),
)


def translate(error: exc.SQLAlchemyError, where: str) -> StoreError:
    detail: BaseException = error.orig if isinstance(error, exc.DBAPIError) and error.orig is not None else error
    known = _known(detail)
    if known is None:
        return StoreError(f"the state database could not be used: {first_line(detail)}", path=where)
    message = f"{known.message}: {_reason(detail)}" if known.with_reason else known.message
    return known.error(message, path=where, hint=known.hint)


def _known(detail: BaseException) -> KnownFailure | None:
    code = getattr(detail, "sqlite_errorcode", None)
    if code is not None:
        codes = {code, code & 0xFF}  # the extended code, and the primary code it refines
        return next((row for row in KNOWN_FAILURES if codes & row.sqlite_codes), None)
    sqlstate = _sqlstate(detail)
    if sqlstate is None:
        return None
    return next((row for row in KNOWN_FAILURES if any(_matches(sqlstate, code) for code in row.sqlstates)), None)


def _sqlstate(detail: BaseException) -> str | None:
    """PostgreSQL's code for the error; NO_SQLSTATE when psycopg could not open the connection (or lost
    it): no answer from the server carried a code."""
    if not type(detail).__module__.startswith("psycopg"):
        return None
    import psycopg

    sqlstate: str | None = getattr(detail, "sqlstate", None)
    return NO_SQLSTATE if sqlstate is None and isinstance(detail, psycopg.OperationalError) else sqlstate


def _matches(sqlstate: str, code: str) -> bool:
    return sqlstate == code if len(code) in (0, 5) else sqlstate.startswith(code)  # a code, or a class


def _reason(detail: BaseException) -> str:
    """psycopg's 'connection failed: connection to server at "h", port p failed: FATAL:  why' -> 'why'."""
    line = first_line(detail)
    return line.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()


def first_line(detail: BaseException) -> str:
    lines = [line.strip() for line in str(detail).splitlines() if line.strip()]
    return lines[0] if lines else type(detail).__name__
