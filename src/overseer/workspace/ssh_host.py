"""A workspace's machine reached over SSH: the `Host` protocol on asyncssh.

- Authentication is by key only (`SSHSettings.key`; no agent, no password, no ~/.ssh/config), and
  the server's host key must be in `SSHSettings.known_hosts`: a changed or unknown key is refused
  with a HostError that says how to fix it. Nothing is ever added to known_hosts.
- One connection, opened at the first call and kept alive (keepalives find a dead one). A lost one
  is opened again at the next call, with exponential backoff and full jitter (tenacity).
- `run` is an exec channel: a /bin/sh prologue enters the directory, sets the environment and finds
  the program, prints its pid, then execs the command. sshd starts each channel's command in a
  session of its own, so that pid is the process group to kill after a timeout. A command whose
  connection is lost is reported as a HostError and never run again; its process group is killed
  as soon as a new connection is open, so it cannot go on changing the workspace unseen.
- Files go over SFTP. A file operation whose connection is lost is tried once more on a new one
  (each of them can be repeated safely).
- The callers are synchronous: an asyncio loop runs in a private daemon thread and each method waits
  for its coroutine there. `close()` (or leaving a `with`) closes the connection and stops the thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import logging
import shlex
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from functools import partial
from pathlib import Path, PurePath, PurePosixPath
from types import TracebackType
from typing import Any, Self, TypeVar

import asyncssh
from pydantic import BaseModel, ConfigDict, Field
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from overseer.errors import HostError
from overseer.workspace.host import Completed
from overseer.workspace.ssh_script import FOUND, command_script, join, split_prologue

logger = logging.getLogger(__name__)
T = TypeVar("T")
_Output = tuple[int | None, bytes, bytes]  # exit code (None: timed out), stdout, stderr

_CHUNK = 65536
# sshd allows 10 channels per connection (MaxSessions): 7 commands, 2 kills and the SFTP session.
_RUN_CHANNELS = 7
_KILL_CHANNELS = 2
_KILL_GRACE_S = 2.0  # after the kill, how long a timed-out command's last output may take to arrive
_KILL_TIMEOUT_S = 10.0
# What a lost connection (or SFTP session) raises under a channel or a file operation.
_LOST = (asyncssh.DisconnectError, asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection, ConnectionError)


class SSHSettings(BaseModel):
    """Where the host is and how overseer logs in to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str
    key: Path  # a private key without a passphrase; the server must list its public half
    known_hosts: Path  # must already name the server's host key (ssh-keyscan, after checking it)
    keepalive_s: float = Field(default=15.0, gt=0)  # a keepalive after this long without a word from the server
    keepalive_count: int = Field(default=3, ge=1)  # unanswered keepalives before the connection counts as lost
    connect_timeout_s: float = Field(default=15.0, gt=0)  # one attempt: TCP, key exchange and login
    reconnect_attempts: int = Field(default=5, ge=1)
    backoff_s: float = Field(default=0.5, ge=0)  # the first wait's upper bound; each later one doubles
    backoff_max_s: float = Field(default=10.0, ge=0)

    @property
    def label(self) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}"


class _Unreachable(Exception):
    """One connection attempt failed in a way another attempt may not (tenacity retries these)."""


