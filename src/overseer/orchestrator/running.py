"""One agent run under overseer's own limits, followed live.

The agent's events and the watcher's file changes go to the event writer as they happen: the
agent's event loop only queues them, so a slow or locked database never holds the agent up, and a
killed overseer loses at most what was queued in the last moment. Overseer cancels the agent when
it runs past the wall-clock limit or stays silent too long; cancelling its scope ends the CLI.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import anyio

from overseer.agents.base import Agent, AgentEvent, AgentRequest
from overseer.config import Limits
from overseer.domain import AgentResult
from overseer.state.writer import EventWriter
from overseer.workspace.watcher import WatchedChange, WorkspaceWatcher

logger = logging.getLogger(__name__)


class EventReporter(Protocol):
    def agent_event(self, event: AgentEvent) -> None: ...


@dataclass(frozen=True)
class AgentRun:
    result: AgentResult
    timed_out: str  # "" | "wall" | "silence"
    seconds: float


@dataclass
class _Liveness:
    """When the agent was last heard from, and the session it reported."""

    last: float = field(default_factory=time.monotonic)
    session_id: str | None = None


@dataclass(frozen=True)
class Follow:
    """Where one attempt's events go, and whose they are (for the log)."""

    writer: EventWriter
    attempt_id: int
    task_id: int
    number: int
    reporter: EventReporter


def run_agent(agent: Agent, request: AgentRequest, limits: Limits, follow: Follow) -> AgentRun:
    """Run the agent while the watcher follows the workspace; its changes become `file` events."""

    def on_change(change: WatchedChange) -> None:  # called on the watcher's thread
        follow.writer.put(follow.attempt_id, "file", {"path": change.path, "kind": change.kind})

    started = time.perf_counter()
    with WorkspaceWatcher(Path(request.workspace), on_change):
        result, timed_out = anyio.run(_run_limited, agent, request, limits, follow)
    return AgentRun(result, timed_out, time.perf_counter() - started)


async def _run_limited(agent: Agent, request: AgentRequest, limits: Limits, follow: Follow) -> tuple[AgentResult, str]:
    liveness = _Liveness(session_id=request.session_id)

    def emit(event: AgentEvent) -> None:
        liveness.last = time.monotonic()
        if event.kind == "session":
            liveness.session_id = event.data.get("session_id") or liveness.session_id
        follow.writer.put(follow.attempt_id, event.kind, event.data)
        follow.reporter.agent_event(event)

    results: list[AgentResult] = []
    timeouts: list[str] = []
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_watch, limits, liveness, group.cancel_scope, timeouts)
            results.append(await agent.run(request, emit))
            group.cancel_scope.cancel()
    except BaseExceptionGroup as errors:  # anyio groups what a task raised; callers want the error itself
        first = _first_leaf(errors)
        if len(_leaves(errors)) > 1:
            logger.error(
                "task %s attempt %s: the agent run raised %d errors; the first goes on: %r",
                follow.task_id,
                follow.number,
                len(_leaves(errors)),
                first,
                exc_info=errors,
            )
        raise first from None
    if results:
        return results[0], ""
    return AgentResult(session_id=liveness.session_id, is_error=False, text=""), timeouts[0]


async def _watch(limits: Limits, liveness: _Liveness, scope: anyio.CancelScope, timeouts: list[str]) -> None:
    """Cancel the agent when it runs too long or goes silent."""
    started = time.monotonic()
    while not timeouts:
        await anyio.sleep(0.1)
        now = time.monotonic()
        if now - started > limits.attempt_timeout_s:
            timeouts.append("wall")
        elif now - liveness.last > limits.silence_timeout_s:
            timeouts.append("silence")
    scope.cancel()


def _leaves(errors: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    return [
        leaf
        for error in errors.exceptions
        for leaf in (_leaves(error) if isinstance(error, BaseExceptionGroup) else [error])
    ]


def _first_leaf(errors: BaseExceptionGroup[BaseException]) -> BaseException:
    return _leaves(errors)[0]
