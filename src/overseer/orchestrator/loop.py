"""The loop: for each task, attempt -> evidence -> verdict -> decision, until it is settled.

A run first recovers what a stopped runner left behind (`recovery.py`), then takes ready tasks one
by one: each is claimed atomically in the store, so of two runners on one store only one runs it,
and its lease is renewed while this runner works (`lease.py`).

One attempt: checkpoint the workspace, record the attempt (persist before acting), run the agent
under overseer's own timeouts while the watcher and the event writer follow it live, checkpoint
again, build the Evidence, judge it, decide. A run that stopped before a tool call a breakpoint rule
holds back is not judged: the task waits for the developer's answer, and the next run resumes the
session with it (agents/approval.py). Whatever escapes an attempt (Ctrl-C, a crash) closes
it as recovery would: it is recorded as interrupted with what it changed, the workspace is put
back, and the task can run again. Only this loop writes outcomes to the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from overseer import log
from overseer.agents.approval import AnsweredCall, described
from overseer.agents.base import Agent, AgentEvent, AgentRequest, Closes
from overseer.config import Limits, NotifyConfig
from overseer.domain import (
    AgentResult,
    AttemptStatus,
    Decision,
    Evidence,
    FileChange,
    Outcome,
    Route,
    TaskStatus,
    Verdict,
)
from overseer.errors import AgentAuthError, AgentError
from overseer.orchestrator.holds import Holds
from overseer.orchestrator.lease import Heartbeat, RunnerId, WorkspaceLock, lease_until
from overseer.orchestrator.notify import HumanNeeded, Notifier
from overseer.orchestrator.recovery import RECOVERED, SETTLED, Recovery
from overseer.orchestrator.running import Follow, run_agent
from overseer.schedule import plan
from overseer.state.models import Task
from overseer.state.store import Store
from overseer.state.writer import EventWriter
from overseer.supervise.breakpoints import Breakpoints, Fired, Situation
from overseer.supervise.decide import DecisionEngine
from overseer.supervise.draft import Prompt, PromptWriter
from overseer.supervise.judge import Judge
from overseer.supervise.scope import diff_stats
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.files import STATE_DIR
from overseer.workspace.host import Site
from overseer.workspace.local_host import LOCAL, is_local
from overseer.workspace.outside import OutsideChanges, OutsideWatch

logger = logging.getLogger(__name__)

_RESTORED_NOTE = (
    "overseer was stopped during your last attempt and put the workspace back as it was before that "
    "attempt: the changes you made in it are gone."
)
_KEPT_NOTE = "overseer was stopped during your last attempt; the files are as you left them, unchecked."
_CARRY_ON = "Carry on with the task."
_NOT_ACCEPTED = "Your previous attempt at this task was not accepted. What overseer found:"


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
    """What finish_attempt writes for an attempt that was judged, or that the agent could not run."""

    status: AttemptStatus = AttemptStatus.ERROR
    result: AgentResult | None = None
    error: str = ""
    checkpoint_after: str | None = None
    changes: tuple[FileChange, ...] = ()
    verdict: Verdict | None = None
    outcome: Outcome | None = None
    fired: Fired | None = None  # the breakpoint rule that stopped the attempt
    started: float = field(default_factory=time.perf_counter)


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
        keep_interrupted: bool = False,
        holds: Holds | None = None,
        runner: RunnerId | None = None,
        prompts: PromptWriter | None = None,
        breakpoints: Breakpoints | None = None,
        notifier: Notifier | None = None,
        site: Site | None = None,
    ) -> None:
        self.store = store
        self.project_id = project_id
        self.workspace = workspace  # overseer's state is here, always on this machine
        self.site = site or Site(LOCAL, workspace)  # the agent's files: here too, or on another machine
        self.agent = agent
        self.judge = judge
        self.decider = decider
        self.limits = limits
        self.reporter = reporter or SilentReporter()
        self.holds = holds or Holds()
        self.prompts = prompts or PromptWriter(workspace)
        self.breakpoints = breakpoints or Breakpoints({})
        self.notifier = notifier or Notifier(NotifyConfig(bell=False))
        self.owner = str(runner or RunnerId.current())
        self.checkpoints = Checkpoints(self.site.path, host=self.site.host)
        self.recovery = Recovery(store, self.checkpoints, self.owner, restore=not keep_interrupted)
        self.lock = WorkspaceLock(workspace / STATE_DIR / "run.lock")
        self.halted = ""  # why this run took no more tasks: the agent cannot log in, so every task would fail

    def close(self) -> None:
        """Let go of what the agent holds open (a remote agent's connection)."""
        if isinstance(self.agent, Closes):
            self.agent.close()

    def run(self, task_ids: Sequence[int] | None = None) -> list[int]:
        """Recover orphaned tasks, then run pending ones (all, or those named, plus the recovered) in
        dependency and priority order, each until it is settled; return those this runner ran."""
        recovered = self.recovery.recover(self.project_id, self.lock)
        wanted = None if task_ids is None else {*task_ids, *recovered}
        ran: list[int] = []
        seen: set[int] = set()
        while (task_id := self._next_ready(wanted, skip=seen)) is not None:
            seen.add(task_id)
            if not self.store.claim_task(task_id, self.owner, until=lease_until()):
                continue  # another runner claimed it first
            ran.append(task_id)
            with Heartbeat(self.store, task_id, self.owner), self.lock:
                try:
                    self._run_claimed(task_id)
                except BaseException:
                    self._close_interrupted(task_id)
                    raise
            if self.halted:
                break
        return ran

    def _next_ready(self, wanted: set[int] | None, skip: set[int]) -> int | None:
        """The first task in plan order that is pending, wanted, and whose dependencies completed.

        Read afresh each time: another runner may have claimed or completed tasks meanwhile."""
        tasks = {t.id: t for t in self.store.list_tasks(self.project_id)}
        dependencies = self.store.dependencies(self.project_id)
        completed = {t.id for t in tasks.values() if t.status is TaskStatus.COMPLETED}
        for task_id in plan({t.id: t.priority for t in tasks.values()}, dependencies):
            pending = tasks[task_id].status is TaskStatus.PENDING and task_id not in skip
            if pending and (wanted is None or task_id in wanted) and dependencies.get(task_id, set()) <= completed:
                return task_id
        return None

    def _run_claimed(self, task_id: int) -> TaskStatus:
        task = self.store.get_task(task_id)
        answered = self._answered(task)
        prompt = self._first_prompt(task, answered)
        while True:
            number = self._next_number(task_id)
            try:
                outcome = self._attempt(task, number, prompt, answered)
            except AgentAuthError as exc:  # a human must log the agent in: stop here, retry nothing
                self.halted = str(exc)
                self.store.release_task(task_id, self.owner, TaskStatus.NEEDS_HUMAN, brief=str(exc))
                self._tell(task, str(exc))
                return TaskStatus.NEEDS_HUMAN
            except AgentError as exc:
                self.store.release_task(task_id, self.owner, TaskStatus.FAILED, brief=str(exc))
                return TaskStatus.FAILED
            task, answered = self.store.get_task(task_id), ()
            if outcome.decision is Decision.RETRY:
                self.holds.reach("next_attempt")
                prompt = self._retry_prompt(task, outcome.feedback)
                continue
            status = SETTLED[outcome.decision]
            self.store.release_task(task_id, self.owner, status, brief=outcome.brief or None)
            if status is TaskStatus.NEEDS_HUMAN:
                self._tell(task, outcome.brief)
            return status

    def _tell(self, task: Task, brief: str) -> None:
        """Notify the user that the task waits for them (notify.py), with the rule when one stopped it."""
        point = self.store.open_breakpoint_of(task.id)
        rule = point.rule if point is not None else ""
        self.notifier.human_needed(HumanNeeded(task.id, task.text, brief, str(self.workspace), rule))

    def _answered(self, task: Task) -> tuple[AnsweredCall, ...]:
        """The deferred call of the task's last attempt, once the developer has answered it."""
        attempts = self.store.attempts(task.id)
        if not attempts:
            return ()
        for point, answer in self.store.breakpoints(self.project_id):
            waited = point.task_id == task.id and point.kind == "tool" and point.attempt_id == attempts[-1].id
            if waited and answer is not None and answer.action in ("allow", "deny"):
                call = point.detail
                allowed = answer.action == "allow"
                return (AnsweredCall(call["tool"], call["input"], allowed, answer.guidance, breakpoint=point.id),)
        return ()

    def _first_prompt(self, task: Task, answered: Sequence[AnsweredCall] = ()) -> Prompt:
        """A new conversation gets the whole task; a continued one what it has not heard yet: that
        overseer was stopped, the developer's answer about a call, the retry feedback still pending,
        or that a human asks for more."""
        if task.session_id and self._has_sessions:
            stopped = self._interruption_note(task.id)
            if answered:
                feedback = answered[0].note
            elif task.pending_feedback:
                feedback = task.pending_feedback
            elif task.guidance:
                feedback = "The developer reviewed your work and asks for more."
            else:
                feedback = _CARRY_ON if stopped else ""
            if feedback:
                text = "\n\n".join(part for part in (stopped, feedback) if part)
                return self._retry_prompt(task, text, guidance=task.guidance or "")
        if task.pending_feedback and not self._has_sessions:
            return self._retry_prompt(task, task.pending_feedback, guidance=task.guidance or "")
        return self.prompts.first(task.text, guidance=task.guidance or "", history=self._history(task.id))

    @property
    def _has_sessions(self) -> bool:
        """Whether the agent continues a conversation (a retry then says only what is new to it)."""
        return bool(getattr(self.agent, "has_sessions", True))

    def _retry_prompt(self, task: Task, feedback: str, guidance: str = "") -> Prompt:
        if not self._has_sessions:  # it remembers nothing: the whole task again, then what was wrong
            first = self.prompts.first(task.text, guidance=guidance, history=self._history(task.id))
            return replace(first, text=f"{first.text}\n\n{_NOT_ACCEPTED}\n\n{feedback.strip()}")
        last = self.store.attempts(task.id)[-1] if self.prompts.drafting else None
        after = last.checkpoint_after if last else None
        diff = self.checkpoints.diff(last.checkpoint_before, after) if last and after else ""
        history = self._history(task.id)
        return self.prompts.retry(task.text, feedback, guidance=guidance, diff=diff, history=history)

    def _criteria(self, task_id: int) -> tuple[str, ...]:
        """The acceptance criteria the latest brief of this task stated (its first attempt's, as a rule)."""
        if not self.prompts.drafting:
            return ()
        for attempt in reversed(self.store.attempts(task_id)):
            event = self.store.first_event(attempt.id, "prompt")
            criteria = (event.data.get("draft") or {}).get("criteria") if event else None
            if criteria:
                return tuple(str(criterion) for criterion in criteria)
        return ()

    def _history(self, task_id: int) -> list[list[str]]:
        """What went wrong in each earlier attempt, in the agent's terms; read only when the supervisor drafts."""
        if not self.prompts.drafting:
            return []
        attempts = self.store.attempts(task_id)
        return [[f.message for f in self.store.findings(a.id) if f.route is Route.AGENT] for a in attempts]

    def _interruption_note(self, task_id: int) -> str:
        attempts = self.store.attempts(task_id)
        if not attempts or attempts[-1].status is not AttemptStatus.INTERRUPTED:
            return ""
        event = self.store.first_event(attempts[-1].id, RECOVERED)  # none: an overseer older than recovery
        return _RESTORED_NOTE if event is not None and event.data.get("restored") else _KEPT_NOTE

    def _next_number(self, task_id: int) -> int:
        attempts = self.store.attempts(task_id)
        return attempts[-1].number + 1 if attempts else 1

    def _attempt(self, task: Task, number: int, prompt: Prompt, answered: Sequence[AnsweredCall] = ()) -> Outcome:
        with log.context(task=task.id, attempt=number):  # every record logged inside says whose it is
            return self._tagged_attempt(task, number, prompt, answered)

    def _tagged_attempt(self, task: Task, number: int, prompt: Prompt, answered: Sequence[AnsweredCall]) -> Outcome:
        record = _AttemptRecord()
        before = self.checkpoints.snapshot(f"task {task.id} attempt {number}: before")
        # After a held call the attempt that stopped there was not judged: this one is judged with its work.
        held = self.store.attempts(task.id)[-1].checkpoint_before if answered else None
        since = held or before
        attempt = self.store.start_attempt(task.id, number=number, prompt=prompt.text, checkpoint_before=before)
        self.store.add_event(attempt.id, "prompt", prompt.record())
        self.judge.prepare(self._files, since, host=self.site.host)
        self.reporter.attempt_started(task, number)
        try:
            self.holds.reach("agent")
            with EventWriter(self.store) as writer:
                follow = Follow(writer, attempt.id, task.id, number, self.reporter)
                self._run_and_judge(task, number, prompt.text, since, record, follow, answered)
        except AgentError as exc:  # the agent could not run at all: the task fails, loudly
            record.error = str(exc)
            self._finish(attempt.id, record)
            raise
        self._finish(attempt.id, record)
        if (fired := record.fired) is not None:
            deferred = record.result.deferred if record.result is not None else None
            kind, detail = ("tool", deferred.detail()) if deferred is not None else ("attempt", {})
            self.store.open_breakpoint(
                task.id, attempt.id, rule=fired.rule, kind=kind, reason=fired.reason, detail=detail
            )
        self.reporter.attempt_judged(task, number, record.verdict, record.outcome)
        assert record.outcome is not None
        return record.outcome

    def _close_interrupted(self, task_id: int) -> None:
        """Ctrl-C or a crash: close the task as recovery would; if that fails too, the next run does it."""
        try:
            self.recovery.close(task_id)
        except BaseException:
            logger.exception("task %s: closing the interrupted attempt failed; the next run will", task_id)

    def _run_and_judge(
        self,
        task: Task,
        number: int,
        prompt: str,
        before: str,
        record: _AttemptRecord,
        follow: Follow,
        answered: Sequence[AnsweredCall] = (),
    ) -> None:
        session = task.session_id if self._has_sessions else None
        request = AgentRequest(prompt=prompt, workspace=self._files, session_id=session, answered=tuple(answered))
        watch = self._watch_outside()
        ran = run_agent(self.agent, request, self.limits, follow, watch_files=is_local(self.site.host))
        outside = watch.changes() if watch is not None else OutsideChanges((), (), (), 0.0)
        result = ran.result
        if result.session_id and result.session_id != task.session_id:
            self.store.set_task_session(task.id, result.session_id)
        record.result = result
        record.checkpoint_after = self.checkpoints.snapshot(f"task {task.id} attempt {number}: after")
        record.changes = self.checkpoints.changes(before, record.checkpoint_after)
        if (deferred := result.deferred) is not None:  # a call waits for the developer: nothing to judge yet
            record.fired = Fired(deferred.rule, f"the agent wants to run {described(deferred.tool, deferred.input)}")
            record.outcome, record.status = record.fired.outcome(), AttemptStatus.FINISHED
            return
        evidence = Evidence(
            task=task.text,
            attempt=number,
            workspace=self._files,
            result=result,
            changes=record.changes,
            diff=self.checkpoints.diff(before, record.checkpoint_after),
            timed_out=ran.timed_out,
            checkpoint_before=before,
            checkpoint_after=record.checkpoint_after,
            task_checkpoint=self.store.attempts(task.id)[0].checkpoint_before,
            criteria=self._criteria(task.id),  # this one is stored already
            outside_links=tuple((link.path, link.target) for link in outside.links),
            outside_files=tuple((str(file.path), file.kind) for file in outside.files),
            outside_unchecked=tuple(str(root) for root in outside.truncated),
        )
        record.verdict = self.judge.judge(evidence, host=self.site.host)
        previous = self.store.last_signature(task.id, since_number=task.budget_start)
        record.outcome = self.decider.decide(record.verdict, number - task.budget_start + 1, previous)
        record.fired = self.breakpoints.check(record.outcome, record.verdict, self._situation(task, evidence, record))
        if record.fired is not None:  # a rule of the user's: a person looks first
            record.outcome = record.fired.outcome()
        record.status = AttemptStatus.TIMED_OUT if ran.timed_out else AttemptStatus.FINISHED
        follow.writer.flush()  # the writer's own cost below covers every event of the attempt
        timings = {"agent_s": ran.seconds, **{f"{k}_s": v for k, v in record.verdict.durations.items()}}
        timings["outside_check_s"] = outside.seconds
        timings["event_writer_s"] = follow.writer.busy_s
        timings["rate_limit_wait_s"] = ran.waited_s
        timings["total_s"] = time.perf_counter() - record.started
        data: dict[str, float | int] = {k: round(v, 4) for k, v in timings.items()}
        data["events"] = follow.writer.written
        data["agent_restarts"] = ran.restarts
        follow.writer.put(follow.attempt_id, "timings", dict(data))

    def _situation(self, task: Task, evidence: Evidence, record: _AttemptRecord) -> Situation:
        """What the breakpoint rules look at: this attempt, and what the task has spent with it."""
        earlier = [a for a in self.store.attempts(task.id) if a.number < evidence.attempt]
        spent = sum((a.finished_at - a.started_at).total_seconds() for a in earlier if a.finished_at is not None)
        cost = record.result.cost_usd if record.result is not None else None
        return Situation(
            attempt=evidence.attempt,
            tags=frozenset(task.tags),
            changed=tuple(change.path for change in evidence.changes),
            diff_lines=sum((stat.added or 0) + (stat.removed or 0) for stat in diff_stats(evidence, self.checkpoints)),
            spent_s=spent + time.perf_counter() - record.started,
            costs=(*(a.cost_usd for a in earlier), cost),
        )

    @property
    def _files(self) -> Path:
        """The workspace as the agent and the judge name it: this directory, or the path on its host."""
        return Path(self.site.path)

    def _watch_outside(self) -> OutsideWatch | None:
        """Symlinks out of the workspace always; with Bash unsandboxed, files changed outside it too.
        None for a workspace on another machine: its own containment is the agent's (docs/agents)."""
        if not is_local(self.site.host):
            return None
        home = Path.home()
        own: Callable[[Path], list[Path]] = getattr(self.agent, "own_paths", lambda _home: [])
        sandboxed = bool(getattr(self.agent, "sandboxed", False))
        return OutsideWatch.start(self.workspace, home, ignore=own(home), watch_files=not sandboxed)

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
