"""Claude Code over SSH, for real: a real OpenSSH sshd on loopback (overseer.testing.ssh), the real
`claude` CLI started on the "remote" side by it, driven by the scripted model. The remote host is
this machine, so what the CLI did there is checked here directly: files with pathlib, processes in
/proc. A server with a private tmp (its sessions' TMPDIR is a tmpfs this process cannot see) shows
that the run's temp dir is the remote host's.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from overseer.agents.base import AgentEvent, AgentRequest
from overseer.agents.claude_code import bundled_cli
from overseer.agents.claude_ssh import ClaudeSSHAgent, ClaudeSSHConfig
from overseer.config import PluginChoice
from overseer.domain import AgentResult
from overseer.errors import AgentError, ConfigError
from overseer.plugins import AGENTS, Registry
from overseer.redact import Redactor
from overseer.state.store import Store, sqlite_url
from overseer.testing import Say, ScriptedAnthropicServer, Turn, Use, turn
from overseer.testing.ssh import SSHServer, TCPProxy, keygen
from tests.conftest import Ran

Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]
TASK = "Write hello.py."


def login(server: SSHServer, **changes: Any) -> dict[str, Any]:
    """Options that log in to `server` with quick retries (a test waits seconds, not minutes)."""
    fields = {
        "host": "127.0.0.1",
        "port": server.port,
        "user": server.user,
        "key": str(server.client_key),
        "known_hosts": str(server.known_hosts),
        "connect_timeout_s": 5.0,
        "reconnect_attempts": 2,
        "backoff_s": 0.05,
        "backoff_max_s": 0.2,
    }
    return {**fields, **changes}


def through(proxy: TCPProxy, server: SSHServer, tmp_path: Path) -> dict[str, Any]:
    """Log in to `server` through `proxy` (known_hosts names the proxy's port)."""
    known_hosts = tmp_path / "proxy_known_hosts"
    known_hosts.write_text(server.known_hosts.read_text().replace(f":{server.port} ", f":{proxy.port} "))
    return {"port": proxy.port, "known_hosts": str(known_hosts)}


@pytest.fixture
def options(ssh_server: SSHServer, workspace: Path, tmp_path: Path) -> dict[str, Any]:
    """The agent's options: the bundled CLI as the remote's `claude`, its config dir a remote one."""
    return {
        **login(ssh_server),
        "workspace": str(workspace),
        "remote_cli": str(bundled_cli()),
        "env": {"CLAUDE_CONFIG_DIR": str(tmp_path / "remote-claude")},
    }


class Run:
    def __init__(self, events: list[AgentEvent], result: AgentResult | None) -> None:
        self.events = events
        self.result = result

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event.data for event in self.events if event.kind == kind]


@pytest.fixture
def agent_run(scripted: Scripted, workspace: Path) -> Iterator[Callable[..., Run]]:
    """Script the model with `turns` (then a closing "Done."), run the agent over SSH."""
    agents: list[ClaudeSSHAgent] = []

    def run(turns: Sequence[Turn], **options: Any) -> Run:
        scripted([*turns, turn(Say("Done."))])
        events: list[AgentEvent] = []
        agent = ClaudeSSHAgent(ClaudeSSHConfig(**options))
        agents.append(agent)
        result = asyncio.run(agent.run(AgentRequest(TASK, workspace), events.append))
        return Run(events, result)

    yield run
    for agent in agents:
        agent.close()


def write(path: Path, content: str) -> Turn:
    return turn(Use("Write", {"file_path": str(path), "content": content}))


def bash(command: str) -> Turn:
    return turn(Use("Bash", {"command": command, "description": "scripted"}))


