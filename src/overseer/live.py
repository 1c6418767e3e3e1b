"""What the live views show (`overseer watch`, `overseer serve`), as plain data read from the store.

One read gives the whole picture: every task with its state, the open breakpoints, and the focused
task's latest attempt: its events as they come, its findings and its diff. The views poll it; the
store is the only source, so a view never disagrees with `overseer status`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from overseer.domain import TaskStatus
from overseer.errors import CheckpointError
from overseer.report import task_summary
from overseer.resolve import how_to_answer
from overseer.state.models import Event
from overseer.state.store import Store
from overseer.text import clip
from overseer.workspace.checkpoints import Checkpoints

EVENTS_SHOWN = 200  # the latest events of the focused attempt
_DIFF_CHARS = 20_000


def snapshot(store: Store, project_id: int, workspace: Path, focus: int | None = None) -> dict[str, Any]:
    """Everything the views show. `focus` picks the task whose attempt is shown; None: the running one,
    else the one waiting for a human, else the newest."""
    tasks = [task_summary(store, task.id) for task in store.list_tasks(project_id)]
    focused = _focus(tasks, focus)
    points = [
        {
            "id": point.id,
            "task_id": point.task_id,
            "rule": point.rule,
            "kind": point.kind,
            "reason": point.reason,
            "answer": how_to_answer(point.task_id, point.kind),
        }
        for point, answer in store.breakpoints(project_id)
        if answer is None
    ]
    return {
        "tasks": [_task_row(task) for task in tasks],
        "breakpoints": points,
        "focus": None if focused is None else _attempt_view(store, workspace, focused),
    }


def _task_row(task: dict[str, Any]) -> dict[str, Any]:
    keys = ("task_id", "text", "status", "attempts", "decision", "confidence", "tags", "error")
    return {key: task[key] for key in keys}


def _focus(tasks: list[dict[str, Any]], wanted: int | None) -> dict[str, Any] | None:
    by_id = {task["task_id"]: task for task in tasks}
    if wanted is not None:
        return by_id.get(wanted)
    for status in (TaskStatus.RUNNING, TaskStatus.NEEDS_HUMAN):
        if found := [task for task in tasks if task["status"] == status.value]:
            return found[-1]
    return tasks[-1] if tasks else None


def _attempt_view(store: Store, workspace: Path, task: dict[str, Any]) -> dict[str, Any]:
    attempts = store.attempts(task["task_id"])
    view: dict[str, Any] = {"task_id": task["task_id"], "text": task["text"], "status": task["status"]}
    if not attempts:
        return view | {"attempt": None, "events": [], "findings": [], "diff": ""}
    attempt = attempts[-1]
    events = store.events(attempt.id)[-EVENTS_SHOWN:]
    return view | {
        "attempt": attempt.number,
        "attempt_status": attempt.status.value,
        "events": [line(event) for event in events],
        "findings": task["findings"],
        "diff": _diff(workspace, attempt.checkpoint_before, attempt.checkpoint_after),
    }


def _diff(workspace: Path, before: str, after: str | None) -> str:
    """The attempt's diff once it is snapshotted; "" while the agent works."""
    return _snapshot_diff(workspace, before, after) if after else ""


@functools.lru_cache(maxsize=32)
def _snapshot_diff(workspace: Path, before: str, after: str) -> str:
    """Two snapshots never change, so neither does their diff: git runs once per pair, not at every
    refresh of a view."""
    try:
        return Checkpoints(workspace).diff(before, after, max_chars=_DIFF_CHARS)
    except CheckpointError:  # a pruned or missing shadow repository: the view goes on without it
        return ""


def line(event: Event) -> str:
    """One event as one short line: `-> Bash pytest -q`, `file textstats.py modified`..."""
    data = event.data
    if event.kind == "tool_call":
        tool_input = data.get("input") or {}
        target = tool_input.get("command") or tool_input.get("file_path") or tool_input.get("url") or ""
        refused = "" if data.get("allowed", True) else f"  [refused: {data.get('reason', '')}]"
        return clip(f"-> {data.get('tool', '')} {target}{refused}", 300)
    if event.kind == "file":
        return f"file {data.get('path', '')} {data.get('kind', '')}"
    if event.kind == "text":
        return clip(f"says: {data.get('text', '')}", 300)
    if event.kind == "result":
        return clip(f"result: {data.get('text', '')}", 300)
    if event.kind == "prompt":
        return f"prompt: {data.get('template') or data.get('source', '')}"
    if event.kind == "timings":
        return f"judged: {data.get('total_s', 0):.1f} s in all, the agent {data.get('agent_s', 0):.1f} s"
    if event.kind == "tool_result":
        return clip(f"<- {'error: ' if data.get('is_error') else ''}{data.get('content', '')}", 200)
    return clip(f"{event.kind}: {', '.join(f'{k}={v}' for k, v in data.items())}", 200)
