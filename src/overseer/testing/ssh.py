"""A throwaway OpenSSH server on loopback, and a TCP forwarder to cut its connections with.

For tests that need a real remote host (overseer's `SSHHost`, an agent run over SSH):

    with SSHServer() as server:       # Debian's /usr/sbin/sshd -D on 127.0.0.1, a free port
        server.port, server.user, server.client_key, server.known_hosts
        server.kill()                 # SIGKILL sshd and every session under it
        server.restart()              # the same host key on the same port
        server.rekey()                # a new host key: known_hosts no longer matches it

- `login_env` adds variables to every session's environment (sshd's SetEnv), as a login script would;
  `login_script` runs shell lines before every command (sshd's ForceCommand), as a chatty ~/.bashrc
  does. With it, only commands work: SFTP does not.
- `private_tmp=True` (root only) gives the sessions a TMPDIR on a tmpfs that this process cannot
  see (sshd runs in a mount namespace of its own), so a test catches code that reads a remote path
  with pathlib; `inside(argv)` runs a command in that namespace to look. The tmpfs lives as long as
  the sshd: `kill`, `restart` and `rekey` empty it.
- Key-only authentication: the client key it generates is the one authorized key; passwords and
  keyboard-interactive are off, and so is PAM. As root, `PermitRootLogin prohibit-password`.
- Everything lives in one temp directory (keys, config, pid file, `sshd.log` at LogLevel VERBOSE),
  removed by `stop` (or leaving the `with`).
- `TCPProxy` forwards a loopback port to the server, so a test can drop every live connection
  (`drop`), close new ones before their first byte (`pause`/`resume`) or stop forwarding while
  keeping them open, as a cut network cable does (`freeze`).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without it
START_TRIES = 3  # a free port can be taken by someone else before sshd binds it
START_TIMEOUT_S = 10.0
_READY = "Server listening on 127.0.0.1 port"


class SSHUnavailable(RuntimeError):
    """sshd could not be set up here; the message says why (tests skip with it)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SSHServer:
    """One sshd and its temp directory; `start`/`stop`, or use it in a `with`."""

    def __init__(
        self, *, login_env: Mapping[str, str] | None = None, login_script: str = "", private_tmp: bool = False
    ) -> None:
        self.user = getpass.getuser()
        self.login_env = dict(login_env or {})  # set in every session's environment (sshd's SetEnv)
        self.login_script = login_script  # shell lines run before every command, as a chatty ~/.bashrc
        self.private_tmp: Path | None = None  # the sessions' TMPDIR, when they have a private one
        self._private = private_tmp
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._root: Path | None = None

    @property
    def root(self) -> Path:
        if self._root is None:
            raise SSHUnavailable("the SSH server is not started")
        return self._root

    @property
    def client_key(self) -> Path:
        """The private key the server accepts (its public half is the one authorized key)."""
        return self.root / "client_ed25519"

    @property
    def known_hosts(self) -> Path:
        """A known_hosts file naming the host key the server had when it started."""
        return self.root / "known_hosts"

    @property
    def log(self) -> Path:
        return self.root / "sshd.log"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise SSHUnavailable("the SSH server is not running")
        return self.process.pid

    def inside(self, argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
        """Run `argv` here, in sshd's mount namespace (where `private_tmp` is): to look, not via SSH."""
        return subprocess.run(["nsenter", "-t", str(self.pid), "-m", "--", *argv], capture_output=True, check=False)

    def start(self) -> Self:
        if not SSHD.exists():
            raise SSHUnavailable(f"OpenSSH's server is not installed (no {SSHD}): run `make system-packages`")
        self._root = Path(tempfile.mkdtemp(prefix="overseer-sshd-"))
        try:
            if os.geteuid() == 0:
                PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
            keygen(self.root / "host_ed25519")
            keygen(self.client_key)
            if self._private:
                self._set_up_private_tmp()
            shutil.copy(self.client_key.with_suffix(".pub"), self.root / "authorized_keys")
            self._listen()
            self.trust()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._root is None:
            return
        try:
            self.kill()
        finally:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def kill(self) -> None:
        """SIGKILL sshd and every process under it (its per-connection children start sessions of
        their own, so a process group would miss them); their TCP connections die with them."""
        if self.process is None:
            return
        _kill_tree(self.process.pid)
        self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Kill it and start it again with the same host key on the same port."""
        self.kill()
        self._spawn()

    def rekey(self) -> None:
        """Restart with a new host key; `known_hosts` keeps naming the old one (`trust` to update it)."""
        self.kill()
        for name in ("host_ed25519", "host_ed25519.pub"):
            (self.root / name).unlink()
        keygen(self.root / "host_ed25519")
        self._spawn()

    def _set_up_private_tmp(self) -> None:
        if os.geteuid() != 0 or not shutil.which("unshare"):
            raise SSHUnavailable("a private tmp needs root and unshare (util-linux) to mount a tmpfs")
        self.private_tmp = self.root / "private-tmp"
        self.private_tmp.mkdir()
        self.login_env.setdefault("TMPDIR", str(self.private_tmp))

    def trust(self) -> None:
        """Write `known_hosts` for the server's current host key."""
        key = (self.root / "host_ed25519.pub").read_text(encoding="utf-8").split()[:2]
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {' '.join(key)}\n", encoding="utf-8")

    def _listen(self) -> None:
        for attempt in range(START_TRIES):
            self.port = free_port()
            try:
                self._spawn()
                return
            except SSHUnavailable:
                if attempt == START_TRIES - 1 or "Address already in use" not in _tail(self.log):
                    raise

    def _spawn(self) -> None:
        config = self.root / "sshd_config"
        config.write_text(_config(self.root, self.port, self.login_env, self.login_script), encoding="utf-8")
        self.log.write_text("", encoding="utf-8")  # only this start's lines: the readiness check reads them
        check = subprocess.run([SSHD, "-t", "-f", config], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise SSHUnavailable(f"sshd refused its configuration: {check.stderr.strip()}")
        command = [str(SSHD), "-D", "-f", str(config), "-E", str(self.log)]
        if self.private_tmp is not None:  # unshare and sh exec: sshd keeps the pid Popen knows
            mount = 'mount -t tmpfs -o mode=1777 overseer-private-tmp "$1" && shift && exec "$@"'
            unshare = ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", mount, "sh"]
            command = [*unshare, str(self.private_tmp), *command]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while _READY not in _tail(self.log, lines=20):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise SSHUnavailable(f"sshd did not start: {_tail(self.log)}")
            time.sleep(0.01)


def _config(root: Path, port: int, login_env: Mapping[str, str], login_script: str) -> str:
    settings = {
        "Port": str(port),
        "ListenAddress": "127.0.0.1",
        "HostKey": str(root / "host_ed25519"),
        "PidFile": str(root / "sshd.pid"),
        "AuthorizedKeysFile": str(root / "authorized_keys"),
        "PubkeyAuthentication": "yes",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "PermitRootLogin": "prohibit-password",
        "StrictModes": "no",  # the temp directory's modes are not sshd's business here
        "UsePAM": "no",
        "LogLevel": "VERBOSE",
        "Subsystem": "sftp internal-sftp",
        "PrintMotd": "no",
    }
    if login_env:
        settings["SetEnv"] = " ".join(f'"{name}={value}"' for name, value in login_env.items())
    if login_script:  # commands only: the SFTP subsystem goes through ForceCommand too, and fails
        settings["ForceCommand"] = f'{login_script}; eval "$SSH_ORIGINAL_COMMAND"'
    return "".join(f"{key} {value}\n" for key, value in settings.items())


def keygen(path: Path) -> Path:
    """A new ed25519 key pair without a passphrase: `path` and `path`.pub; returns `path`."""
    command = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "overseer-test", "-f", str(path)]
    try:
        subprocess.run(command, capture_output=True, check=True, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SSHUnavailable(f"ssh-keygen could not make a key: {exc}") from exc
    return path


def _kill_tree(pid: int) -> None:
    """SIGKILL `pid` and its descendants, found through /proc; again until none is left (a dying
    sshd can still fork)."""
    for _ in range(50):
        tree = _descendants(pid)
        alive = [p for p in [pid, *tree] if _alive(p)]
        if not alive:
            return
        for member in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        time.sleep(0.01)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent (a zombie is already gone for our purposes)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "no sshd log"
    return " | ".join(text.strip().splitlines()[-lines:]) or "empty sshd log"


class TCPProxy:
    """Forward 127.0.0.1:`port` to 127.0.0.1:`target_port`, from a daemon thread, until `close`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self.accepted = 0  # connections accepted so far, closed at once while paused or not
        self._lock = threading.Lock()
        self._paused = threading.Event()
        self._frozen = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def drop(self) -> None:
        """Close every live connection, both ways (the client and the server each see theirs end)."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def pause(self) -> None:
        """Close new connections as they come, before a byte is forwarded."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()
        self._frozen.clear()

    def freeze(self) -> None:
        """Stop forwarding on the live connections but keep them open: nothing arrives either way."""
        self._frozen.set()

    def close(self) -> None:
        self._closed.set()
        self.drop()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self._paused.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        peer = {client: server, server: client}
        try:
            while True:
                if self._frozen.is_set():
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select([client, server], [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peer[sock].sendall(data)
        except (OSError, ValueError):
            return  # dropped: the sockets were closed under us
        finally:
            with self._lock:
                if (client, server) in self._pairs:
                    self._pairs.remove((client, server))
            client.close()
            server.close()
