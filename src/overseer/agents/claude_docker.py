"""Claude Code in a Docker container (`agent.name: claude-docker`), through the official Docker SDK.

Each run gets a container of its own: the workspace bind-mounted at the same path, overseer's state
directory in it read-only, the agent's home (sessions, so a retry resumes) from
`.overseer/claude-docker/home`, the run's temp directory, and the host's `claude` read-only (unless
the image has its own). User, network, memory, CPUs and processes come from the config. The container
is removed when the run ends, on an error or Ctrl-C too; if overseer itself is killed, its lifeline
(an attached stdin that closes with the process) stops it, and the next run reaps any that are left,
found by their labels.

The CLI talks to overseer over stdio as the local one does (`docker_transport.py`), so this is
`ClaudeCodeAgent` with another `cli_path`: the PreToolUse hook, the guard and the honesty tools work
unchanged. Claude Code's own bubblewrap sandbox cannot run inside a container: the container is the
containment (docs/agents/claude-docker.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import docker
from claude_agent_sdk import ClaudeAgentOptions
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import Mount
from docker.utils import kwargs_from_env
from pydantic import BaseModel, ConfigDict, Field

from overseer.agents.arbiter import Arbiter, CommandPolicy
from overseer.agents.base import AgentEvent, AgentRequest, EventSink
from overseer.agents.claude_code import ClaudeCodeAgent, ClaudeCodeConfig, _Run, bundled_cli
from overseer.agents.docker_transport import LAUNCHER, launch_environ
from overseer.agents.guard import ToolGuard
from overseer.agents.sandbox import Boundary
from overseer.domain import AgentResult
from overseer.errors import AgentError, ConfigError
from overseer.workspace.files import STATE_DIR

logger = logging.getLogger(__name__)

AGENT_LABEL = "overseer.agent"  # every container this agent makes carries it, to be found again
OWNER_LABEL = "overseer.owner"  # host:pid:start time of the overseer process that made it
WORKSPACE_LABEL = "overseer.workspace"
HOME = "/home/agent"  # the agent's home in the container
MOUNTED_CLI = "/opt/overseer/claude"  # where the host's CLI is mounted
HOME_DIR = Path("claude-docker") / "home"  # under the workspace's state directory
_KEEP_STDIN = ["/bin/sh", "-c", "read -r _"]  # the container's main process: ends when its stdin closes


class ClaudeDockerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = "overseer-claude:latest"  # built from docker/Dockerfile (see the docs page)
    docker_host: str | None = None  # None: DOCKER_HOST, else the local engine's socket
    network: str = "bridge"  # none | bridge | host | a network's name; `none` leaves the CLI no model either
    user: str | None = None  # None: overseer's own uid:gid, so what the agent writes stays the user's
    memory: str | None = "4g"  # Docker's units (512m, 4g); None: no limit
    cpus: float | None = Field(default=2.0, gt=0)
    pids: int | None = Field(default=1024, ge=16)
    cli_path: Path | None = None  # the host's claude to mount; None: the one bundled with claude-agent-sdk
    container_cli: str | None = None  # a claude the image has itself (then nothing is mounted)
    model: str | None = None
    max_turns: int = Field(default=40, ge=1)
    deny_commands: list[str] = Field(default_factory=list)
    commands: CommandPolicy = Field(default_factory=CommandPolicy)
    env: dict[str, str] = Field(default_factory=dict)  # set in the container, over the CLI's own

    def claude(self) -> ClaudeCodeConfig:
        """The options the local agent shares; its OS sandbox is off: the container stands for it."""
        shared = self.model_dump(include={"cli_path", "model", "max_turns", "deny_commands", "commands", "env"})
        return ClaudeCodeConfig.model_validate({**shared, "sandbox": False})


class ClaudeDockerAgent(ClaudeCodeAgent):
    name: ClassVar[str] = "claude-docker"
    config_model: ClassVar[type[BaseModel]] = ClaudeDockerConfig

    def __init__(self, config: ClaudeDockerConfig) -> None:
        super().__init__(config.claude())
        self.docker = config
        self._box: Box | None = None  # the container of the run in progress

    @property
    def cli_path(self) -> Path:
        """What the SDK starts: the CLI in the container, over a docker exec."""
        return LAUNCHER

    @property
    def host_cli(self) -> Path:
        return self.docker.cli_path or bundled_cli()

    @property
    def sandboxed(self) -> bool:
        """Bash can change nothing outside the container's mounts: no need to watch the home for it."""
        return True

    def own_paths(self, home: Path) -> list[Path]:
        return []  # the CLI keeps its state in the container's home, under the workspace's state dir

    def preflight(self) -> None:
        if self.docker.container_cli is None and not self.host_cli.is_file():
            raise ConfigError(
                "claude CLI not found", path=str(self.host_cli), hint="set agent.options.cli_path or container_cli"
            )
        client = self._client()
        try:
            client.images.get(self.docker.image)
        except ImageNotFound as exc:
            raise ConfigError(
                f"Docker image {self.docker.image} not found",
                hint="build it: docker build -t overseer-claude docker/ (docs/agents/claude-docker.md)",
            ) from exc
        except DockerException as exc:
            raise ConfigError(f"the Docker engine failed: {exc}") from exc
        finally:
            client.close()

    async def run(self, request: AgentRequest, emit: EventSink) -> AgentResult:
        self.preflight()
        with tempfile.TemporaryDirectory(prefix="overseer-attempt-", ignore_cleanup_errors=True) as temp:
            boundary = self.boundary(request.workspace, Path.home(), Path(temp))
            # With a network the container does not hold what a command sends out: decide as unsandboxed.
            arbiter = Arbiter(self.config.commands, sandboxed=self.docker.network == "none", risk=self.risk)
            guard = ToolGuard(request.workspace, self.config.deny_commands, boundary=boundary, arbiter=arbiter)
            run = self._new_run(guard, request, emit)
            box = await asyncio.to_thread(self._open_box, request.workspace, Path(temp))
            try:
                emit(AgentEvent("sandbox", box.event))
                self._box = box
                await self._converse(request, run, boundary)
            finally:  # also on cancellation (overseer's time limits) and Ctrl-C: a quick blocking call
                self._box = None
                box.close()
        return run.finish()

    def _options(self, request: AgentRequest, run: _Run, boundary: Boundary) -> ClaudeAgentOptions:
        options = super()._options(request, run, boundary)
        if self._box is None:
            raise AgentError("the agent's container is not running")
        fixed = {
            "HOME": HOME,
            "CLAUDE_CONFIG_DIR": f"{HOME}/.claude",
            **self.docker.env,
        }
        launch = launch_environ(
            docker_host=self.docker.docker_host or "",
            container=self._box.container.id or "",
            cli=self.docker.container_cli or MOUNTED_CLI,
            passed=["TMPDIR"],
            fixed=fixed,
        )
        return replace(options, env={**options.env, **launch})

    def _client(self) -> docker.DockerClient:
        environ = dict(os.environ)
        if self.docker.docker_host:
            environ["DOCKER_HOST"] = self.docker.docker_host
        try:
            _knock(environ.get("DOCKER_HOST", ""))
            return docker.DockerClient(**kwargs_from_env(environment=environ))
        except (DockerException, OSError) as exc:
            raise ConfigError(
                f"the Docker engine cannot be reached: {exc}",
                hint="start Docker, or set agent.options.docker_host (or DOCKER_HOST)",
            ) from exc

    def _open_box(self, workspace: Path, temp: Path) -> Box:
        client = self._client()
        try:
            reaped = reap_leftovers(client)
            return Box.open(client, self._container_spec(workspace, temp), reaped)
        except DockerException as exc:
            client.close()
            raise AgentError(f"the agent's container could not start: {exc}") from exc

    def _container_spec(self, workspace: Path, temp: Path) -> ContainerSpec:
        config = self.docker
        home = workspace / STATE_DIR / HOME_DIR
        home.mkdir(parents=True, exist_ok=True)
        mounts = [
            Mount(str(workspace), str(workspace), type="bind"),
            Mount(str(temp), str(temp), type="bind"),
            Mount(HOME, str(home), type="bind"),
        ]
        if (workspace / STATE_DIR).is_dir():  # overseer's store and checkpoints: the agent may not change them
            mounts.append(Mount(str(workspace / STATE_DIR), str(workspace / STATE_DIR), type="bind", read_only=True))
        if config.container_cli is None:
            mounts.append(Mount(MOUNTED_CLI, str(self.host_cli), type="bind", read_only=True))
        user = config.user or f"{os.getuid()}:{os.getgid()}"
        _give([home, home.parent, temp], user)
        return ContainerSpec(
            image=config.image,
            labels={AGENT_LABEL: self.name, OWNER_LABEL: owner_id(), WORKSPACE_LABEL: str(workspace)},
            workdir=str(workspace),
            user=user,
            limits={
                "mounts": mounts,
                "network_mode": config.network,
                "mem_limit": config.memory,
                "nano_cpus": int(config.cpus * 1e9) if config.cpus else None,
                "pids_limit": config.pids,
            },
        )


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    labels: dict[str, str]
    workdir: str
    user: str
    limits: dict[str, Any]  # the engine's host config: mounts, network, resources

    def create(self, client: docker.DockerClient) -> Container:
        """Through the engine's API, which sets StdinOnce with an open stdin (a container not detached)."""
        host_config = client.api.create_host_config(
            auto_remove=True, **{k: v for k, v in self.limits.items() if v is not None}
        )
        created = client.api.create_container(
            self.image,
            _KEEP_STDIN,
            stdin_open=True,  # and StdinOnce: the engine closes its stdin when overseer's attachment goes
            labels=self.labels,
            working_dir=self.workdir,
            user=self.user,
            host_config=host_config,
        )
        return client.containers.get(created["Id"])

    def event(self, container: Container, reaped: list[str]) -> dict[str, Any]:
        """What the `sandbox` event records: the container and its walls."""
        mounts = [f"{m['Source']}:{m['Target']}{':ro' if m['ReadOnly'] else ''}" for m in self.limits["mounts"]]
        names = {"network_mode": "network", "mem_limit": "memory", "nano_cpus": "nano_cpus", "pids_limit": "pids"}
        limits = {name: self.limits[key] for key, name in names.items()}
        # what the sandbox of claude-code calls the hosts it admits: with a network, any ("*")
        limits["allowed_domains"] = [] if self.limits["network_mode"] == "none" else ["*"]
        return {
            "enabled": True,
            "kind": "docker",
            "container": container.short_id,
            "image": self.image,
            "user": self.user,
            **limits,
            "mounts": mounts,
            "reaped": reaped,
        }


