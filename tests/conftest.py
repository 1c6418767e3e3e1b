"""Fixtures shared by every test.

End-to-end fixtures drive the real `claude` CLI, real workspaces and the real judge; the model is
the only fake: the remote Anthropic API cannot be reached from tests (and must not be), so
`ScriptedAnthropicServer` plays it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from overseer import demo
from overseer.cli.app import main
from overseer.llm.embedded import EmbeddedLLM, default_model_path
from overseer.testing import ScriptedAnthropicServer, Turn, claude_environ
from overseer.testing.llama_server import LlamaCppServer
from overseer.testing.postgres import PostgresCluster, PostgresUnavailable
from overseer.testing.ssh import SSHServer, SSHUnavailable
from overseer.workspace.ssh_host import SSHHost, SSHSettings

SERVED_MODEL = "smollm2"  # the name llama.cpp's server gives the packaged model


@pytest.fixture(autouse=True)
def _sigint_left_as_found() -> Iterator[None]:
    """A test that leaves SIGINT ignored breaks every later test that sends Ctrl-C to a child: the
    child inherits the disposition and never sees it. Fail the test that did it, and put SIGINT back."""
    before = signal.getsignal(signal.SIGINT), _sigint_ignored_by_the_os()
    yield
    after = signal.getsignal(signal.SIGINT), _sigint_ignored_by_the_os()
    if after != before:
        signal.signal(signal.SIGINT, before[0])
        pytest.fail(f"the test left SIGINT's disposition changed: (handler, ignored) {before!r} -> {after!r}")


def _sigint_ignored_by_the_os() -> bool:
    """What the kernel says (a native library can ignore SIGINT without Python knowing)."""
    status = Path("/proc/self/status").read_text()
    ignored = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    return bool(ignored & (1 << (signal.SIGINT - 1)))


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The demo's small Python project: a stub `word_count` and three tests for it."""
    path = tmp_path / "project"
    path.mkdir()
    demo.create_project(path)
    return path


@pytest.fixture
def overseer(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """Run the `overseer` command in-process and capture what it printed."""

    def run(*args: str) -> Ran:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


@pytest.fixture
def scripted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Sequence[Turn]], ScriptedAnthropicServer]]:
    """Start a scripted model and point a clean environment (no real credentials) at it."""
    servers: list[ScriptedAnthropicServer] = []

    def start(turns: Sequence[Turn]) -> ScriptedAnthropicServer:
        server = ScriptedAnthropicServer(turns).__enter__()
        servers.append(server)
        clean = claude_environ(os.environ, server.url, tmp_path / "claude-config")
        for name in list(os.environ):
            if name not in clean:
                monkeypatch.delenv(name)
        for name, value in clean.items():
            monkeypatch.setenv(name, value)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def embedded_llm() -> EmbeddedLLM:
    """The real packaged supervisor model, loaded once: loading is cheap (~0.15 s), answers are not."""
    model = EmbeddedLLM()
    model.preflight()
    return model


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    """A real OpenAI-compatible server (llama-cpp-python's) serving the packaged model, started once per
    session on a free loopback port, stopped (and waited for) in the finalizer."""
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with LlamaCppServer(default_model_path(), alias=SERVED_MODEL, log=log) as server:
        yield server
    assert server.process is not None and server.process.poll() is not None  # gone, not orphaned


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A real PostgreSQL server for the whole run: its own cluster in a temp dir, on a free loopback port.

    Skips only when the server cannot be started here, and says why; on CI (CI=true), where
    `make system-packages` installed it, that is a failure instead.
    """
    cluster = PostgresCluster()
    try:
        cluster.start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL could not be started on CI: {exc}")
        pytest.skip(f"PostgreSQL could not be started: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(autouse=True)
def no_plugin_autoload_in_inner_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pytest runs overseer makes of a workspace's tests load only what that workspace asks for.

    This dev environment has pytest plugins (hypothesis, pytest-cov) that a user's install of
    overseer does not: autoloaded, they add about 1.5 s to every inner pytest start.
    """
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture(autouse=True)
def isolated_user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the user config dir at an empty temp dir, so no developer's own config leaks in."""
    config_home = tmp_path_factory.mktemp("xdg-config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    for name in ("OVERSEER_CONFIG",):
        monkeypatch.delenv(name, raising=False)
    return config_home


@pytest.fixture(autouse=True)
def no_resident(monkeypatch: pytest.MonkeyPatch) -> None:
    """The `overseer` processes tests start run in-process: a resident (cli/resident.py) would
    outlive the test, and a test that kills `overseer` means that process. tests/cli/test_resident.py
    turns it back on, in a runtime directory of its own."""
    monkeypatch.setenv("OVERSEER_RESIDENT", "0")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """llama_cpp opens two /dev/null files at import and never closes them; close them here so the
    interpreter's exit does not report them as ResourceWarnings (which would hide real ones)."""
    utils = sys.modules.get("llama_cpp._utils")
    for name in ("outnull_file", "errnull_file"):
        handle = getattr(utils, name, None)
        if handle is not None:
            handle.close()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on loopback standing for the user's webhook: it keeps the JSON it is sent."""
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


def process_gone(pid: int) -> bool:
    """Within 5 s: no such process, or a zombie waiting for its parent (init) to reap it."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        state = (
            Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] if Path(f"/proc/{pid}").exists() else "Z"
        )
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


# --- a real sshd on loopback: a workspace on another machine -------------------------------------


@pytest.fixture(scope="session")
def ssh_server() -> Iterator[SSHServer]:
    """A real OpenSSH sshd for the whole run, on a free loopback port, with its own keys in a temp dir.
    Tests that kill, restart or rekey a server start their own (`fresh_ssh_server`)."""
    yield from _serving(SSHServer())


@pytest.fixture
def fresh_ssh_server(ssh_server: SSHServer) -> Iterator[SSHServer]:
    """A server of this test's own, to kill, restart or rekey (the shared one says sshd can start)."""
    with SSHServer() as server:
        yield server


@pytest.fixture(scope="module")
def private_ssh_server() -> Iterator[SSHServer]:
    """An sshd for one test module whose sessions' TMPDIR is a tmpfs this process cannot see (a
    workspace made there is on "another machine": pathlib here cannot reach it). Root only."""
    yield from _serving(SSHServer(private_tmp=True))


def _serving(server: SSHServer) -> Iterator[SSHServer]:
    """Start `server` for the fixture's scope. Skips only when it cannot be started here, and says
    why; on CI (CI=true), where `make system-packages` installed sshd, that is a failure instead."""
    try:
        server.start()
    except SSHUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"sshd could not be started on CI: {exc}")
        pytest.skip(f"sshd could not be started: {exc}")
    try:
        yield server
    finally:
        server.stop()


def ssh_settings_for(server: SSHServer, **changes: object) -> SSHSettings:
    """Settings that log in to `server`, with quick retries: a test waits seconds, not minutes."""
    fields: dict[str, object] = {
        "host": "127.0.0.1",
        "port": server.port,
        "user": server.user,
        "key": server.client_key,
        "known_hosts": server.known_hosts,
        "connect_timeout_s": 5.0,
        "reconnect_attempts": 3,
        "backoff_s": 0.05,
        "backoff_max_s": 0.2,
    }
    return SSHSettings.model_validate({**fields, **changes})


@pytest.fixture
def ssh_host(ssh_server: SSHServer) -> Iterator[SSHHost]:
    """An SSHHost logged in to the shared server (this machine, over loopback), closed after the test."""
    with SSHHost(ssh_settings_for(ssh_server)) as host:
        yield host
