"""Claude Code on another machine (`agent.name: claude-ssh`), reached over SSH.

The workspace lives on the remote host; the real `claude` CLI runs there, in it. Its stdio crosses
the SSH connection (`ssh_transport.py`), so this is `ClaudeCodeAgent` with another `cli_path`: the
PreToolUse hook, the guard, the permission arbiter and the honesty tools run here, in overseer, and
work unchanged. Each run gets a temp directory on the remote host (TMPDIR, the CLI's own temp dir,
an extra working directory), removed when the run ends. Bash runs in Claude Code's own bubblewrap
sandbox there, walled around the remote workspace and that temp directory, unless `sandbox` is off.

Everything else overseer does to the workspace (checkpoints, the judge's scratch copies and gates)
goes through `host`, an `SSHHost` on the same settings; `remote_workspace` is where it lives.
See docs/agents/claude-ssh.md.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import replace
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import ClassVar

import anyio
from claude_agent_sdk import ClaudeAgentOptions
from pydantic import BaseModel, ConfigDict, Field

from overseer.agents.arbiter import Arbiter, CommandPolicy
from overseer.agents.base import AgentEvent, AgentRequest, EventSink
from overseer.agents.claude_code import ClaudeCodeAgent, ClaudeCodeConfig, _Run
from overseer.agents.guard import ToolGuard
from overseer.agents.sandbox import _BWRAP_PROBE, DEFAULT_READABLE, OPT_OUT, Boundary, sandbox_event
from overseer.agents.ssh_transport import LAUNCHER, LOST_WHILE, SAYS, launch_environ
from overseer.domain import AgentResult
from overseer.errors import AgentError, ConfigError, HostError
from overseer.workspace.files import STATE_DIR
from overseer.workspace.ssh_host import SSHHost, SSHSettings

logger = logging.getLogger(__name__)

_CLEANUP_S = 10.0  # at most this long to remove the run's remote temp dir, even when the run was cancelled
# One round trip: the remote home, then those of the readable paths that exist there.
_HOME_AND_READABLE = (
    'printf "%s\\n" "$HOME"; for p; do case $p in "~"/*) p="$HOME/${p#"~/"}" ;; "~") p=$HOME ;; esac; '
    '[ -e "$p" ] && printf "%s\\n" "$p"; done; exit 0'
)
_LOST_HINT = "the CLI there was stopped with the connection (its lifeline); the next run connects again"
_SANDBOX_CHECK = (
    'for p in bwrap socat; do command -v $p >/dev/null 2>&1 || { echo missing $p; exit 3; }; done; exec bwrap "$@" 2>&1'
)


class ClaudeSSHConfig(SSHSettings):
    """How to log in (`SSHSettings`: host, port, user, key, known_hosts, keepalive, retries), where the
    workspace is there, and the options `claude-code` has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workspace: PurePosixPath  # the workspace's path on the remote host
    remote_cli: str = "claude"  # a name on the remote login PATH, or an absolute path there
    model: str | None = None
    max_turns: int = Field(default=40, ge=1)
    deny_commands: list[str] = Field(default_factory=list)
    commands: CommandPolicy = Field(default_factory=CommandPolicy)
    env: dict[str, str] = Field(default_factory=dict)  # set on the remote host, over the login environment
    sandbox: bool = True  # Claude Code's bubblewrap sandbox on the remote host (needs bwrap and socat there)
    allowed_domains: list[str] = Field(default_factory=list)
    readable: list[str] = Field(default_factory=lambda: list(DEFAULT_READABLE))  # in the remote home

    def settings(self) -> SSHSettings:
        return SSHSettings.model_validate(self.model_dump(include=set(SSHSettings.model_fields)))

    def claude(self) -> ClaudeCodeConfig:
        shared = {"model", "max_turns", "deny_commands", "commands", "env", "sandbox", "allowed_domains", "readable"}
        return ClaudeCodeConfig.model_validate(self.model_dump(include=shared))


