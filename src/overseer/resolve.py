"""A person's answer to a task that waits for them: one function for every place that takes one
(`overseer resolve`, `overseer watch`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from overseer.domain import TaskStatus
from overseer.errors import UsageError

if TYPE_CHECKING:  # the views import this module for `how_to_answer`: SQLAlchemy only when answering
    from overseer.state.store import Store

ACTIONS = ("accept", "retry", "abandon", "allow", "deny")
CALL_ACTIONS = ("allow", "deny")  # answer a tool call a `tool:` breakpoint holds back; the others the rest


def how_to_answer(task_id: int, kind: str) -> str:
    """The command that answers a breakpoint of this kind, as the views show it."""
    ways = '--allow | --deny "REASON"' if kind == "tool" else '--accept | --retry "GUIDANCE" | --abandon'
    return f"overseer resolve {task_id} {ways}"


def answer(store: Store, task_id: int, action: str, note: str = "", *, by: str = "") -> str:
    """Record the answer (it closes the task's open breakpoints) and move the task on; what happened,
    in a few words. `note` is the guidance of a retry, or the reason of a denied tool call."""
    task = store.get_task(task_id)
    if task.status is not TaskStatus.NEEDS_HUMAN:
        raise UsageError(f"task {task_id} is not waiting for a human (it is {task.status.value})")
    if action not in ACTIONS:
        raise UsageError(f"no answer {action!r}: one of {', '.join(ACTIONS)}")
    if action == "retry" and not note.strip():
        raise UsageError("a retry needs guidance for the next attempt")
    if action == "deny" and not note.strip():
        raise UsageError("a denial needs a reason: the agent is told it")
    _check_fits(store, task_id, action)
    store.add_resolution(task_id, action, note, by=by)
    if action in CALL_ACTIONS:  # the session resumes with the answer (orchestrator/loop.py)
        store.reset_budget(task_id)
        store.set_task_status(task_id, TaskStatus.PENDING)
        return f"the call is {'allowed' if action == 'allow' else 'denied'}; `overseer run` continues the task"
    if action == "retry":
        store.set_guidance(task_id, note)
        store.reset_budget(task_id)
        store.set_task_status(task_id, TaskStatus.PENDING)
        return "sent back with your guidance; `overseer run` continues it"
    if action == "accept":
        store.set_task_status(task_id, TaskStatus.COMPLETED)
        return "accepted: completed"
    store.set_task_status(task_id, TaskStatus.ABANDONED)
    return "abandoned"


def _check_fits(store: Store, task_id: int, action: str) -> None:
    point = store.open_breakpoint_of(task_id)
    call = point if point is not None and point.kind == "tool" else None
    if action in CALL_ACTIONS and call is None:
        raise UsageError(
            "the task waits on no tool call: allow and deny answer a `tool:` breakpoint",
            hint='answer it with --accept, --retry "GUIDANCE" or --abandon',
        )
    if call is not None and action not in CALL_ACTIONS:
        raise UsageError(
            f"the task waits on a tool call ({call.reason.removeprefix('the agent wants to run ')})",
            hint='answer it with --allow or --deny "REASON"',
        )
