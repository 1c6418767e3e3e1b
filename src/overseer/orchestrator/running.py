"""One agent run under overseer's own limits, followed live, and run again when it did not really run.

The agent's events and the watcher's file changes go to the event writer as they happen: the
agent's event loop only queues them, so a slow or locked database never holds the agent up, and a
killed overseer loses at most what was queued in the last moment.

The output monitor (`agents/monitor.py`) reads every event and says what the run's end means.
overseer cancels a run that stalls (past the wall-clock limit, or silent too long; cancelling its
scope ends the CLI) and the attempt is judged as timed out. A rate limit is waited out and the same
request runs again, within the same attempt: a wait never uses up an attempt. A crash (no result, a
dropped connection) runs it again up to `limits.agent_restarts` times, then fails the task loudly.
An auth error stops at once for a human. Each of these is a `monitor` event in the attempt's log.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import anyio

from overseer.agents.base import Agent, AgentEvent, AgentRequest
from overseer.agents.monitor import AUTH_HINT, Backoff, Diagnosis, Monitor, Signal
from overseer.config import Limits
from overseer.domain import AgentResult
from overseer.errors import AgentAuthError, AgentError
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
    restarts: int = 0  # crashed runs started again
    waited_s: float = 0.0  # waiting out rate limits


@dataclass(frozen=True)
class Follow:
    """Where one attempt's events go, and whose they are (for the log)."""

    writer: EventWriter
    attempt_id: int
    task_id: int
    number: int
    reporter: EventReporter

    def tell(self, event: AgentEvent) -> None:
        self.writer.put(self.attempt_id, event.kind, event.data)
        self.reporter.agent_event(event)


def run_agent(
    agent: Agent,
    request: AgentRequest,
    limits: Limits,
    follow: Follow,
    *,
    sleep: Callable[[float], None] = time.sleep,
    watch_files: bool = True,
) -> AgentRun:
    """Run the agent while the watcher follows the workspace (its changes become `file` events), until
    the monitor calls the run complete or stalled; rate limits and crashes run it again. A workspace on
    another machine is not watched (`watch_files=False`): the snapshots after the attempt tell its changes."""

    def on_change(change: WatchedChange) -> None:  # called on the watcher's thread
        follow.writer.put(follow.attempt_id, "file", {"path": change.path, "kind": change.kind})

    started = time.perf_counter()
    backoff = Backoff(limits.rate_limit_backoff_s, limits.rate_limit_backoff_max_s, limits.rate_limit_max_wait_s)
    restarts = 0
    watching = WorkspaceWatcher(Path(request.workspace), on_change) if watch_files else contextlib.nullcontext()
    with watching:
        while True:
            monitor = Monitor(attempt_timeout_s=limits.attempt_timeout_s, silence_timeout_s=limits.silence_timeout_s)
            result, diagnosis = _run_once(agent, request, follow, monitor)
            if result is not None and diagnosis.signal in (Signal.COMPLETED, Signal.STALLED):
                seconds = time.perf_counter() - started
                return AgentRun(result, diagnosis.limit, seconds, restarts, backoff.waited_s)
            # The run goes again; after work done (a link dropped, a crash mid-attempt) in the session
            # it did it in, so it carries on from what it did rather than from the start.
            request = replace(request, session_id=monitor.session_to_resume or request.session_id)
            if diagnosis.signal is Signal.RATE_LIMITED:
                _wait_out(diagnosis, backoff, follow, sleep)
            elif diagnosis.signal is Signal.AUTH:
                follow.tell(diagnosis.event(action="stop for a human"))
                raise AgentAuthError(f"the agent cannot use its model service: {diagnosis.reason}", hint=AUTH_HINT)
            else:
                restarts += 1
                _restart_or_fail(diagnosis, restarts, limits.agent_restarts, follow)


def _run_once(
    agent: Agent, request: AgentRequest, follow: Follow, monitor: Monitor
) -> tuple[AgentResult | None, Diagnosis]:
    try:
        result, stalled = anyio.run(_run_limited, agent, request, follow, monitor)
    except AgentAuthError as exc:  # the agent knew it itself
        return None, Diagnosis(Signal.AUTH, exc.message)
    except AgentError as exc:
        logger.warning("task %s attempt %s: the agent run failed: %s", follow.task_id, follow.number, exc)
        return None, monitor.failure(exc)
    if stalled is not None:
        follow.tell(stalled.event(action="ended the run"))
        return result, stalled
    return result, monitor.outcome(result)


def _wait_out(diagnosis: Diagnosis, backoff: Backoff, follow: Follow, sleep: Callable[[float], None]) -> None:
    wait = backoff.next(diagnosis.wait_s)
    if wait is None:
        follow.tell(diagnosis.event(action="gave up waiting", waited_s=round(backoff.waited_s, 3)))
        raise AgentError(
            f"the agent is still rate-limited after {backoff.waited_s:g} s of waiting: {diagnosis.reason}",
            hint="run it later, or raise limits.rate_limit_max_wait_s",
        )
    follow.tell(diagnosis.event(action="wait", wait_s=round(wait, 3), waited_s=round(backoff.waited_s, 3)))
    logger.warning(
        "task %s attempt %s: rate-limited, waiting %.1f s: %s", follow.task_id, follow.number, wait, diagnosis.reason
    )
    sleep(wait)


def _restart_or_fail(diagnosis: Diagnosis, restarts: int, allowed: int, follow: Follow) -> None:
    if restarts > allowed:
        follow.tell(diagnosis.event(action="gave up", restarts=allowed))
        raise AgentError(
            f"the agent crashed {restarts} times: {diagnosis.reason}",
            hint="see the attempt's monitor events (`overseer show`); limits.agent_restarts sets how often it restarts",
        )
    follow.tell(diagnosis.event(action="restart", restart=restarts, of=allowed))
    logger.warning(
        "task %s attempt %s: the agent crashed, restart %d of %d: %s",
        follow.task_id,
        follow.number,
        restarts,
        allowed,
        diagnosis.reason,
    )


async def _run_limited(
    agent: Agent, request: AgentRequest, follow: Follow, monitor: Monitor
) -> tuple[AgentResult, Diagnosis | None]:
    def emit(event: AgentEvent) -> None:
        monitor.saw(event)
        follow.tell(event)

    results: list[AgentResult] = []
    stalls: list[Diagnosis] = []
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_watch, monitor, group.cancel_scope, stalls)
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
        return results[0], None
    return AgentResult(session_id=monitor.session_id or request.session_id, is_error=False, text=""), stalls[0]


async def _watch(monitor: Monitor, scope: anyio.CancelScope, stalls: list[Diagnosis]) -> None:
    """Cancel the agent when the monitor says it stalled."""
    while not stalls:
        await anyio.sleep(0.1)
        if (stalled := monitor.overdue()) is not None:
            stalls.append(stalled)
    scope.cancel()


def _leaves(errors: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    return [
        leaf
        for error in errors.exceptions
        for leaf in (_leaves(error) if isinstance(error, BaseExceptionGroup) else [error])
    ]


def _first_leaf(errors: BaseExceptionGroup[BaseException]) -> BaseException:
    return _leaves(errors)[0]
