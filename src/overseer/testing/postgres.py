"""A throwaway PostgreSQL server: its own cluster in a temp directory, on a free loopback port.

For tests and benchmarks that need a real server (overseer's store on `postgresql+psycopg://`),
on a machine that has PostgreSQL installed but need not run it:

    with PostgresCluster() as cluster:
        url = cluster.create_database()   # a fresh, empty database; its SQLAlchemy URL
        ...

- `initdb` refuses to run as root, so as root the cluster belongs to the `postgres` user
  (`runuser -u postgres --`); as anyone else it belongs to that user.
- It listens on 127.0.0.1 only, with password authentication (scram-sha-256) for the superuser
  `postgres`, so a wrong password is refused as a real server would refuse it. Its Unix socket
  lives in the temp directory, never in /var/run/postgresql.
- `durable=False` (tests) turns fsync off: a crash of the test machine may lose the cluster,
  which is thrown away anyway. Benchmarks keep PostgreSQL's defaults.
- Stopping it (`stop`, or leaving the `with`) removes the whole directory. A process killed before
  it could stop its server leaves one behind: the next cluster started on the machine stops it
  (each directory names the process that owns it).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

PREFIX = "overseer-pg-"  # temp directories of clusters, in the system's temp dir
OWNER_FILE = "owner.pid"  # the process that started the cluster, to find orphans by
SUPERUSER = "postgres"
OWNER = "postgres"  # the system user that owns the cluster when we run as root
START_TRIES = 3  # a free port can be taken by someone else before the server binds it
_FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class PostgresUnavailable(RuntimeError):
    """The server could not be set up here; the message says why (tests skip with it)."""


def find_bin_dir() -> Path:
    """Where initdb and pg_ctl are: on PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    candidates = [path for path in Path("/usr/lib/postgresql").glob("*/bin") if (path / "initdb").exists()]
    if not candidates:
        raise PostgresUnavailable("PostgreSQL is not installed (no initdb): run `make system-packages`")
    return max(candidates, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresCluster:
    """One PostgreSQL server and its data directory; `start`/`stop`, or use it in a `with`."""

    def __init__(self, *, durable: bool = False, bin_dir: Path | None = None) -> None:
        self._durable = durable
        self._bin_dir = bin_dir
        self._root: Path | None = None
        self._names = itertools.count(1)
        self.password = secrets.token_urlsafe(16)
        self.port = 0

    @property
    def data_dir(self) -> Path:
        if self._root is None:
            raise PostgresUnavailable("the cluster is not started")
        return self._root / "data"

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        """The SQLAlchemy URL of one of the cluster's databases (`password` to try another one)."""
        secret = self.password if password is None else password
        return f"postgresql+psycopg://{SUPERUSER}:{secret}@127.0.0.1:{self.port}/{database}"

    def start(self) -> Self:
        bin_dir = self._bin_dir or find_bin_dir()
        _stop_orphans(bin_dir)
        self._root = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self._root / OWNER_FILE).write_text(str(os.getpid()), encoding="utf-8")
        try:
            self._init(bin_dir)
            self._start(bin_dir)
        except BaseException:
            self._remove()
            raise
        return self

    def stop(self) -> None:
        if self._root is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                _run([self._pg_ctl(), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"])
        finally:
            self._remove()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def create_database(self, name: str | None = None, *, tablespace: str | None = None) -> str:
        """A new empty database (named for you unless `name` is given); returns its URL."""
        name = name or f"overseer_{next(self._names)}"
        where = f" TABLESPACE {_identifier(tablespace)}" if tablespace else ""
        self.execute(f"CREATE DATABASE {_identifier(name)} TEMPLATE template0{where}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {_identifier(name)} WITH (FORCE)")

    def execute(self, sql: str) -> None:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE needs that)."""
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres"
        with psycopg.connect(dsn, password=self.password, autocommit=True) as connection:
            connection.execute(sql.encode())

    def own(self, path: Path) -> None:
        """Give `path` to the user the server runs as (a tablespace directory must be the server's)."""
        if os.geteuid() == 0:
            shutil.chown(path, OWNER, OWNER)

    # Set-up

    def _init(self, bin_dir: Path) -> None:
        assert self._root is not None
        self.own(self._root)
        password_file = self._root / "password"
        password_file.write_text(self.password + "\n", encoding="utf-8")
        self.own(password_file)
        command = [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8"]
        command += ["--auth=scram-sha-256", f"--pwfile={password_file}", "--no-sync", "--no-instructions"]
        try:
            _run(command)
        finally:
            password_file.unlink()

    def _start(self, bin_dir: Path) -> None:
        assert self._root is not None
        log = self._root / "server.log"
        settings = ["listen_addresses=127.0.0.1", f"unix_socket_directories={self._root}"]
        settings += [] if self._durable else list(_FAST_SETTINGS)
        for attempt in range(START_TRIES):
            self.port = free_port()
            options = " ".join(f"-c {setting}" for setting in [*settings, f"port={self.port}"])
            start = [str(bin_dir / "pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(log), "-w", "-o", options]
            try:
                _run(start)
                return
            except PostgresUnavailable:
                if attempt == START_TRIES - 1 or "could not bind" not in _tail(log):
                    raise PostgresUnavailable(f"PostgreSQL did not start: {_tail(log)}") from None

    def _pg_ctl(self) -> str:
        return str((self._bin_dir or find_bin_dir()) / "pg_ctl")

    def _remove(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


def _run(command: Sequence[str]) -> None:
    as_owner = ["runuser", "-u", OWNER, "--"] if os.geteuid() == 0 else []
    try:
        # The server inherits no pipe of ours: pg_ctl would otherwise keep them open, and us waiting.
        done = subprocess.run(
            [*as_owner, *command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PostgresUnavailable(f"{Path(command[0]).name} could not run: {exc}") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()
        raise PostgresUnavailable(f"{Path(command[0]).name} failed: {output[-1] if output else done.returncode}")


def _stop_orphans(bin_dir: Path) -> None:
    """Stop the servers of clusters whose owning process is gone, and remove their directories."""
    for root in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            os.kill(int((root / OWNER_FILE).read_text(encoding="utf-8")), 0)
            continue  # its owner is alive (another test run): leave it
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue  # no owner file yet (being set up) or unreadable: not ours to judge
        if (root / "data" / "postmaster.pid").exists():
            with contextlib.suppress(PostgresUnavailable):
                _run([str(bin_dir / "pg_ctl"), "stop", "-D", str(root / "data"), "-m", "immediate", "-w"])
        shutil.rmtree(root, ignore_errors=True)


def _identifier(name: str) -> str:
    """A database or tablespace name we made up; anything else is refused rather than quoted."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "no server log"
    return " | ".join(text.strip().splitlines()[-lines:]) or "empty server log"
