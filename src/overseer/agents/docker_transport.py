"""The `claude` CLI inside a container, with this process's stdin, stdout and stderr as its own.

claude-agent-sdk starts its CLI as a child process and talks stream-json over its stdio. Pointed at
`docker_exec.sh` (its `cli_path`), it starts this module instead: a `docker exec` through the
official Docker SDK whose hijacked socket is pumped both ways, so the SDK, its hooks and its
in-process MCP servers work as they do with a local CLI. The exit code is the CLI's.

What to run where comes from the environment the agent gave the SDK (`launch_environ`); of the rest of
the environment only what the CLI needs crosses into the container (`container_environ`).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import docker
from docker.errors import DockerException
from docker.utils import kwargs_from_env

LAUNCHER = Path(__file__).with_name("docker_exec.sh")
PREFIX = "OVERSEER_DOCKER_"
# The CLI's own settings and the model's credentials (the SDK adds CLAUDE_CODE_ENTRYPOINT and others).
_CROSSING_PREFIXES = ("ANTHROPIC_", "CLAUDE_")
_EXIT_CODE_WAIT_S = 2.0
_STDERR = 2


def launch_environ(
    *, docker_host: str, container: str, cli: str, passed: Sequence[str], fixed: Mapping[str, str]
) -> dict[str, str]:
    """The variables `docker_exec.sh` and this module read: the engine, the container, the CLI's path in
    it, the names passed through as they are and the values fixed for the container."""
    return {
        f"{PREFIX}PYTHON": sys.executable,
        f"{PREFIX}HOST": docker_host,
        f"{PREFIX}CONTAINER": container,
        f"{PREFIX}CLI": cli,
        f"{PREFIX}PASS": json.dumps(list(passed)),
        f"{PREFIX}SET": json.dumps(dict(fixed)),
    }


def container_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The CLI's environment in the container: ANTHROPIC_* and CLAUDE_*, the names listed to pass, then
    the fixed values (the container's home and config dir win over the host's)."""
    passed = set(json.loads(environ.get(f"{PREFIX}PASS", "[]")))
    chosen = {k: v for k, v in environ.items() if k.startswith(_CROSSING_PREFIXES) or k in passed}
    return {**chosen, **json.loads(environ.get(f"{PREFIX}SET", "{}"))}


def main(argv: Sequence[str]) -> int:
    environ = os.environ
    engine = {**environ, "DOCKER_HOST": environ.get(f"{PREFIX}HOST") or environ.get("DOCKER_HOST", "")}
    try:
        api = docker.APIClient(**kwargs_from_env(environment=engine))  # the agent's engine, TLS settings too
        command = [environ[f"{PREFIX}CLI"], *argv]
        exec_id = api.exec_create(
            environ[f"{PREFIX}CONTAINER"],
            command,
            stdin=True,
            environment=container_environ(environ),
            workdir=os.getcwd(),
        )["Id"]
        connection = api.exec_start(exec_id, socket=True)
    except (DockerException, KeyError) as exc:
        print(f"overseer: cannot start the CLI in the container: {exc}", file=sys.stderr)
        return 125  # docker's own code for "the exec could not start"
    # The SDK hands a SocketIO for a unix or TCP engine: its socket can half-close; an SSH one is used as it is.
    raw: socket.socket = getattr(connection, "_sock", None) or connection  # type: ignore[assignment]
    threading.Thread(target=_feed, args=(raw,), daemon=True).start()
    for stream, data in _frames(raw):
        _write_all(2 if stream == _STDERR else 1, data)
    return _exit_code(api, exec_id)


def _frames(raw: socket.socket) -> Iterator[tuple[int, bytes]]:
    """The engine's multiplexed stream (no tty): an 8-byte header (stream, 3 zero bytes, length), then data."""
    while header := _read_exactly(raw, 8):
        data = _read_exactly(raw, struct.unpack(">BxxxL", header)[1])
        if data is None:
            return
        yield header[0], data


def _read_exactly(raw: socket.socket, size: int) -> bytes | None:
    chunks, wanted = [], size
    while wanted:
        chunk = raw.recv(min(wanted, 65536))
        if not chunk:
            return None  # the exec ended
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def _feed(raw: socket.socket) -> None:
    """stdin into the exec until it ends, then half-close: the CLI reads its end of input."""
    try:
        while chunk := os.read(0, 65536):
            raw.sendall(chunk)
        raw.shutdown(socket.SHUT_WR)
    except OSError:
        return  # the exec is gone; its output side ends the pump


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _exit_code(api: docker.APIClient, exec_id: str) -> int:
    """The exec's exit code; the engine may record it a moment after the output ends."""
    deadline = time.monotonic() + _EXIT_CODE_WAIT_S
    while True:
        state = api.exec_inspect(exec_id)
        if state.get("ExitCode") is not None and not state.get("Running"):
            return int(state["ExitCode"])
        if time.monotonic() > deadline:
            return 1
        time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
