"""A database overseer cannot use gives one clear line and an exit code, and nothing is written to it.

Through the real CLI (`overseer task list|add` in-process), with `store.url` set in the workspace's
config as a user sets it: a corrupt or foreign SQLite file, a schema from a newer overseer, a
PostgreSQL server that is down or refuses the password, and a full disk.

The full disk is real: a tmpfs of a few MiB is mounted for the test (which needs root, as CI and
these machines run; elsewhere the test skips and says so), filled with a file, and the kernel
answers ENOSPC. SQLite's max_page_count would give the same SQLITE_FULL without the kernel, so it
would not show that a failed write of the WAL file is reported and undone. For PostgreSQL the
database lives in a tablespace on the tmpfs (its WAL stays on the cluster's disk, as PostgreSQL
itself advises), so the server reports `could not extend file` and stays up.
"""

from __future__ import annotations

import errno
import secrets
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from sqlalchemy import make_url

from overseer.errors import StoreError
from overseer.redact import Redactor
from overseer.state.store import Store, sqlite_url
from overseer.testing.postgres import PostgresCluster, free_port
from tests.conftest import Ran

if TYPE_CHECKING:
    from .conftest import Query

Overseer = Callable[..., Ran]
TINY_DISK_MIB = 16  # room for PostgreSQL's copy of template0 (about 8 MiB) in the tablespace


@pytest.fixture
def ws(tmp_path: Path, overseer: Overseer) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    assert overseer("init", str(path)).code == 0
    return path


def use_store(ws: Path, url: str) -> None:
    (ws / ".overseer" / "config.yaml").write_text(yaml.safe_dump({"store": {"url": url}}), encoding="utf-8")


def one_error_line(ran: Ran) -> str:
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    assert lines[0].startswith("error: "), ran.err
    return lines[0]


def tables(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as connection:
        return [name for (name,) in connection.execute("SELECT name FROM sqlite_master ORDER BY name")]


# SQLite


def test_a_file_that_is_not_a_database_is_named_and_left_untouched(ws: Path, overseer: Overseer) -> None:
    database = ws / ".overseer" / "state.db"
    for leftover in database.parent.glob("state.db*"):
        leftover.unlink()
    garbage = b"this is not a database, it is someone's notes\n" * 200
    database.write_bytes(garbage)

    ran = overseer("task", "list", "--workspace", str(ws))

    assert ran.code == 1
    line = one_error_line(ran)
    assert "not an overseer database, or it is damaged" in line
    assert str(database) in line
    assert database.read_bytes() == garbage


def test_another_programs_sqlite_database_is_refused_not_migrated(ws: Path, tmp_path: Path, overseer: Overseer) -> None:
    foreign = tmp_path / "accounts.db"
    with closing(sqlite3.connect(foreign)) as connection, connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO customers (name) VALUES ('Ada')")
    use_store(ws, sqlite_url(foreign))

    ran = overseer("task", "add", "x", "--workspace", str(ws))

    assert ran.code == 1
    assert "holds other tables (customers) and no overseer schema" in one_error_line(ran)
    assert tables(foreign) == ["customers"]


def test_a_schema_from_a_newer_overseer_is_refused_and_kept(ws: Path, overseer: Overseer) -> None:
    database = ws / ".overseer" / "state.db"
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")

    ran = overseer("task", "add", "x", "--workspace", str(ws))

    assert ran.code == 1
    line = one_error_line(ran)
    assert "schema revision 9999, unknown to this overseer" in line
    assert "upgrade overseer" in line
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [("9999",)]
        assert connection.execute("SELECT count(*) FROM tasks").fetchall() == [(0,)]


# PostgreSQL


def test_a_postgresql_server_that_is_down_is_one_line(ws: Path, overseer: Overseer) -> None:
    use_store(ws, f"postgresql+psycopg://overseer:pw-not-shown@127.0.0.1:{free_port()}/overseer")

    ran = overseer("task", "list", "--workspace", str(ws))

    assert ran.code == 1
    line = one_error_line(ran)
    assert "cannot connect to the PostgreSQL server: Connection refused" in line
    assert "pw-not-shown" not in ran.err
    assert "store.url" in line


def test_a_refused_password_is_one_line_without_the_password(
    ws: Path, overseer: Overseer, postgres: PostgresCluster
) -> None:
    url = postgres.create_database()
    use_store(ws, postgres.url(str(make_url(url).database), password="wrong-password-123"))

    ran = overseer("task", "add", "x", "--workspace", str(ws))

    assert ran.code == 1
    line = one_error_line(ran)
    assert 'cannot connect to the PostgreSQL server: password authentication failed for user "postgres"' in line
    assert "wrong-password-123" not in ran.err
    assert postgres.password not in ran.err


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_foreign_postgresql_database_is_refused_not_migrated(store_url: str, query: Query) -> None:
    query("CREATE TABLE customers (id serial PRIMARY KEY, name text)")

    with pytest.raises(StoreError, match=r"holds other tables \(customers\)"):
        Store.open(store_url, redactor=Redactor([]))
    assert query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == [("customers",)]


# A full disk


@pytest.fixture
def tiny_disk() -> Iterator[Path]:
    # Not under tmp_path: the PostgreSQL server's user must be able to reach its tablespace here.
    mount_point = Path(tempfile.mkdtemp(prefix="overseer-tiny-disk-"))
    mount_point.chmod(0o755)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TINY_DISK_MIB}m,mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"a full disk is simulated with a tmpfs, and it could not be mounted: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", str(mount_point)], check=True)
        mount_point.rmdir()