class SSHHost:
    """The Host protocol over one SSH connection; see the module's docstring."""

    def __init__(self, settings: SSHSettings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"overseer {self.label}", daemon=True)
        self._thread.start()
        self._connecting = asyncio.Lock()
        self._starting_sftp = asyncio.Lock()
        self._run_slots = asyncio.Semaphore(_RUN_CHANNELS)
        self._kill_slots = asyncio.Semaphore(_KILL_CHANNELS)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._orphans: set[int] = set()  # process groups of commands whose connection was lost
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False
        self._pending: set[concurrent.futures.Future[Any]] = set()  # calls waiting, on any thread

    @property
    def label(self) -> str:
        return self.settings.label

    def connect(self) -> None:
        """Open the connection now rather than at the first call (to fail early, or to time it)."""
        self._call(self._connection())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for pending in list(self._pending):  # a call another thread is waiting on ends with a HostError
            pending.cancel()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._disconnect(), self._loop).result(timeout=_KILL_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=_KILL_TIMEOUT_S)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # The Host protocol

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: PurePath | None = None,
        env: Mapping[str, str | None] | None = None,
        unset_prefixes: Sequence[str] = (),
        stdin: bytes | None = None,
        timeout_s: float | None = None,
        merge_stderr: bool = False,
    ) -> Completed:
        if not argv:
            raise ValueError("run needs a program")
        script = command_script(argv, cwd, env or {}, unset_prefixes, merge_stderr)
        code, out, err = self._call(self._run(script, stdin or b"", timeout_s, what=f"running `{join(argv)}`"))
        head, body = split_prologue(out)
        if head == b"fail cwd":
            raise HostError(f"cannot run {argv[0]} on {self.label}: no directory {cwd}")
        if head == b"fail missing":
            raise HostError(
                f"cannot run {argv[0]} on {self.label}: no such program",
                hint="install it there, or check the PATH of the SSH user's login environment",
            )
        return Completed(code, body, split_prologue(err)[1])

    def read_bytes(self, path: PurePath) -> bytes:
        async def read(sftp: asyncssh.SFTPClient) -> bytes:
            async with sftp.open(str(path), "rb") as file:
                data: bytes = await file.read()
                return data

        return self._call(self._file_op("reading", path, read))

    def write_bytes(self, path: PurePath, data: bytes) -> None:
        async def write(sftp: asyncssh.SFTPClient) -> None:
            async with sftp.open(str(path), "wb") as file:
                await file.write(data)

        self._call(self._file_op("writing", path, write))

    def exists(self, path: PurePath) -> bool:
        return self._call(self._file_op("looking for", path, lambda sftp: sftp.exists(str(path))))

    def is_file(self, path: PurePath) -> bool:
        return self._call(self._file_op("looking for", path, lambda sftp: sftp.isfile(str(path))))

    def mkdir(self, path: PurePath) -> None:
        self._call(self._file_op("making", path, lambda sftp: sftp.makedirs(str(path), exist_ok=True)))

    def unlink(self, path: PurePath) -> None:
        async def remove(sftp: asyncssh.SFTPClient) -> None:
            with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                await sftp.remove(str(path))

        self._call(self._file_op("removing", path, remove))

    def mkdtemp(self, prefix: str) -> PurePath:
        if "/" in prefix:
            raise ValueError(f"a temp directory's prefix has no slash: {prefix!r}")
        make = 'exec mktemp -d "${TMPDIR:-/tmp}/$1XXXXXXXX"'
        done = self.run(["/bin/sh", "-c", make, "sh", prefix])
        if done.exit_code != 0:
            message = (done.stderr or done.stdout).decode(errors="replace").strip()
            raise HostError(f"cannot make a temp directory on {self.label}: {message}")
        return PurePosixPath(done.stdout.decode().strip())

    def rmtree(self, path: PurePath) -> None:
        try:
            self.run(["rm", "-rf", "--", str(path)])
        except HostError as exc:
            logger.warning("could not remove %s on %s: %s", path, self.label, exc)

    def which(self, program: str) -> str | None:
        done = self.run(["/bin/sh", "-c", FOUND + 'found "$1"', "sh", program])
        found = done.stdout.decode(errors="replace").strip()
        return found if done.exit_code == 0 and found.startswith("/") else None

    # The loop's side

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise HostError(f"the connection to {self.label} is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        self._pending.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise HostError(f"the connection to {self.label} was closed while a call waited on it") from None
        except BaseException:
            future.cancel()  # interrupted (Ctrl-C): the coroutine stops, and kills what it started
            raise
        finally:
            self._pending.discard(future)

    async def _connection(self) -> asyncssh.SSHClientConnection:
        async with self._connecting:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            self._forget()
            conn = await open_connection(self.settings)
            await self._kill_orphans(conn)
            self._conn = conn
            return conn

    async def _run(self, script: str, stdin: bytes, timeout_s: float | None, what: str) -> _Output:
        async with self._run_slots:  # more would be refused by the server; they wait their turn here
            return await self._run_on_channel(script, stdin, timeout_s, what)

    async def _run_on_channel(self, script: str, stdin: bytes, timeout_s: float | None, what: str) -> _Output:
        conn = await self._connection()
        try:
            process = await conn.create_process(f"exec /bin/sh -c {shlex.quote(script)}", encoding=None)
        except (asyncssh.Error, OSError) as exc:
            raise self._failed(conn, exc, what) from exc
        out, err = bytearray(), bytearray()
        pumps = asyncio.gather(_pump(process.stdout, out), _pump(process.stderr, err))
        finished = False
        try:
            process.stdin.write(stdin)
            process.stdin.write_eof()
            try:
                await asyncio.wait_for(asyncio.shield(pumps), timeout_s)
            except TimeoutError:
                await self._kill_group(conn, await _header(out, pumps))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(pumps), _KILL_GRACE_S)
                finished = True
                return None, bytes(out), bytes(err)
            await process.wait_closed()
            if process.returncode is None:
                raise asyncssh.ConnectionLost("the channel closed without an exit status")
            finished = True
            return process.returncode, bytes(out), bytes(err)
        except (asyncssh.Error, OSError) as exc:
            pid = _pid(out)
            if pid is not None:
                self._orphans.add(pid)
            raise self._failed(conn, exc, what) from exc
        finally:
            process.close()
            pumps.cancel()
            if not finished and _pid(out) is not None and self._conn is conn and not conn.is_closed():
                self._in_background(self._kill_group(conn, _pid(out)))  # cancelled by the caller

    async def _file_op(self, verb: str, path: PurePath, op: Callable[[asyncssh.SFTPClient], Awaitable[T]]) -> T:
        what = f"{verb} {path}"
        for attempt in range(2):
            conn = await self._connection()
            try:
                return await op(await self._sftp_client(conn))
            except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath) as exc:
                raise FileNotFoundError(errno.ENOENT, f"no such file on {self.label}", str(path)) from exc
            except asyncssh.SFTPPermissionDenied as exc:
                raise PermissionError(errno.EACCES, f"permission denied on {self.label}", str(path)) from exc
            except (asyncssh.Error, OSError) as exc:
                if attempt == 1 or not _is_lost(conn, exc):
                    raise self._failed(conn, exc, what) from exc
                self._forget()
                logger.warning("the connection to %s was lost while %s (%s); trying once more", self.label, what, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _sftp_client(self, conn: asyncssh.SSHClientConnection) -> asyncssh.SFTPClient:
        async with self._starting_sftp:
            if self._sftp is None:
                self._sftp = await conn.start_sftp_client()
            return self._sftp

    def _failed(self, conn: asyncssh.SSHClientConnection, exc: BaseException, what: str) -> Exception:
        """The error to raise for `exc`, met while `what`; a lost connection is forgotten."""
        if _is_lost(conn, exc):
            if self._conn is conn:
                self._forget()
            return HostError(
                f"the connection to {self.label} was lost while {what}: {exc}",
                hint="it is not done again; the next call connects again (and stops what this one left running)",
            )
        if isinstance(exc, asyncssh.SFTPError):
            return OSError(f"{what} on {self.label} failed: {exc.reason}")
        return HostError(f"{what} on {self.label} failed: {exc}")

    def _forget(self) -> None:
        if self._conn is not None:
            self._conn.abort()
        self._conn = None
        self._sftp = None

    async def _kill_group(self, conn: asyncssh.SSHClientConnection, pid: int | None) -> None:
        if pid is None:
            return
        async with self._kill_slots:
            with contextlib.suppress(asyncssh.Error, OSError):
                await asyncio.wait_for(conn.run(f"kill -s KILL -- -{pid}", check=False), _KILL_TIMEOUT_S)

    async def _kill_orphans(self, conn: asyncssh.SSHClientConnection) -> None:
        if not self._orphans:
            return
        groups = " ".join(f"-{pid}" for pid in sorted(self._orphans))
        logger.warning(
            "killing the process groups %s, left running when the connection to %s was lost", groups, self.label
        )
        with contextlib.suppress(asyncssh.Error, OSError):
            await asyncio.wait_for(conn.run(f"kill -s KILL -- {groups} 2>/dev/null", check=False), _KILL_TIMEOUT_S)
        self._orphans.clear()

    def _in_background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _disconnect(self) -> None:
        if self._background:
            await asyncio.wait(self._background, timeout=_KILL_TIMEOUT_S)
        conn, self._conn, self._sftp = self._conn, None, None
        if conn is not None:
            conn.close()
            await conn.wait_closed()


async def open_connection(settings: SSHSettings) -> asyncssh.SSHClientConnection:
    """A new connection to the host, on the running event loop: tried again with exponential backoff
    and full jitter while the host cannot be reached; a refused key, an unknown or changed host key
    or an unreadable key file fails at once. Every failure is a HostError that says how to fix it."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(settings.reconnect_attempts),
        wait=wait_random_exponential(multiplier=settings.backoff_s, max=settings.backoff_max_s),
        retry=retry_if_exception_type(_Unreachable),
        before_sleep=partial(_log_retry, settings.label),
        reraise=True,
    )
    try:
        conn: asyncssh.SSHClientConnection = await retrying(_open, settings)
    except _Unreachable as exc:
        attempts = retrying.statistics.get("attempt_number", settings.reconnect_attempts)
        raise HostError(
            f"cannot reach {settings.label} after {attempts} attempts: {exc}",
            hint=f"check that the machine is up and that sshd listens on port {settings.port}",
        ) from exc.__cause__
    return conn


async def _open(settings: SSHSettings) -> asyncssh.SSHClientConnection:
    key = _read_key(settings.key)
    known_hosts = _read_known_hosts(settings.known_hosts)
    try:
        conn: asyncssh.SSHClientConnection = await asyncssh.connect(
            settings.host,
            settings.port,
            username=settings.user,
            client_keys=[key],
            known_hosts=known_hosts,
            agent_path=None,
            config=None,
            preferred_auth="publickey",
            connect_timeout=settings.connect_timeout_s,
            keepalive_interval=settings.keepalive_s,
            keepalive_count_max=settings.keepalive_count,
        )
        return conn
    except asyncssh.PermissionDenied as exc:
        raise HostError(
            f"the SSH server at {settings.host}:{settings.port} refused the key {settings.key} for {settings.user}",
            hint=f"add {settings.key}.pub to ~{settings.user}/.ssh/authorized_keys there, or set the right key",
        ) from exc
    except asyncssh.HostKeyNotVerifiable as exc:
        raise _host_key_error(settings, known_hosts) from exc
    except (asyncssh.DisconnectError, OSError) as exc:
        raise _Unreachable(str(exc) or type(exc).__name__) from exc


def _host_key_error(settings: SSHSettings, known_hosts: asyncssh.SSHKnownHosts) -> HostError:
    entry = settings.host if settings.port == 22 else f"[{settings.host}]:{settings.port}"
    keyscan = f"ssh-keyscan -p {settings.port} {settings.host} >> {settings.known_hosts}"
    if asyncssh.match_known_hosts(known_hosts, settings.host, settings.host, settings.port)[0]:
        return HostError(
            f"the host key of {entry} has changed: it does not match {settings.known_hosts}",
            hint=f"if the server was reinstalled on purpose, run `ssh-keygen -R '{entry}' -f "
            f"{settings.known_hosts}`, check the new key's fingerprint and add it (`{keyscan}`); "
            "otherwise someone may be intercepting the connection",
        )
    return HostError(
        f"the host key of {entry} is not in {settings.known_hosts}",
        hint=f"check its fingerprint and add it: `{keyscan}`",
    )


def _log_retry(label: str, state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.warning("connecting to %s failed (%s); trying again in %.1f s", label, failure, wait)


async def _pump(stream: asyncssh.SSHReader[bytes], into: bytearray) -> None:
    while chunk := await stream.read(_CHUNK):
        into += chunk


async def _header(out: bytearray, pumps: asyncio.Future[Any]) -> int | None:
    """The pid, given a moment to arrive: a command can time out before its prologue printed it."""
    deadline = asyncio.get_running_loop().time() + _KILL_GRACE_S
    while _pid(out) is None and not pumps.done() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    return _pid(out)


def _pid(out: bytearray) -> int | None:
    """The process group the prologue printed, once it has."""
    head, _ = split_prologue(out)
    pid = head.removeprefix(b"pid ") if head.startswith(b"pid ") else b""
    return int(pid) if pid.isdigit() else None


def _is_lost(conn: asyncssh.SSHClientConnection, exc: BaseException) -> bool:
    return conn.is_closed() or isinstance(exc, _LOST)


def _read_key(path: Path) -> asyncssh.SSHKey:
    try:
        return asyncssh.read_private_key(str(path))
    except (OSError, asyncssh.KeyImportError) as exc:
        raise HostError(
            f"cannot read the SSH key {path}: {exc}",
            hint="give a private key without a passphrase (ssh-keygen -t ed25519 -N '' -f PATH)",
        ) from exc


def _read_known_hosts(path: Path) -> asyncssh.SSHKnownHosts:
    try:
        return asyncssh.read_known_hosts(str(path))
    except (OSError, ValueError) as exc:
        raise HostError(
            f"cannot read the known_hosts file {path}: {exc}",
            hint="it must name the server's host key: `ssh-keyscan -p PORT HOST >> FILE`, after checking it",
        ) from exc
