"""A task's record read back, for `overseer history`, `export` and `checkpoints`. Read-only.

One query per kind of row, each in the order things happened, so a task with 100k events costs
the same handful of queries as a task with ten: never one query per attempt. Everything here was
redacted by the store on its way in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overseer.errors import UsageError
from overseer.state.models import (
    Attempt,
    DecisionRow,
    Event,
    FileChangeRow,
    FindingRow,
    Resolution,
    Task,
    TaskDependency,
    VerdictRow,
)

_STREAM_ROWS = 1000  # rows fetched at a time when exporting events


@dataclass(frozen=True)
class CheckpointOwner:
    task_id: int
    attempt: int
    role: str  # before | after
    at: datetime  # when the attempt started (before) or ended (after)


def timeline(session: Session, task_id: int) -> list[dict[str, Any]]:
    """The task's attempts in order, each followed by its tool calls, file changes, findings and
    decision, and the human resolutions after the attempt they answered."""
    task = _task(session, task_id)
    attempts = list(session.scalars(select(Attempt).where(Attempt.task_id == task.id).order_by(Attempt.number)))
    number = {attempt.id: attempt.number for attempt in attempts}
    after: dict[int | None, list[dict[str, Any]]] = defaultdict(list)  # attempt id -> what follows it
    for attempt_id, entry in _attempt_entries(session, list(number)):
        after[attempt_id].append({**entry, "attempt": number[attempt_id]})
    for resolution in session.scalars(select(Resolution).where(Resolution.task_id == task.id).order_by(Resolution.id)):
        answered = resolution.attempt_id if resolution.attempt_id in number else None
        after[answered].append({**_resolution(resolution), "attempt": number.get(answered or -1)})
    entries = after.pop(None, [])
    for attempt in attempts:
        entries.append(_attempt(attempt))
        entries.extend(after.pop(attempt.id, []))
    return entries


def task_info(session: Session, task_id: int) -> dict[str, Any]:
    task = _task(session, task_id)
    return {"id": task.id, "text": task.text, "status": task.status.value, "created_at": task.created_at}


def export(session: Session, task_id: int) -> Iterator[dict[str, Any]]:
    """Every row that belongs to the task, whole, each with a `type`: the task (with the ids it
    depends on), then its attempts, events, file changes, findings, verdicts, decisions and
    resolutions. Events are streamed, not loaded at once."""
    task = _row(session.execute(select(Task.__table__).where(Task.id == _task(session, task_id).id)).one())
    depends_on = session.scalars(select(TaskDependency.depends_on_id).where(TaskDependency.task_id == task_id))
    yield {"type": "task", **task, "depends_on": sorted(depends_on)}
    of_task = select(Attempt.__table__).where(Attempt.task_id == task_id).order_by(Attempt.number)
    attempts = [_row(row) for row in session.execute(of_task)]
    yield from ({"type": "attempt", **attempt} for attempt in attempts)
    ids = [attempt["id"] for attempt in attempts]
    kinds: Sequence[tuple[str, Any, Sequence[Any]]] = (
        ("event", Event, (Event.attempt_id, Event.seq)),
        ("file_change", FileChangeRow, (FileChangeRow.attempt_id, FileChangeRow.id)),
        ("finding", FindingRow, (FindingRow.attempt_id, FindingRow.id)),
        ("verdict", VerdictRow, (VerdictRow.attempt_id,)),
        ("decision", DecisionRow, (DecisionRow.attempt_id,)),
    )
    for kind, model, order in kinds:
        query = select(model.__table__).where(model.attempt_id.in_(ids)).order_by(*order)
        for row in session.execute(query.execution_options(yield_per=_STREAM_ROWS)):
            yield {"type": kind, **_row(row)}
    resolutions = select(Resolution.__table__).where(Resolution.task_id == task_id).order_by(Resolution.id)
    for row in session.execute(resolutions):
        yield {"type": "resolution", **_row(row)}


def checkpoint_owners(session: Session, project_id: int) -> dict[str, CheckpointOwner]:
    """Snapshot sha -> the attempt it was taken before or after, for every attempt of the project."""
    query = (
        select(Attempt.task_id, Attempt.number, Attempt.checkpoint_before, Attempt.checkpoint_after)
        .add_columns(Attempt.started_at, Attempt.finished_at)
        .join(Task, Task.id == Attempt.task_id)
        .where(Task.project_id == project_id)
        .order_by(Attempt.id)
    )
    owners: dict[str, CheckpointOwner] = {}
    for task_id, number, before, after, started, finished in session.execute(query):
        owners[before] = CheckpointOwner(task_id, number, "before", started)
        if after:
            owners[after] = CheckpointOwner(task_id, number, "after", finished or started)
    return owners


def _attempt_entries(session: Session, ids: Sequence[int]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(attempt id, entry) for the prompt's author, each tool call, file change, finding and decision,
    kind after kind."""
    prompts = select(Event.attempt_id, Event.data).where(Event.attempt_id.in_(ids), Event.kind == "prompt")
    for attempt_id, data in session.execute(prompts):  # who wrote it; the text is the attempt's
        yield attempt_id, {"type": "prompt", **{key: data.get(key) for key in ("source", "template", "note", "draft")}}
    calls = (
        select(Event.attempt_id, Event.at, Event.data)
        .where(Event.attempt_id.in_(ids), Event.kind == "tool_call")
        .order_by(Event.attempt_id, Event.seq)
    )
    for attempt_id, at, data in session.execute(calls):
        yield attempt_id, _tool_call(at, data)
    changes = select(FileChangeRow).where(FileChangeRow.attempt_id.in_(ids)).order_by(FileChangeRow.id)
    for change in session.scalars(changes):
        yield change.attempt_id, {"type": "file_change", "path": change.path, "kind": change.kind}
    findings = select(FindingRow).where(FindingRow.attempt_id.in_(ids)).order_by(FindingRow.id)
    for finding in session.scalars(findings):
        yield finding.attempt_id, _finding(finding)
    for decision in session.scalars(select(DecisionRow).where(DecisionRow.attempt_id.in_(ids))):
        yield decision.attempt_id, _decision(decision)