def fill(disk: Path) -> Path:
    """Write a file until the kernel says the disk is full; returns it (delete it to free the space)."""
    filler = disk / "filler"
    chunk = b"\0" * (1 << 16)
    with filler.open("wb", buffering=0) as out:
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return filler


def task_texts(overseer: Overseer, ws: Path) -> list[str]:
    ran = overseer("task", "list", "--workspace", str(ws), "--json")
    assert ran.code == 0, ran.err
    return [task["text"] for task in ran.json()["tasks"]]


@pytest.fixture
def url_on_tiny_disk(backend: str, tiny_disk: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new database whose tables live on the tiny disk."""
    if backend == "sqlite":
        yield sqlite_url(tiny_disk / "state.db")
        return
    postgres: PostgresCluster = request.getfixturevalue("postgres")
    space = tiny_disk / "tablespace"
    space.mkdir()
    postgres.own(space)
    name = f"tiny_{secrets.token_hex(4)}"
    postgres.execute(f"CREATE TABLESPACE {name} LOCATION '{space}'")
    try:
        yield postgres.create_database(name, tablespace=name)
    finally:
        postgres.drop_database(name)
        postgres.execute(f"DROP TABLESPACE {name}")


def incompressible(size: int) -> str:
    """PostgreSQL compresses long values: a repetitive text would fit in the last free page anyway."""
    return secrets.token_hex(size // 2)


def test_a_full_disk_is_one_line_and_writes_nothing(
    ws: Path, overseer: Overseer, tiny_disk: Path, url_on_tiny_disk: str
) -> None:
    # Every command is a new process; on SQLite it fails as it opens the WAL's shared-memory file.
    use_store(ws, url_on_tiny_disk)
    assert overseer("task", "add", "written while there was room", "--workspace", str(ws)).code == 0
    filler = fill(tiny_disk)

    ran = overseer("task", "add", incompressible(2 << 20), "--workspace", str(ws))

    assert ran.code == 1
    line = one_error_line(ran)
    assert "the disk that holds the state database is full; nothing was written" in line
    assert "free some space" in line
    filler.unlink()
    assert task_texts(overseer, ws) == ["written while there was room"]
    assert overseer("task", "add", "written after", "--workspace", str(ws)).code == 0
    assert task_texts(overseer, ws) == ["written while there was room", "written after"]


def test_a_disk_that_fills_while_the_store_is_open_fails_one_write_only(
    tmp_path: Path, tiny_disk: Path, url_on_tiny_disk: str
) -> None:
    with Store.open(url_on_tiny_disk, redactor=Redactor([])) as store:
        project = store.ensure_project(tmp_path)
        kept = store.add_task(project.id, "written while there was room")
        attempt = store.start_attempt(kept.id, number=1, prompt="p", checkpoint_before="c")
        filler = fill(tiny_disk)

        with pytest.raises(StoreError, match="disk that holds the state database is full"):
            store.add_event(attempt.id, "tool_result", {"output": incompressible(2 << 20)})
        filler.unlink()

        assert store.events(attempt.id) == []
        store.add_event(attempt.id, "text", {"text": "the store works again"})
        assert [event.seq for event in store.events(attempt.id)] == [1]
        assert [task.text for task in store.list_tasks(project.id)] == ["written while there was room"]
