"""What a coding agent is to overseer: something that takes a request and reports events.

Agents never touch the store: they emit `AgentEvent`s through a callback and return an
`AgentResult`; the orchestrator persists both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from overseer.domain import AgentResult
from overseer.llm.base import LLM
from overseer.workspace.host import Host, Site
from overseer.workspace.local_host import LOCAL

if TYPE_CHECKING:  # approval.py parses shell commands (bashlex): not for every `overseer --help`
    from overseer.agents.approval import AnsweredCall


@dataclass(frozen=True)
class AgentRequest:
    prompt: str
    workspace: Path
    session_id: str | None = None  # continue this session (a retry) instead of starting a new one
    answered: tuple[AnsweredCall, ...] = ()  # deferred calls the developer has answered since (approval.py)


@dataclass(frozen=True)
class AgentEvent:
    """One thing the agent did. `kind` is one of: session, text, tool_call, tool_result, result, and
    report (the agent's honest way out, agents/honesty.py)."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


EventSink = Callable[[AgentEvent], None]


class Agent(Protocol):
    """A coding agent. `run` must emit events as they happen: silence is how hangs are caught."""

    name: ClassVar[str]

    def preflight(self) -> None:
        """Raise ConfigError now if the agent cannot start (binary missing...)."""

    async def run(self, request: AgentRequest, emit: EventSink) -> AgentResult: ...


@runtime_checkable
class JudgesCommandsWithAModel(Protocol):
    """An agent whose permission arbiter can ask the supervisor model about commands no rule covers."""

    def use_risk_model(self, llm: LLM) -> None: ...


@runtime_checkable
class StopsForApproval(Protocol):
    """An agent that can hold back a tool call matching a breakpoint `tool:` rule until a developer
    answers it: the run ends with `AgentResult.deferred` set (agents/approval.py)."""

    def stop_before(self, rules: Mapping[str, str]) -> None:
        """rule name -> tool pattern ("Bash(git push*)"); raise ConfigError for a malformed one."""


@runtime_checkable
class Closes(Protocol):
    """An agent that holds something open between runs (a connection): closed when overseer is done."""

    def close(self) -> None: ...


@runtime_checkable
class WorksElsewhere(Protocol):
    """An agent whose workspace is on another machine (claude-ssh): overseer's snapshots, scratch
    copies and gates go to `host` too, at `remote_workspace`; its requests name that path."""

    @property
    def host(self) -> Host: ...

    @property
    def remote_workspace(self) -> PurePath: ...


def site_of(agent: object, workspace: Path) -> Site:
    """Where the agent's workspace files are: its own host, or this machine's `workspace`."""
    if isinstance(agent, WorksElsewhere):
        return Site(agent.host, agent.remote_workspace)
    return Site(LOCAL, workspace)