class ClaudeSSHAgent(ClaudeCodeAgent):
    name: ClassVar[str] = "claude-ssh"
    config_model: ClassVar[type[BaseModel]] = ClaudeSSHConfig

    def __init__(self, config: ClaudeSSHConfig) -> None:
        super().__init__(config.claude())
        self.ssh = config
        self._left: list[PurePosixPath] = []  # remote temp dirs a lost connection kept from removing

    @cached_property
    def host(self) -> SSHHost:
        """The workspace's machine, for the loop's checkpoints and the judge's gates (connects at first use)."""
        return SSHHost(self.ssh.settings())

    @property
    def remote_workspace(self) -> PurePosixPath:
        return self.ssh.workspace

    @property
    def cli_path(self) -> Path:
        """What the SDK starts: the CLI on the remote host, over SSH."""
        return LAUNCHER

    @property
    def sandboxed(self) -> bool:
        """Nothing on this machine is in reach of the agent's Bash: no need to watch the home here."""
        return True

    def own_paths(self, home: Path) -> list[Path]:
        return []  # the CLI keeps its state on the remote host

    def close(self) -> None:
        """Close the host's connection, if one was opened."""
        if "host" in self.__dict__:
            self.host.close()

    def preflight(self) -> None:
        """Log in, then check the workspace, the CLI and (when on) the sandbox on the remote host."""
        try:
            self.host.connect()
            self._check_remote()
        except HostError as exc:
            raise ConfigError(exc.message, hint=exc.hint) from exc

    def _check_remote(self) -> None:
        host, where = self.host, self.host.label
        if host.which(self.ssh.remote_cli) is None:
            raise ConfigError(
                f"claude CLI not found on {where}: {self.ssh.remote_cli}",
                hint="install Claude Code there, or set agent.options.remote_cli to its path",
            )
        if host.run(["test", "-d", str(self.remote_workspace)]).exit_code != 0:
            raise ConfigError(f"no workspace directory {self.remote_workspace} on {where}")
        if self.ssh.sandbox:
            done = host.run(["/bin/sh", "-c", _SANDBOX_CHECK, "sh", *_BWRAP_PROBE])
            if done.exit_code != 0:
                why = (done.stdout.decode(errors="replace").strip().splitlines() or [f"exit {done.exit_code}"])[-1]
                raise ConfigError(
                    f"the sandbox cannot start on {where}: {why}",
                    hint=f"install bubblewrap and socat there (and allow user namespaces), or {OPT_OUT}",
                )

    async def run(self, request: AgentRequest, emit: EventSink) -> AgentResult:
        workspace = PurePosixPath(request.workspace)
        temp, home, readable = await self._prepare()
        try:
            boundary = self.remote_boundary(workspace, home, temp, readable)
            event = sandbox_event(boundary, sandboxed=self.ssh.sandbox)
            emit(AgentEvent("sandbox", {**event, "kind": "ssh", "host": self.host.label}))
            arbiter = Arbiter(self.config.commands, sandboxed=self.ssh.sandbox, risk=self.risk)
            guard = ToolGuard(Path(workspace), self.config.deny_commands, boundary=boundary, arbiter=arbiter)
            run = self._new_run(guard, request, emit)
            await self._converse(request, run, boundary)
        finally:  # also on cancellation (overseer's time limits)
            await self._remove(temp)
        return run.finish()

    async def _remove(self, temp: PurePosixPath) -> None:
        """Remove the run's remote temp dir, waiting at most `_CLEANUP_S`: the connection may be gone, and
        then the next run removes it. A daemon thread of its own: a call stuck on a dead connection holds
        up nothing."""
        removed: list[bool] = []
        remover = threading.Thread(target=lambda: removed.append(self._rm([temp])), name=f"rm {temp}", daemon=True)
        remover.start()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(remover.join, _CLEANUP_S)
        if removed != [True]:
            self._left.append(temp)
            logger.warning("the run's temp dir %s on %s is left for the next run to remove", temp, self.host.label)

    def _rm(self, paths: list[PurePosixPath]) -> bool:
        try:
            return self.host.run(["rm", "-rf", "--", *map(str, paths)], timeout_s=_CLEANUP_S).exit_code == 0
        except HostError as exc:
            logger.warning("could not remove %s on %s: %s", ", ".join(map(str, paths)), self.host.label, exc)
            return False

    async def _prepare(self) -> tuple[PurePosixPath, PurePosixPath, list[PurePosixPath]]:
        """The run's remote temp dir, the remote home and the readable paths there."""

        def prepare() -> tuple[PurePosixPath, PurePosixPath, list[PurePosixPath]]:
            found = self.host.run(["/bin/sh", "-c", _HOME_AND_READABLE, "sh", *self.config.readable])
            home, *readable = found.stdout.decode(errors="replace").splitlines()
            temp = self.host.mkdtemp("overseer-attempt-")
            if self._left and self._rm(self._left):  # what a lost connection left behind
                self._left.clear()
            return PurePosixPath(temp), PurePosixPath(home), [PurePosixPath(path) for path in readable]

        try:
            return await anyio.to_thread.run_sync(prepare)
        except (HostError, ValueError) as exc:
            raise AgentError(f"the agent's host is not ready: {exc}") from exc

    def remote_boundary(
        self, workspace: PurePosixPath, home: PurePosixPath, temp: PurePosixPath, readable: list[PurePosixPath]
    ) -> Boundary:
        """`Boundary.around` for paths on the remote host: taken as they are (this machine cannot resolve
        them), the home and the workspace's parent hidden, the workspace, temp dir and `readable` open."""
        ws, root = Path(workspace), Path("/")
        hidden = tuple(p for p in dict.fromkeys((Path(home), ws.parent)) if p != root and not p.is_relative_to(ws))
        opened = tuple(dict.fromkeys((ws, Path(temp), *map(Path, readable))))
        domains = tuple(self.config.allowed_domains) if self.ssh.sandbox else None
        return Boundary(ws, Path(home), Path(temp), hidden, opened, domains, (ws / STATE_DIR,))

    def _options(self, request: AgentRequest, run: _Run, boundary: Boundary) -> ClaudeAgentOptions:
        options = super()._options(request, run, boundary)
        launch = launch_environ(
            settings=self.ssh.settings(),
            workspace=str(request.workspace),
            cli=self.ssh.remote_cli,
            passed=["TMPDIR", *self.config.env],
        )
        # The SDK starts the launcher here: in a directory of this machine (the workspace is the remote's).
        return replace(options, cwd=tempfile.gettempdir(), env={**options.env, **launch})

    async def _converse(self, request: AgentRequest, run: _Run, boundary: Boundary) -> None:
        try:
            await super()._converse(request, run, boundary)
        except AgentError as exc:
            said = [line.removeprefix(SAYS).strip() for line in run.stderr if line.startswith(SAYS)]
            if not said:
                raise
            lost = LOST_WHILE in said[-1]
            raise AgentError(
                f"claude CLI on {self.host.label} failed: {said[-1]}", hint=_LOST_HINT if lost else ""
            ) from exc
