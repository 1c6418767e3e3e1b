"""Recovery: what a stopped runner left half done is closed, recorded and put back.

A task is orphaned when it is marked running and its runner is gone: its lease expired, or its
owner ran on this machine and its process is dead. Any runner may recover it, after taking the
lease over (compare and set: a live runner that renews in between keeps its task). The runner
that was stopped by Ctrl-C or a crash closes its own task the same way before it exits.

Closing a task, under the workspace lock:
1. each attempt still marked running gets an after-snapshot; the files it changed and the agent's
   session (from its event log) are recorded, and it is marked interrupted;
2. the workspace goes back to that attempt's checkpoint, checked by hash (or keeps the changes,
   as configured); a `recovered` event on the attempt says which;
3. the task goes back to pending with its pending feedback, or, when its last attempt was already
   decided, to where that decision sends it.
Every step can be repeated, so a runner killed while recovering is recovered in its turn.
"""

from __future__ import annotations

import logging

from overseer.domain import AttemptStatus, Decision, TaskStatus
from overseer.orchestrator.lease import Heartbeat, WorkspaceLock, lease_until, owner_gone
from overseer.state.models import Attempt, Task, utcnow
from overseer.state.store import INTERRUPTED_NOTE, Store
from overseer.workspace.checkpoints import Checkpoints

logger = logging.getLogger(__name__)

SETTLED = {
    Decision.PROCEED: TaskStatus.COMPLETED,
    Decision.CLARIFY: TaskStatus.NEEDS_HUMAN,
    Decision.ESCALATE: TaskStatus.NEEDS_HUMAN,
}
RECOVERED = "recovered"  # the event kind that marks an interrupted attempt as dealt with


class Recovery:
    def __init__(self, store: Store, checkpoints: Checkpoints, owner: str, *, restore: bool) -> None:
        self.store = store
        self.checkpoints = checkpoints
        self.owner = owner
        self.restore = restore  # False: an interrupted attempt's changes stay in the workspace

    def recover(self, project_id: int, lock: WorkspaceLock) -> list[int]:
        """Take over and close every orphaned task of the project; return their ids."""
        recovered: list[int] = []
        for task in self.orphans(project_id):
            if not self.store.take_over(task, self.owner, until=lease_until()):
                continue  # its runner renewed the lease, or another runner is recovering it
            logger.warning("task %s: its runner (%s) stopped; recovering the task", task.id, task.lease_owner or "none")
            with Heartbeat(self.store, task.id, self.owner), lock:
                self.close(task.id)
            recovered.append(task.id)
        return recovered

    def orphans(self, project_id: int) -> list[Task]:
        now = utcnow()
        return [
            task
            for task in self.store.running_tasks(project_id)
            if task.lease_expires_at is None or task.lease_expires_at < now or owner_gone(task.lease_owner)
        ]

    def close(self, task_id: int) -> None:
        """Steps 1 to 3 for a task this runner holds (its own, or one it took over)."""
        attempts = self.store.attempts(task_id)
        for attempt in attempts:
            if attempt.status is AttemptStatus.RUNNING:
                self._interrupt(task_id, attempt)
        last = self.store.attempts(task_id)[-1] if attempts else None
        if last is not None and last.status is AttemptStatus.INTERRUPTED:
            if last.session_id:  # the next attempt continues the conversation
                self.store.set_task_session(task_id, last.session_id)
            self._put_back(last)
        status, brief = self._next_status(last)
        self.store.release_task(task_id, self.owner, status, brief=brief)

    def _interrupt(self, task_id: int, attempt: Attempt) -> None:
        after = self.checkpoints.snapshot(f"task {task_id} attempt {attempt.number}: after (interrupted)")
        session = attempt.session_id or _session(self.store, attempt.id)
        self.store.finish_attempt(
            attempt.id,
            status=AttemptStatus.INTERRUPTED,
            session_id=session,
            result_text="",
            error=INTERRUPTED_NOTE,
            cost_usd=None,
            checkpoint_after=after,
            changes=self.checkpoints.changes(attempt.checkpoint_before, after),
            verdict=None,
            outcome=None,
        )

    def _put_back(self, attempt: Attempt) -> None:
        if self.store.first_event(attempt.id, RECOVERED) is not None:
            return  # done before this runner's turn
        if self.restore:
            self.checkpoints.restore(attempt.checkpoint_before)
        data = {"by": self.owner, "restored": self.restore, "checkpoint": attempt.checkpoint_before}
        self.store.add_event(attempt.id, RECOVERED, data)
        logger.info(
            "task %s attempt %s: interrupted; workspace %s",
            attempt.task_id,
            attempt.number,
            f"restored to {attempt.checkpoint_before}" if self.restore else "left as the attempt left it",
        )

    def _next_status(self, last: Attempt | None) -> tuple[TaskStatus, str | None]:
        if last is None:
            return TaskStatus.PENDING, None
        if last.status is AttemptStatus.ERROR:  # the agent could not run: the task had failed
            return TaskStatus.FAILED, last.error or None
        decision = self.store.decision(last.id)
        if decision is not None and decision.decision in SETTLED:  # decided, then stopped before settling
            return SETTLED[decision.decision], decision.brief or None
        return TaskStatus.PENDING, None


def _session(store: Store, attempt_id: int) -> str | None:
    event = store.first_event(attempt_id, "session")
    session = None if event is None else event.data.get("session_id")
    return session if isinstance(session, str) and session else None
