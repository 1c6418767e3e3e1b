"""A throwaway Docker engine in a temp directory, and a base image made from this machine's own files.

For tests of the `claude-docker` agent on a machine that has Debian's `docker.io` installed but need
not run it, and that reaches no image registry:

    with DockerEngine() as engine:
        image = build_base_image(engine.client())   # "overseer-test-base:latest"
        ...

- `dockerd` runs as root with its data, state and socket in the temp directory, with no bridge and no
  iptables rules of its own (the machine's network is left as it was): containers get `none` or `host`.
- The image is a rootfs of a few programs (a shell, bash, coreutils) and the libraries `ldd` lists for
  them, copied from the host and given to `docker import`: no registry, no mirror, about a second.
  The `claude` CLI is not in it: the agent mounts the host's read-only, its libraries are the same.
- Stopping it (`stop`, or leaving the `with`) stops the engine and removes the directory. A process
  killed before it could stop its engine leaves one behind: the next engine started stops it.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import docker
from docker.errors import DockerException

PREFIX = "overseer-dockerd-"  # temp directories of engines, in the system's temp dir
OWNER_FILE = "owner.pid"
BASE_IMAGE = "overseer-test-base:latest"
AGENT_UID = 1000  # the image's `agent` user, for tests of a container user that is not root
PROGRAMS = ("sh", "bash", "cat", "ls", "mkdir", "rm", "env", "id", "sleep", "touch")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0
_SETUP_GRACE_S = 60.0  # a directory without an owner file this old was left half removed


class DockerUnavailable(RuntimeError):
    """The engine could not be set up here; the message says why (tests skip with it)."""


class DockerEngine:
    """One `dockerd` and its directories; `start`/`stop`, or use it in a `with`."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self._root is None:
            raise DockerUnavailable("the engine is not started")
        return f"unix://{self._root / 'docker.sock'}"

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=120)

    def start(self) -> Self:
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise DockerUnavailable("Docker is not installed (no dockerd): run `make system-packages`")
        if os.geteuid() != 0:
            raise DockerUnavailable("dockerd runs as root here, and this is not root")
        _stop_orphans()
        self._root = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self._root / OWNER_FILE).write_text(str(os.getpid()), encoding="utf-8")
        try:
            self._start(dockerd, self._root)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._process is not None:
            _terminate(self._process.pid, self._process)
            self._process = None
        if self._root is not None:
            _remove(self._root)
            self._root = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def _start(self, dockerd: str, root: Path) -> None:
        command = [dockerd, "--data-root", str(root / "data"), "--exec-root", str(root / "exec")]
        command += ["-H", self.url, "--pidfile", str(root / "dockerd.pid"), "--iptables=false", "--bridge=none"]
        command += ["--shutdown-timeout", "2"]
        with (root / "dockerd.log").open("wb") as log:
            # Its own session: a Ctrl-C meant for the tests does not stop the engine under them.
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                raise DockerUnavailable(f"dockerd exited ({self._process.returncode}): {_tail(root / 'dockerd.log')}")
            if _answers(self.url):
                return
            if time.monotonic() > deadline:
                last = _tail(root / "dockerd.log")
                raise DockerUnavailable(f"dockerd did not answer in {_START_TIMEOUT_S:.0f} s: {last}")
            time.sleep(0.2)


def _answers(url: str) -> bool:
    # The SDK's unix connection leaks its socket when the connect fails: knock with one of ours first.
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(url.removeprefix("unix://"))
        except OSError:
            return False
    try:
        client = docker.DockerClient(base_url=url, timeout=5)  # asks the engine its API version
    except DockerException:
        return False
    try:
        return bool(client.ping())
    except DockerException:
        return False
    finally:
        client.close()


def build_base_image(client: docker.DockerClient, tag: str = BASE_IMAGE, *, runs: Sequence[Path] = ()) -> str:
    """Import the host-made rootfs as `tag` (once: an image already there is kept); returns the tag.
    The libraries of the host programs in `runs` are in it too, for them to be mounted and run."""
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.get(tag)
        return tag
    repository, _, version = tag.partition(":")
    changes = [f"ENV PATH={DEFAULT_PATH}", 'CMD ["/bin/sh"]']
    data = rootfs_tar(runs=runs)
    client.api.import_image_from_data(data, repository=repository, tag=version or "latest", changes=changes)
    client.images.get(tag)  # raises if the import did not make it
    return tag


