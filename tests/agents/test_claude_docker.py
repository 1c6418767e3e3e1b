"""Claude Code in Docker, for real: a dockerd of the tests' own (overseer.testing.docker), a base image
made from this machine's files, the real `claude` CLI mounted into the container and driven by the
scripted model. The model server listens on the host's loopback, so the containers that must reach it
use the host's network; the `none` network is tested for having none.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from overseer.agents.base import AgentEvent, AgentRequest
from overseer.agents.claude_code import bundled_cli
from overseer.agents.claude_docker import (
    AGENT_LABEL,
    OWNER_LABEL,
    ClaudeDockerAgent,
    ClaudeDockerConfig,
    owner_id,
    reap_leftovers,
)
from overseer.domain import AgentResult
from overseer.errors import ConfigError
from overseer.redact import Redactor
from overseer.state.store import Store, sqlite_url
from overseer.testing import Say, ScriptedAnthropicServer, Turn, Use, api_error, turn
from overseer.testing.docker import AGENT_UID, DockerEngine, DockerUnavailable, build_base_image
from tests.conftest import Ran

Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]
TASK = "Write hello.py."


@pytest.fixture(scope="session")
def engine() -> Iterator[DockerEngine]:
    """One dockerd per test session (per xdist worker), stopped in the finalizer. Skips when it cannot
    start here, and says why; on CI (CI=true), where `make system-packages` installed it, that fails."""
    engine = DockerEngine()
    try:
        engine.start()
    except DockerUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"dockerd could not be started on CI: {exc}")
        pytest.skip(f"dockerd could not be started: {exc}")
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def image(engine: DockerEngine) -> str:
    client = engine.client()
    try:
        return build_base_image(client, runs=[bundled_cli()])
    finally:
        client.close()


@pytest.fixture
def client(engine: DockerEngine) -> Iterator[docker.DockerClient]:
    client = engine.client()
    yield client
    client.close()


@pytest.fixture
def options(engine: DockerEngine, image: str) -> dict[str, Any]:
    """The agent's options for a run that reaches the scripted model on the host's loopback."""
    return {"image": image, "docker_host": engine.url, "network": "host"}


class Run:
    def __init__(self, events: list[AgentEvent], result: AgentResult | None) -> None:
        self.events = events
        self.result = result

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event.data for event in self.events if event.kind == kind]


@pytest.fixture
def agent_run(scripted: Scripted, workspace: Path) -> Callable[..., Run]:
    """Script the model with `turns` (then a closing "Done."), run the agent in its container."""

    def run(turns: Sequence[Turn], **options: Any) -> Run:
        scripted([*turns, turn(Say("Done."))])
        events: list[AgentEvent] = []
        agent = ClaudeDockerAgent(ClaudeDockerConfig(**options))
        result = asyncio.run(agent.run(AgentRequest(TASK, workspace), events.append))
        return Run(events, result)

    return run


def write(path: Path, content: str) -> Turn:
    return turn(Use("Write", {"file_path": str(path), "content": content}))


def bash(command: str) -> Turn:
    return turn(Use("Bash", {"command": command, "description": "scripted"}))


def ours(client: docker.DockerClient) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": AGENT_LABEL}))


def test_a_write_through_the_cli_in_the_container_lands_in_the_workspace(
    agent_run: Callable[..., Run], workspace: Path, options: dict[str, Any], client: docker.DockerClient
) -> None:
    run = agent_run([write(workspace / "hello.py", "print('hello')\n")], **options)

    assert (workspace / "hello.py").read_text() == "print('hello')\n"
    [call] = run.of("tool_call")
    assert (call["tool"], call["allowed"]) == ("Write", True)  # overseer's guard saw the call
    [sandbox] = run.of("sandbox")
    assert sandbox["kind"] == "docker" and sandbox["network"] == "host"
    assert run.result is not None and not run.result.is_error and run.result.session_id
    assert not ours(client)  # removed when the run ended


def test_the_guard_refuses_in_the_container_as_it_does_outside(
    agent_run: Callable[..., Run], workspace: Path, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine named by DOCKER_HOST, as a user's shell would name it, rather than by the option."""
    monkeypatch.setenv("DOCKER_HOST", options.pop("docker_host"))
    outside = workspace.parent / "escaped.txt"

    run = agent_run([write(outside, "pwned\n")], **options)

    assert not outside.exists()
    [call] = run.of("tool_call")
    assert not call["allowed"] and "outside the workspace" in call["reason"]
    assert run.result is not None and run.result.session_id  # the CLI ran, in the container of that engine


