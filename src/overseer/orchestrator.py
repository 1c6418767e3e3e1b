"""The loop: for each task, attempt -> evidence -> verdict -> decision, until it is settled.

One attempt: checkpoint the workspace, record the attempt (persist before acting), run the agent
under overseer's own timeouts while the watcher and the event log follow it, checkpoint again,
build the Evidence, judge it, decide. The attempt's outcome is written in a `finally`: whatever
escapes (Ctrl-C, a crash of the agent), the attempt is never left looking like it is running.
Only this loop writes to the store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import anyio

from overseer.agents.base import Agent, AgentEvent, AgentRequest
from overseer.config import Limits
from overseer.domain import AgentResult, AttemptStatus, Decision, Evidence, FileChange, Outcome, TaskStatus, Verdict
from overseer.errors import AgentError
from overseer.schedule import plan
from overseer.state.models import Task
from overseer.state.store import Store
from overseer.supervise.context import workspace_files
from overseer.supervise.decide import DecisionEngine
from overseer.supervise.judge import Judge
from overseer.supervise.prompts import render
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.outside import OutsideWatch
from overseer.workspace.watcher import WatchedChange, WorkspaceWatcher

_SETTLED = {
    Decision.PROCEED: TaskStatus.COMPLETED,
    Decision.CLARIFY: TaskStatus.NEEDS_HUMAN,
    Decision.ESCALATE: TaskStatus.NEEDS_HUMAN,
}


class Reporter(Protocol):
    """Progress for people; the orchestrator never prints."""

    def attempt_started(self, task: Task, number: int) -> None: ...
    def agent_event(self, event: AgentEvent) -> None: ...
    def attempt_judged(self, task: Task, number: int, verdict: Verdict | None, outcome: Outcome | None) -> None: ...


class SilentReporter:
    def attempt_started(self, task: Task, number: int) -> None:
        return None

    def agent_event(self, event: AgentEvent) -> None:
        return None

    def attempt_judged(self, task: Task, number: int, verdict: Verdict | None, outcome: Outcome | None) -> None:
        return None


@dataclass
class _AttemptRecord:
    """What finish_attempt writes; starts pessimistic so an escape is recorded as an interruption."""

    status: AttemptStatus = AttemptStatus.INTERRUPTED
    result: AgentResult | None = None
    error: str = ""
    checkpoint_after: str | None = None
    changes: tuple[FileChange, ...] = ()
    verdict: Verdict | None = None
    outcome: Outcome | None = None
    started: float = field(default_factory=time.perf_counter)


@dataclass
class _Liveness:
    """When the agent was last heard from, and the session it reported."""

    last: float = field(default_factory=time.monotonic)
    session_id: str | None = None


class Orchestrator:
    def __init__(
        self,
        *,
        store: Store,
        project_id: int,
        workspace: Path,
        agent: Agent,
        judge: Judge,
        decider: DecisionEngine,
        limits: Limits,
        reporter: Reporter | None = None,
    ) -> None:
        self.store = store
        self.project_id = project_id
        self.workspace = workspace
        self.agent = agent
        self.judge = judge
        self.decider = decider
        self.limits = limits
        self.reporter = reporter or SilentReporter()
        self.checkpoints = Checkpoints(workspace)

    def run(self, task_ids: Sequence[int] | None = None) -> list[int]:
        """Run pending tasks (all, or those named) in dependency and priority order; return those run."""
        self.store.recover_interrupted(self.project_id)
        tasks = {t.id: t for t in self.store.list_tasks(self.project_id)}
        dependencies = self.store.dependencies(self.project_id)
        wanted = set(task_ids) if task_ids is not None else set(tasks)
        ran: list[int] = []
        completed = {t.id for t in tasks.values() if t.status is TaskStatus.COMPLETED}
        for task_id in plan({t.id: t.priority for t in tasks.values()}, dependencies):
            ready = tasks[task_id].status is TaskStatus.PENDING and dependencies.get(task_id, set()) <= completed
            if task_id not in wanted or not ready:
                continue
            ran.append(task_id)
            if self.run_task(task_id) is TaskStatus.COMPLETED:
                completed.add(task_id)
        return ran

    def run_task(self, task_id: int) -> TaskStatus:
        task = self.store.get_task(task_id)
        prompt = self._first_prompt(task)
        while True:
            number = self._next_number(task_id)
            try:
                outcome = self._attempt(task, number, prompt)
            except AgentError as exc:
                self.store.set_task_status(task_id, TaskStatus.FAILED, brief=str(exc))
                return TaskStatus.FAILED
            task = self.store.get_task(task_id)
            if outcome.decision is Decision.RETRY:
                prompt = render("retry.j2", feedback=outcome.feedback, guidance="")
                continue
            status = _SETTLED[outcome.decision]
            self.store.set_task_status(task_id, status, brief=outcome.brief or None)
            self.store.set_guidance(task_id, None)
            return status

    def _first_prompt(self, task: Task) -> str:
        if task.session_id and task.guidance:  # a human sent it back: continue the same conversation
            return render(
                "retry.j2",
                feedback="The developer reviewed your work and asks for more.",
                guidance=task.guidance,
            )
        return render(
            "task.j2",
            task=task.text,
            workspace=self.workspace,
            files=workspace_files(self.workspace),
            guidance=task.guidance or "",
        )

    def _next_number(self, task_id: int) -> int:
        attempts = self.store.attempts(task_id)
        return attempts[-1].number + 1 if attempts else 1

    def _attempt(self, task: Task, number: int, prompt: str) -> Outcome:
        record = _AttemptRecord()
        before = self.checkpoints.snapshot(f"task {task.id} attempt {number}: before")
        attempt = self.store.start_attempt(task.id, number=number, prompt=prompt, checkpoint_before=before)
        self.judge.prepare(self.workspace, before)
        self.store.set_task_status(task.id, TaskStatus.RUNNING)
        self.reporter.attempt_started(task, number)
        try:
            self._run_and_judge(task, number, attempt.id, prompt, before, record)
        except AgentError as exc:  # the agent could not run at all: the task fails, loudly
            record.status, record.error = AttemptStatus.ERROR, str(exc)
            raise
        except BaseException:
            # Ctrl-C or a crash: the attempt is marked interrupted and the task can run again.
            self.store.set_task_status(task.id, TaskStatus.PENDING)
            raise
        finally:
            self._finish(attempt.id, record)
        self.reporter.attempt_judged(task, number, record.verdict, record.outcome)
        assert record.outcome is not None
        return record.outcome

    def _run_and_judge(
        self, task: Task, number: int, attempt_id: int, prompt: str, before: str, record: _AttemptRecord
    ) -> None:
        request = AgentRequest(prompt=prompt, workspace=self.workspace, session_id=task.session_id)
        watch = self._watch_outside()
        result, timed_out, agent_s = self._run_watched(request, attempt_id)
        outside = watch.changes()
        if result.session_id and result.session_id != task.session_id:
            self.store.set_task_session(task.id, result.session_id)
        record.result = result
        record.checkpoint_after = self.checkpoints.snapshot(f"task {task.id} attempt {number}: after")
        record.changes = self.checkpoints.changes(before, record.checkpoint_after)
        evidence = Evidence(
            task=task.text,
            attempt=number,
            workspace=self.workspace,
            result=result,
            changes=record.changes,
            diff=self.checkpoints.diff(before, record.checkpoint_after),
            timed_out=timed_out,
            checkpoint_before=before,
            checkpoint_after=record.checkpoint_after,
            outside_links=tuple((link.path, link.target) for link in outside.links),
            outside_files=tuple((str(file.path), file.kind) for file in outside.files),
            outside_unchecked=tuple(str(root) for root in outside.truncated),
        )
        record.verdict = self.judge.judge(evidence)
        previous = self.store.last_signature(task.id, since_number=task.budget_start)
        record.outcome = self.decider.decide(record.verdict, number - task.budget_start + 1, previous)
        record.status = AttemptStatus.TIMED_OUT if timed_out else AttemptStatus.FINISHED
        timings = {"agent_s": agent_s, **{f"{k}_s": v for k, v in record.verdict.durations.items()}}
        timings["outside_check_s"] = outside.seconds
        timings["total_s"] = time.perf_counter() - record.started
        self.store.add_event(attempt_id, "timings", {k: round(v, 4) for k, v in timings.items()})

    def _watch_outside(self) -> OutsideWatch:
        """Symlinks out of the workspace always; with Bash unsandboxed, files changed outside it too."""
        home = Path.home()
        own: Callable[[Path], list[Path]] = getattr(self.agent, "own_paths", lambda _home: [])
        sandboxed = bool(getattr(self.agent, "sandboxed", False))
        return OutsideWatch.start(self.workspace, home, ignore=own(home), watch_files=not sandboxed)

    def _run_watched(self, request: AgentRequest, attempt_id: int) -> tuple[AgentResult, str, float]:
        """Run the agent while the watcher follows the workspace; its changes become `file` events."""
        watched: list[WatchedChange] = []
        lock = threading.Lock()

        def on_change(change: WatchedChange) -> None:  # called on the watcher's thread
            with lock:
                watched.append(change)

        started = time.perf_counter()
        with WorkspaceWatcher(self.workspace, on_change):
            result, timed_out = anyio.run(self._run_agent, request, attempt_id)
        agent_s = time.perf_counter() - started
        for change in watched:
            self.store.add_event(attempt_id, "file", {"path": change.path, "kind": change.kind})
        return result, timed_out, agent_s

    async def _run_agent(self, request: AgentRequest, attempt_id: int) -> tuple[AgentResult, str]:
        """Run the agent under the wall-clock and silence limits: (result, "" | "wall" | "silence")."""
        liveness = _Liveness(session_id=request.session_id)

        def emit(event: AgentEvent) -> None:
            liveness.last = time.monotonic()
            if event.kind == "session":
                liveness.session_id = event.data.get("session_id") or liveness.session_id
            self.store.add_event(attempt_id, event.kind, event.data)
            self.reporter.agent_event(event)

        results: list[AgentResult] = []
        timeouts: list[str] = []
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._watch, liveness, group.cancel_scope, timeouts)
                results.append(await self.agent.run(request, emit))
                group.cancel_scope.cancel()
        except BaseExceptionGroup as errors:  # anyio groups what a task raised; callers want the error itself
            raise _first_leaf(errors) from None
        if results:
            return results[0], ""
        return AgentResult(session_id=liveness.session_id, is_error=False, text=""), timeouts[0]

    async def _watch(self, liveness: _Liveness, scope: anyio.CancelScope, timeouts: list[str]) -> None:
        """Cancel the agent when it runs too long or goes silent; cancelling its scope ends the CLI."""
        started = time.monotonic()
        while not timeouts:
            await anyio.sleep(0.1)
            now = time.monotonic()
            if now - started > self.limits.attempt_timeout_s:
                timeouts.append("wall")
            elif now - liveness.last > self.limits.silence_timeout_s:
                timeouts.append("silence")
        scope.cancel()

    def _finish(self, attempt_id: int, record: _AttemptRecord) -> None:
        result = record.result
        self.store.finish_attempt(
            attempt_id,
            status=record.status,
            session_id=result.session_id if result else None,
            result_text=result.text if result else "",
            error=record.error or (result.error if result else ""),
            cost_usd=result.cost_usd if result else None,
            checkpoint_after=record.checkpoint_after,
            changes=record.changes,
            verdict=record.verdict,
            outcome=record.outcome,
        )


def _first_leaf(errors: BaseExceptionGroup[BaseException]) -> BaseException:
    first = errors.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