def rootfs_tar(programs: Sequence[str] = PROGRAMS, *, runs: Sequence[Path] = ()) -> bytes:
    """A tar of a tiny root file system: `programs` and their libraries from the host, the libraries of
    `runs`, /etc/passwd with root and `agent`, /tmp, and the merged-/usr links where the host has them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for top in ("bin", "sbin", "lib", "lib64"):
            host = Path("/") / top
            if host.is_symlink():
                _add_link(tar, top, os.readlink(host))
        for name, mode in (("tmp", 0o1777), ("home", 0o755), ("home/agent", 0o755), ("etc", 0o755)):
            _add_dir(tar, name, mode, uid=AGENT_UID if name == "home/agent" else 0)
        passwd = f"root:x:0:0:root:/root:/bin/sh\nagent:x:{AGENT_UID}:{AGENT_UID}:agent:/home/agent:/bin/sh\n"
        _add_file(tar, "etc/passwd", passwd.encode(), 0o644)
        _add_file(tar, "etc/group", f"root:x:0:\nagent:x:{AGENT_UID}:\n".encode(), 0o644)
        files: dict[str, Path] = {}
        for program in programs:
            found = shutil.which(program)
            if found is None:
                raise DockerUnavailable(f"{program} is not on this machine's PATH")
            files[f"usr/bin/{program}"] = Path(found).resolve()
        for binary in [*(Path(files[f"usr/bin/{program}"]) for program in programs), *runs]:
            for library in _libraries(binary):
                files[str(library.parent.resolve() / library.name).lstrip("/")] = library.resolve()
        made: set[str] = set()
        for name, source in sorted(files.items()):
            _add_parents(tar, name, made)
            _add_file(tar, name, source.read_bytes(), 0o755)
    return buffer.getvalue()


def _libraries(program: Path) -> list[Path]:
    """The shared objects `ldd` says `program` loads (the dynamic loader among them)."""
    listed = subprocess.run(["ldd", str(program)], capture_output=True, text=True, check=False).stdout
    paths = []
    for line in listed.splitlines():
        words = line.split()
        path = words[2] if "=>" in words and len(words) > 2 else words[0] if words else ""
        if path.startswith("/"):
            paths.append(Path(path))
    return paths


def _add_parents(tar: tarfile.TarFile, name: str, made: set[str]) -> None:
    parts = Path(name).parts[:-1]
    for depth in range(1, len(parts) + 1):
        directory = "/".join(parts[:depth])
        if directory not in made:
            made.add(directory)
            _add_dir(tar, directory, 0o755)


def _add_dir(tar: tarfile.TarFile, name: str, mode: int, *, uid: int = 0) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, uid
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def _terminate(pid: int, child: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM the engine (it stops its containers), SIGKILL it if it does not end in time."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while _alive(pid, child) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid, child):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if child is not None:
            child.wait()


def _alive(pid: int, child: subprocess.Popen[bytes] | None) -> bool:
    if child is not None:  # our own: poll reaps it, or it stays a zombie that kill(pid, 0) calls alive
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_orphans() -> None:
    """Stop the engines of directories whose owning process is gone, and remove the directories."""
    for root in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            os.kill(int((root / OWNER_FILE).read_text(encoding="utf-8")), 0)
            continue  # its owner is alive (another test run or worker): leave it
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            if _age(root) < _SETUP_GRACE_S:
                continue  # no owner file yet (being set up): not ours to judge
        with contextlib.suppress(OSError, ValueError):
            _terminate(int((root / "dockerd.pid").read_text(encoding="utf-8")))
        _remove(root)


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _remove(root: Path) -> None:
    """Unmount what the engine left mounted under `root` (its network namespace file), then remove it."""
    with contextlib.suppress(OSError):
        mounted = [line.split()[1] for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines()]
        for point in sorted((p for p in mounted if p.startswith(f"{root}/")), key=len, reverse=True):
            subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
    shutil.rmtree(root, ignore_errors=True)


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "no log"
    return " | ".join(text.strip().splitlines()[-lines:]) or "empty log"