def test_a_container_user_that_is_not_root_writes_as_itself(
    agent_run: Callable[..., Run], workspace: Path, options: dict[str, Any]
) -> None:
    os.chown(workspace, AGENT_UID, AGENT_UID)

    run = agent_run([bash("id -u > who.txt")], user=f"{AGENT_UID}:{AGENT_UID}", **options)

    assert run.result is not None and not run.result.is_error, run.result
    assert (workspace / "who.txt").read_text().strip() == str(AGENT_UID)
    assert (workspace / "who.txt").stat().st_uid == AGENT_UID


def test_overseers_state_dir_is_read_only_in_the_container(
    agent_run: Callable[..., Run], workspace: Path, options: dict[str, Any]
) -> None:
    state = workspace / ".overseer"
    state.mkdir()
    (state / "state.db").write_text("the store\n")

    # a spelling the guard cannot read (it refuses the plain one): the mount is what stops it
    run = agent_run([bash("d=.overseer; echo forged > $d/state.db; cat $d/state.db")], **options)

    assert (state / "state.db").read_text() == "the store\n"
    [result] = run.of("tool_result")
    assert "Read-only file system" in result["content"], result


def test_the_cli_in_the_container_has_a_home_of_its_own(
    agent_run: Callable[..., Run], workspace: Path, options: dict[str, Any], tmp_path: Path
) -> None:
    """Not the host's: the CLI's sessions live in the workspace's state dir, so a retry resumes."""
    run = agent_run([bash("env > env.txt")], **options)

    assert run.result is not None and not run.result.is_error
    seen = (workspace / "env.txt").read_text().splitlines()
    assert "HOME=/home/agent" in seen and "CLAUDE_CONFIG_DIR=/home/agent/.claude" in seen
    assert str(tmp_path / "claude-config") not in "\n".join(seen)
    sessions = workspace / ".overseer" / "claude-docker" / "home" / ".claude" / "projects"
    assert any(path.name == f"{run.result.session_id}.jsonl" for path in sessions.rglob("*.jsonl"))


def test_a_retry_resumes_the_session_in_a_new_container(
    scripted: Scripted, workspace: Path, options: dict[str, Any]
) -> None:
    """Each run has a container of its own; the session lives in the agent's home and goes on."""
    server = scripted([write(workspace / "hello.py", "x = 1\n"), turn(Say("Done.")), turn(Say("Still done."))])
    agent = ClaudeDockerAgent(ClaudeDockerConfig(**options))
    first = asyncio.run(agent.run(AgentRequest(TASK, workspace), lambda _event: None))

    second = asyncio.run(agent.run(AgentRequest("Check it again.", workspace, first.session_id), lambda _e: None))

    assert not second.is_error and second.session_id == first.session_id
    resumed = json.dumps(server.agent_requests[-1]["messages"])
    assert TASK in resumed and "Check it again." in resumed  # the first run's conversation came along