@dataclass
class Box:
    """One run's container, and the attached stdin that is its lifeline."""

    client: docker.DockerClient
    container: Container
    lifeline: Any  # the attach socket: closing it (or overseer dying) ends the container
    event: dict[str, Any]

    @classmethod
    def open(cls, client: docker.DockerClient, spec: ContainerSpec, reaped: list[str]) -> Box:
        container = spec.create(client)
        try:
            lifeline = container.attach_socket(params={"stdin": 1, "stream": 1})
            container.start()
        except BaseException:
            with contextlib.suppress(DockerException):
                container.remove(force=True)
            raise
        return cls(client, container, lifeline, spec.event(container, reaped))

    def close(self) -> None:
        """Remove the container (whatever still runs in it dies with it), then let go of the engine."""
        try:
            self.container.remove(force=True)
        except NotFound:
            pass  # removed already: its stdin closed, its main process ended
        except APIError as exc:  # 409: its removal is under way
            logger.warning("container %s could not be removed: %s", self.container.short_id, exc)
        finally:
            raw = getattr(self.lifeline, "_sock", None)  # SocketIO's close leaves its socket open
            with contextlib.suppress(OSError):
                self.lifeline.close()
                if raw is not None:
                    raw.close()
            self.client.close()


def reap_leftovers(client: docker.DockerClient) -> list[str]:
    """Remove the containers of this agent whose overseer process (on this host) is gone; their ids."""
    reaped = []
    for container in client.containers.list(all=True, filters={"label": AGENT_LABEL}):
        if _owner_alive(container.labels.get(OWNER_LABEL, "")):
            continue
        with contextlib.suppress(NotFound, APIError):
            container.remove(force=True)
            reaped.append(container.short_id)
            logger.warning("removed container %s, left by an overseer that is gone", container.short_id)
    return reaped


def owner_id(pid: int | None = None) -> str:
    """host:pid:start time, so a pid the kernel gave to another process later is not taken for ours."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_started(pid)}"


def _owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit() or not _started(os.getpid()):
        return True  # another machine's, no owner, or no /proc to ask: not ours to judge
    return _started(int(pid)) == started and started != ""


def _started(pid: int) -> str:
    """The process's start time in clock ticks since boot (/proc), or "" when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def _knock(host: str) -> None:
    """Connect to a unix socket engine once with a socket of ours: the SDK leaks its own when that fails."""
    if host and not host.startswith("unix://"):
        return  # TCP or SSH: the SDK's own connection says
    with socket.socket(socket.AF_UNIX) as probe:
        probe.connect(host.removeprefix("unix://") or "/var/run/docker.sock")


def _give(paths: list[Path], user: str) -> None:
    """As root, give the agent's home and temp dir to a numeric container user (its CLI writes there)."""
    uid, _, gid = user.partition(":")
    if os.geteuid() == 0 and uid.isdigit():
        for path in paths:
            os.chown(path, int(uid), int(gid) if gid.isdigit() else int(uid))