def _attempt(attempt: Attempt) -> dict[str, Any]:
    return {
        "type": "attempt",
        "attempt": attempt.number,
        "at": attempt.started_at,
        "status": attempt.status.value,
        "finished_at": attempt.finished_at,
        "error": attempt.error,
        "cost_usd": attempt.cost_usd,
        "checkpoint_before": attempt.checkpoint_before,
        "checkpoint_after": attempt.checkpoint_after,
        "prompt": attempt.prompt,
    }


def _tool_call(at: datetime, data: Mapping[str, Any]) -> dict[str, Any]:
    tool_input = data.get("input") or {}
    target = tool_input.get("file_path") or tool_input.get("command") or tool_input.get("pattern") or ""
    return {
        "type": "tool_call",
        "at": at,
        "tool": data.get("tool", ""),
        "target": str(target),
        "allowed": data.get("allowed", True),
        "category": data.get("category") or "",  # the permission arbiter's class (agents/shell.py)
        "reason": data.get("reason") or "",
    }


def _finding(finding: FindingRow) -> dict[str, Any]:
    return {
        "type": "finding",
        "stage": finding.stage,
        "code": finding.code,
        "severity": finding.severity.value,
        "route": finding.route.value,
        "message": finding.message,
    }


def _decision(decision: DecisionRow) -> dict[str, Any]:
    return {
        "type": "decision",
        "at": decision.at,
        "decision": decision.decision.value,
        "confidence": decision.confidence,
        "feedback": decision.feedback,
        "brief": decision.brief,
    }


def _resolution(resolution: Resolution) -> dict[str, Any]:
    return {
        "type": "resolution",
        "at": resolution.at,
        "action": resolution.action,
        "guidance": resolution.guidance,
    }


def _task(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise UsageError(f"unknown task id {task_id}", hint="see `overseer task list`")
    return task


def _row(row: Any) -> dict[str, Any]:
    """A result row as plain JSON-ready values: datetimes in ISO 8601, enums as their values."""
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in row._mapping.items()}