def test_limits_from_the_config_apply_to_the_container(
    scripted: Scripted, workspace: Path, options: dict[str, Any], client: docker.DockerClient
) -> None:
    """The container is inspected while the CLI runs in it (from the event the agent emits first)."""
    scripted([bash("cat /sys/fs/cgroup/pids/pids.max"), turn(Say("Done."))])
    agent = ClaudeDockerAgent(ClaudeDockerConfig(memory="256m", cpus=0.5, pids=64, **options))
    seen: list[dict[str, Any]] = []

    def emit(event: AgentEvent) -> None:
        if event.kind == "sandbox":
            seen.append(client.api.inspect_container(event.data["container"]))
        if event.kind == "tool_result":
            seen.append(event.data)

    asyncio.run(agent.run(AgentRequest(TASK, workspace), emit))

    inspected, result = seen
    host = inspected["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (256 * 2**20, 500_000_000, 64)
    assert inspected["Config"]["Labels"][OWNER_LABEL] == owner_id()
    assert result["content"].strip() == "64"  # the kernel's own limit, read from inside


def test_the_none_network_has_none(
    scripted: Scripted, workspace: Path, options: dict[str, Any], client: docker.DockerClient, image: str
) -> None:
    """Not even the model: the CLI cannot reach the scripted server, which hears nothing."""
    interfaces = client.containers.run(image, ["cat", "/proc/net/dev"], network_mode="none", remove=True)
    assert [line.split(":")[0].strip() for line in interfaces.decode().splitlines()[2:]] == ["lo"]

    server = scripted([write(workspace / "hello.py", "x\n")])
    agent = ClaudeDockerAgent(ClaudeDockerConfig(**{**options, "network": "none"}))
    result = asyncio.run(agent.run(AgentRequest(TASK, workspace), lambda _event: None))

    assert result.is_error and not server.agent_requests
    assert not (workspace / "hello.py").exists()


def test_containers_left_by_a_dead_overseer_are_reaped(
    agent_run: Callable[..., Run], options: dict[str, Any], client: docker.DockerClient, image: str
) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_owner = owner_id(int(gone.stdout))  # the process is gone: its start time reads ""
    left = client.containers.create(
        image, ["sleep", "600"], labels={AGENT_LABEL: "claude-docker", OWNER_LABEL: dead_owner}
    )
    alive = client.containers.create(
        image, ["sleep", "600"], labels={AGENT_LABEL: "claude-docker", OWNER_LABEL: owner_id()}
    )
    try:
        run = agent_run([], **options)

        [sandbox] = run.of("sandbox")
        assert sandbox["reaped"] == [left.short_id]
        assert [c.id for c in ours(client)] == [alive.id]
        assert reap_leftovers(client) == []
    finally:
        alive.remove(force=True)


def test_the_container_dies_with_a_killed_overseer(
    engine: DockerEngine, image: str, client: docker.DockerClient, tmp_path: Path
) -> None:
    """SIGKILL leaves overseer no `finally`: the container's attached stdin closes, and it ends itself."""
    workspace = tmp_path / "project"
    workspace.mkdir()
    script = (
        "import sys, time, pathlib\n"
        "from overseer.agents.claude_docker import ClaudeDockerAgent, ClaudeDockerConfig\n"
        f"agent = ClaudeDockerAgent(ClaudeDockerConfig(image={image!r}, docker_host={engine.url!r}))\n"
        f"box = agent._open_box(pathlib.Path({str(workspace)!r}), pathlib.Path({str(tmp_path)!r}))\n"
        "print(box.container.id, flush=True)\n"
        "time.sleep(600)\n"
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            container_id = child.stdout.readline().strip()
            assert [c.id for c in ours(client)] == [container_id]
        finally:
            child.kill()
    deadline = time.monotonic() + 15
    while ours(client) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not ours(client)


def test_a_cancelled_run_leaves_no_container_and_no_exec_behind(
    scripted: Scripted, workspace: Path, options: dict[str, Any], client: docker.DockerClient
) -> None:
    """overseer's time limits cancel the run: the container goes, and with it the CLI; the host's pump too."""
    scripted([bash("sh -c 'sleep 120'")])
    agent = ClaudeDockerAgent(ClaudeDockerConfig(**options))
    started: list[str] = []
    calls: list[dict[str, Any]] = []

    def emit(event: AgentEvent) -> None:
        if event.kind == "sandbox":
            started.append(event.data["container"])
        if event.kind == "tool_call":
            calls.append(event.data)

    async def run_briefly() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(agent.run(AgentRequest(TASK, workspace), emit), timeout=5)

    asyncio.run(run_briefly())

    assert [call["allowed"] for call in calls] == [True]  # cancelled while the command ran
    assert started and not ours(client)
    assert not pumps_for(started[0])


def pumps_for(short_id: str) -> list[int]:
    """Processes on this host still pumping a docker exec into the container `short_id`."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            values = environ.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(v.startswith(b"OVERSEER_DOCKER_CONTAINER=" + short_id.encode()) for v in values):
            found.append(int(environ.parent.name))
    return found


def test_preflight_says_what_is_missing(engine: DockerEngine, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="image nope:latest not found") as missing:
        ClaudeDockerAgent(ClaudeDockerConfig(image="nope:latest", docker_host=engine.url)).preflight()
    assert "docker build" in (missing.value.hint or "")
    with pytest.raises(ConfigError, match="cannot be reached"):
        ClaudeDockerAgent(ClaudeDockerConfig(docker_host=f"unix://{tmp_path}/no.sock")).preflight()


def test_do_runs_the_task_in_a_container_chosen_by_name(
    workspace: Path, scripted: Scripted, overseer: Callable[..., Ran], options: dict[str, Any]
) -> None:
    """`overseer do` through the registry: `agent.name: claude-docker` in the workspace's config."""
    module = str(workspace / "textstats.py")
    config = workspace / ".overseer" / "config.yaml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(yaml.safe_dump({"agent": {"name": "claude-docker", "options": options}}))
    scripted(
        [
            turn(Use("Read", {"file_path": module})),
            turn(
                Use(
                    "Edit",
                    {
                        "file_path": module,
                        "old_string": "    raise NotImplementedError\n",
                        "new_string": "    return len(text.split())\n",
                    },
                )
            ),
            turn(Say("Implemented word_count in textstats.py. Tests: 3 passed.")),
        ]
    )

    ran = overseer("do", "--json", "-w", str(workspace), "Implement word_count in textstats.py so that the tests pass.")

    assert ran.code == 0, ran.err
    result = ran.json()
    assert (result["status"], result["decision"]) == ("completed", "proceed")
    assert result["files_changed"] == ["textstats.py"]
    assert "split()" in (workspace / "textstats.py").read_text()
    store = Store.open(sqlite_url(workspace / ".overseer" / "state.db"), redactor=Redactor([]))
    try:
        [attempt] = store.attempts(result["task_id"])
        events = store.events(attempt.id)
        [sandbox] = [event.data for event in events if event.kind == "sandbox"]
        assert sandbox["kind"] == "docker"
        # the watcher saw the edit from the container; the CLI's own home under .overseer is not the work
        assert {event.data["path"] for event in events if event.kind == "file"} == {"textstats.py"}
    finally:
        store.close()


def test_the_monitor_waits_out_a_429_from_the_cli_in_the_container(
    workspace: Path,
    scripted: Scripted,
    overseer: Callable[..., Ran],
    options: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The output monitor reads the containerised CLI as the local one: a rate limit burns no attempt."""
    module = str(workspace / "textstats.py")
    config = workspace / ".overseer" / "config.yaml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(yaml.safe_dump({"agent": {"name": "claude-docker", "options": options}}))
    edit = {"file_path": module, "old_string": "    raise NotImplementedError\n", "new_string": "    return 0\n"}
    scripted([api_error(429, "rate limited, slow down", retry_after=0.1), turn(Use("Edit", edit)), turn(Say("Done."))])
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "0")  # crosses into the container (CLAUDE_*)
    monkeypatch.setenv("OVERSEER_LIMITS__RATE_LIMIT_BACKOFF_S", "0.1")

    ran = overseer("do", "--json", "-w", str(workspace), "Implement word_count in textstats.py.")

    result = ran.json()
    store = Store.open(sqlite_url(workspace / ".overseer" / "state.db"), redactor=Redactor([]))
    try:
        [first, *_] = store.attempts(result["task_id"])
        waits = [event.data for event in store.events(first.id) if event.kind == "monitor"]
    finally:
        store.close()
    assert [(wait["signal"], wait["action"]) for wait in waits] == [("rate_limited", "wait")]
    assert "return 0" in (workspace / "textstats.py").read_text()  # the same attempt ran again and edited