def running(marker: str) -> list[int]:
    """Processes on this machine (the remote host) whose command line holds `marker`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes().replace(b"\0", b" "):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return [pid for pid in found if pid != os.getpid()]


def gone(marker: str, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not running(marker)


def when_file(path: Path, then: Callable[[], None], within_s: float = 60.0) -> threading.Thread:
    """Call `then` on a thread as soon as `path` exists (what the agent's command does mid-run)."""

    def wait() -> None:
        deadline = time.monotonic() + within_s
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        then()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


def test_a_write_through_the_cli_over_ssh_lands_in_the_remote_workspace(
    agent_run: Callable[..., Run], workspace: Path, options: dict[str, Any], ssh_server: SSHServer, tmp_path: Path
) -> None:
    outside = workspace.parent / "escaped.txt"
    turns = [
        write(workspace / "hello.py", "print('hello')\n"),
        write(outside, "pwned\n"),
        bash("echo $SSH_CONNECTION > where.txt"),
    ]
    run = agent_run(turns, **options)

    assert (workspace / "hello.py").read_text() == "print('hello')\n"
    seen = [(call["tool"], call["allowed"]) for call in run.of("tool_call")]
    assert seen == [("Write", True), ("Write", False), ("Bash", True)]  # overseer's guard decided each, here
    assert not outside.exists() and "outside the workspace" in run.of("tool_call")[1]["reason"]
    assert (workspace / "where.txt").read_text().split()[2:] == ["127.0.0.1", str(ssh_server.port)]  # sshd started it
    [sandbox] = run.of("sandbox")
    assert (sandbox["kind"], sandbox["enabled"]) == ("ssh", True)
    assert sandbox["host"] == f"ssh://{ssh_server.user}@127.0.0.1:{ssh_server.port}"
    assert run.result is not None and not run.result.is_error and run.result.session_id
    sessions = tmp_path / "remote-claude" / "projects"  # the CLI's state: the remote config dir named in `env`
    assert any(path.name == f"{run.result.session_id}.jsonl" for path in sessions.rglob("*.jsonl"))


def test_the_runs_temp_dir_is_the_remote_hosts_and_is_removed_after(
    scripted: Scripted, workspace: Path, options: dict[str, Any]
) -> None:
    """A server whose sessions' TMPDIR is a tmpfs only they see: this process cannot find the dir."""
    with SSHServer(private_tmp=True) as server:
        assert server.private_tmp is not None
        scripted([bash("echo $TMPDIR > tmp.txt; touch $TMPDIR/left.txt"), turn(Say("Done."))])
        agent = ClaudeSSHAgent(ClaudeSSHConfig(**{**options, **login(server)}))
        seen: list[list[str]] = []

        def emit(event: AgentEvent) -> None:
            if event.kind == "sandbox":
                seen.append(server.inside(["ls", str(server.private_tmp)]).stdout.decode().split())

        try:
            result = asyncio.run(agent.run(AgentRequest(TASK, workspace), emit))
        finally:
            agent.close()

        assert not result.is_error, result
        temp = Path((workspace / "tmp.txt").read_text().strip()).parent  # Bash's TMPDIR is the CLI's, in it
        assert temp.parent == server.private_tmp and temp.name.startswith("overseer-attempt-")
        assert seen == [[temp.name]]  # there while the CLI ran, on the remote side only
        assert not temp.exists()  # not on this side of the namespace
        assert server.inside(["ls", "-A", str(server.private_tmp)]).stdout == b""  # and gone from the remote's


def test_only_the_models_variables_and_the_named_ones_cross(
    agent_run: Callable[..., Run], workspace: Path, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERSEER_SECRET_HERE", "local only")
    env = {**options["env"], "PROJECT_FLAG": "on"}

    run = agent_run([bash("env > env.txt")], **{**options, "env": env, "sandbox": False})

    assert run.result is not None and not run.result.is_error
    seen = dict(line.split("=", 1) for line in (workspace / "env.txt").read_text().splitlines() if "=" in line)
    assert "OVERSEER_SECRET_HERE" not in seen and not any(name.startswith("OVERSEER_SSH_") for name in seen)
    assert seen["PROJECT_FLAG"] == "on"
    assert seen["CLAUDE_CONFIG_DIR"] == options["env"]["CLAUDE_CONFIG_DIR"]  # the named one, not this side's
    assert seen["ANTHROPIC_BASE_URL"] == os.environ["ANTHROPIC_BASE_URL"]
    assert seen["TMPDIR"].startswith("/tmp/overseer-attempt-") and "SSH_CONNECTION" in seen


def test_a_retry_resumes_the_session_over_a_new_connection(
    scripted: Scripted, workspace: Path, options: dict[str, Any]
) -> None:
    server = scripted([write(workspace / "hello.py", "x = 1\n"), turn(Say("Done.")), turn(Say("Still done."))])
    agent = ClaudeSSHAgent(ClaudeSSHConfig(**options))
    try:
        first = asyncio.run(agent.run(AgentRequest(TASK, workspace), lambda _event: None))
        second = asyncio.run(agent.run(AgentRequest("Check it again.", workspace, first.session_id), lambda _e: None))
    finally:
        agent.close()

    assert not second.is_error and second.session_id == first.session_id
    resumed = json.dumps(server.agent_requests[-1]["messages"])
    assert TASK in resumed and "Check it again." in resumed  # the first run's conversation came along


def test_sshd_killed_mid_attempt_is_a_clear_agent_error_and_the_next_run_resumes(
    scripted: Scripted, workspace: Path, options: dict[str, Any], fresh_ssh_server: SSHServer
) -> None:
    server = fresh_ssh_server
    marker = "sleep 4201"
    model = scripted([bash(f"touch started; {marker}"), turn(Say("Back."))])
    agent = ClaudeSSHAgent(ClaudeSSHConfig(**{**options, **login(server)}))
    events: list[AgentEvent] = []
    killer = when_file(workspace / "started", server.kill)
    try:
        with pytest.raises(AgentError) as failed:
            asyncio.run(agent.run(AgentRequest(TASK, workspace), events.append))
        killer.join()
        message = str(failed.value)
        assert f"claude CLI on ssh://root@127.0.0.1:{server.port} failed" in message
        assert "connection" in message and "lost" in message, message
        assert gone(marker)

        [left] = [Path(event.data["temp_dir"]) for event in events if event.kind == "sandbox"]
        assert left.is_dir()  # no host to remove it on

        server.restart()
        [session] = [event.data["session_id"] for event in events if event.kind == "session"]
        again = asyncio.run(agent.run(AgentRequest("Go on.", workspace, session), lambda _event: None))
    finally:
        agent.close()
    assert not again.is_error and again.session_id == session
    assert not left.exists()  # the next run removed it
    assert "touch started" in json.dumps(model.agent_requests[-1]["messages"])


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandboxed", "unsandboxed"])
def test_a_dropped_connection_mid_attempt_kills_the_remote_cli(
    scripted: Scripted, workspace: Path, options: dict[str, Any], ssh_server: SSHServer, tmp_path: Path, sandbox: bool
) -> None:
    """sshd stays up: only the lifeline (a second channel, its stdin ending with the connection) stops the
    CLI and its command (bubblewrap's, in a session of its own, dies with its parent)."""
    marker = f"sleep {4202 + sandbox * 10}"
    scripted([bash(f"touch started; {marker}")])
    with TCPProxy(ssh_server.port) as proxy:
        changes = {**through(proxy, ssh_server, tmp_path), "sandbox": sandbox}
        agent = ClaudeSSHAgent(ClaudeSSHConfig(**{**options, **changes}))
        dropper = when_file(workspace / "started", proxy.drop)
        try:
            with pytest.raises(AgentError, match="was lost while the CLI ran"):
                asyncio.run(agent.run(AgentRequest(TASK, workspace), lambda _event: None))
        finally:
            dropper.join()
            agent.close()
    assert gone(marker)


def test_a_silent_network_kills_the_remote_cli_by_its_heartbeat(
    scripted: Scripted, workspace: Path, options: dict[str, Any], ssh_server: SSHServer, tmp_path: Path
) -> None:
    """A cut cable closes nothing: the remote side ends the CLI when the heartbeats stop (keepalive_s),
    and this side's keepalives give up on the connection."""
    marker = "sleep 4203"
    scripted([bash(f"touch started; {marker}")])
    with TCPProxy(ssh_server.port) as proxy:
        config = ClaudeSSHConfig(
            **{**options, **through(proxy, ssh_server, tmp_path), "keepalive_s": 1.0, "connect_timeout_s": 1.0}
        )
        agent = ClaudeSSHAgent(config)
        frozen = when_file(workspace / "started", proxy.freeze)
        temps: list[str] = []
        started = time.monotonic()
        try:
            with pytest.raises(AgentError, match="lost"):
                asyncio.run(
                    agent.run(AgentRequest(TASK, workspace), lambda e: temps.append(e.data.get("temp_dir", "")))
                )
            assert time.monotonic() - started < 30
            assert not running(marker)  # killed on the remote side before this side gave up
        finally:
            frozen.join()
            proxy.resume()
            agent.close()
            for temp in filter(None, temps):  # left: no host answered to remove it
                shutil.rmtree(temp, ignore_errors=True)


def test_the_remote_cli_dies_with_a_killed_overseer(
    scripted: Scripted, workspace: Path, options: dict[str, Any], tmp_path: Path
) -> None:
    """SIGKILL leaves overseer no `finally`: its launcher dies with it, the connection closes, the lifeline fires."""
    marker = "sleep 4204"
    scripted([bash(f"touch started; {marker}")])
    script = (
        "import asyncio, json, pathlib, sys\n"
        "from overseer.agents.base import AgentRequest\n"
        "from overseer.agents.claude_ssh import ClaudeSSHAgent, ClaudeSSHConfig\n"
        "agent = ClaudeSSHAgent(ClaudeSSHConfig(**json.loads(sys.argv[1])))\n"
        "def emit(event):\n"
        "    if event.kind == 'sandbox':\n"
        "        print(event.data['temp_dir'], flush=True)\n"
        "asyncio.run(agent.run(AgentRequest('x', pathlib.Path(sys.argv[2])), emit))\n"
    )
    argv = [sys.executable, "-c", script, json.dumps(options), str(workspace)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            temp = Path(child.stdout.readline().strip())
            deadline = time.monotonic() + 60
            while not running(marker) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert running(marker)
        finally:
            child.send_signal(signal.SIGKILL)
    assert gone(marker)
    assert temp.is_dir()  # nothing was left to remove it
    shutil.rmtree(temp)


def test_a_cancelled_run_leaves_nothing_running_on_either_side(
    scripted: Scripted, workspace: Path, options: dict[str, Any]
) -> None:
    """overseer's time limits cancel the run: the launcher goes, and with its connection the remote CLI
    and its command; the run's remote temp dir is removed all the same."""
    marker = "sleep 4206"
    scripted([bash(f"touch started; {marker}")])
    agent = ClaudeSSHAgent(ClaudeSSHConfig(**options))
    temps: list[Path] = []

    def emit(event: AgentEvent) -> None:
        if event.kind == "sandbox":
            temps.append(Path(event.data["temp_dir"]))

    async def run_until_the_command_runs() -> None:
        run = asyncio.ensure_future(agent.run(AgentRequest(TASK, workspace), emit))
        while not (workspace / "started").exists() and not run.done():
            await asyncio.sleep(0.05)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    try:
        asyncio.run(run_until_the_command_runs())
    finally:
        agent.close()
    assert (workspace / "started").exists()  # cancelled while the command ran
    assert gone(marker)
    assert gone("overseer.agents.ssh_transport")  # the launcher on this side
    assert temps and not temps[0].exists()


def test_the_agent_is_chosen_by_name_and_its_options_are_checked(options: dict[str, Any]) -> None:
    registry = Registry.from_entry_points()
    agent = registry.create(AGENTS, PluginChoice(name="claude-ssh", options=options), "agent")
    assert isinstance(agent, ClaudeSSHAgent)
    assert agent.remote_workspace == PurePosixPath(options["workspace"])
    assert agent.host.label == f"ssh://{options['user']}@127.0.0.1:{options['port']}"  # for the lead's wiring
    agent.close()
    without = {name: value for name, value in options.items() if name != "workspace"}
    with pytest.raises(ConfigError, match=r"agent\.options\.workspace"):
        registry.create(AGENTS, PluginChoice(name="claude-ssh", options=without), "agent")
    with pytest.raises(ConfigError, match=r"agent\.options\.cli_path"):  # the local agent's option: not this one's
        registry.create(AGENTS, PluginChoice(name="claude-ssh", options={**options, "cli_path": "/x"}), "agent")


def test_preflight_refuses_a_key_the_server_does_not_accept(options: dict[str, Any], tmp_path: Path) -> None:
    stranger = keygen(tmp_path / "stranger")
    agent = ClaudeSSHAgent(ClaudeSSHConfig(**{**options, "key": str(stranger)}))
    try:
        with pytest.raises(ConfigError, match=f"refused the key {stranger}") as refused:
            agent.preflight()
    finally:
        agent.close()
    assert "authorized_keys" in (refused.value.hint or "")


def test_preflight_refuses_a_changed_host_key_and_names_the_fix(
    options: dict[str, Any], fresh_ssh_server: SSHServer
) -> None:
    server = fresh_ssh_server
    server.rekey()
    agent = ClaudeSSHAgent(ClaudeSSHConfig(**{**options, **login(server)}))
    try:
        with pytest.raises(ConfigError, match="has changed") as changed:
            agent.preflight()
    finally:
        agent.close()
    message = str(changed.value)
    assert str(server.known_hosts) in message
    assert f"ssh-keygen -R '[127.0.0.1]:{server.port}' -f {server.known_hosts}" in message


def test_preflight_says_what_is_missing_on_the_remote(options: dict[str, Any], tmp_path: Path) -> None:
    def preflight(**changes: Any) -> ConfigError:
        agent = ClaudeSSHAgent(ClaudeSSHConfig(**{**options, **changes}))
        try:
            with pytest.raises(ConfigError) as failed:
                agent.preflight()
        finally:
            agent.close()
        return failed.value

    assert "claude CLI not found on ssh://" in str(preflight(remote_cli="no-such-claude"))
    assert f"no workspace directory {tmp_path}/nowhere" in str(preflight(workspace=str(tmp_path / "nowhere")))
    agent = ClaudeSSHAgent(ClaudeSSHConfig(**options))
    try:
        agent.preflight()  # all there: the CLI, the workspace, bubblewrap and socat
    finally:
        agent.close()


def do_with_a_dropped_connection(
    workspace: Path, scripted: Scripted, overseer: Callable[..., Ran], options: dict[str, Any], proxy: TCPProxy
) -> tuple[Ran, ScriptedAnthropicServer]:
    """`overseer do` with `agent.name: claude-ssh`, whose connection drops while a command runs."""
    module = str(workspace / "textstats.py")
    config = workspace / ".overseer" / "config.yaml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(yaml.safe_dump({"agent": {"name": "claude-ssh", "options": options}}))
    edit = {"file_path": module, "old_string": "    raise NotImplementedError\n", "new_string": "    return 0\n"}
    model = scripted([bash("touch started; sleep 4205"), turn(Use("Edit", edit)), turn(Say("Done."))])
    dropper = when_file(workspace / "started", proxy.drop)
    try:
        return overseer("do", "--json", "-w", str(workspace), "Implement word_count in textstats.py."), model
    finally:
        dropper.join()


def test_do_restarts_a_run_whose_connection_dropped(
    workspace: Path,
    scripted: Scripted,
    overseer: Callable[..., Ran],
    options: dict[str, Any],
    ssh_server: SSHServer,
    tmp_path: Path,
) -> None:
    """Through the registry and the whole loop: the output monitor takes the lost connection for a crash
    and runs the agent again, on a new connection, within the same attempt."""
    with TCPProxy(ssh_server.port) as proxy:
        ran, model = do_with_a_dropped_connection(
            workspace, scripted, overseer, {**options, **through(proxy, ssh_server, tmp_path)}, proxy
        )

    result = ran.json()
    assert "return 0" in (workspace / "textstats.py").read_text()  # the restarted run edited
    store = Store.open(sqlite_url(workspace / ".overseer" / "state.db"), redactor=Redactor([]))
    try:
        [first, *_] = store.attempts(result["task_id"])
        monitor = [event.data for event in store.events(first.id) if event.kind == "monitor"]
    finally:
        store.close()
    assert [(m["signal"], m["action"]) for m in monitor] == [("crashed", "restart")]
    assert "was lost while the CLI ran" in monitor[0]["reason"]
    assert not running("sleep 4205")  # the lifeline ended the first run's command
    restarted = json.dumps(model.agent_requests[1]["messages"])  # the restarted run's first request
    assert "touch started" in restarted  # resumed the session the dropped run had: it knows what it did
