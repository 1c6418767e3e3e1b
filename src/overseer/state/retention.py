"""What `overseer gc` may take out of the database, so a long-lived workspace stops growing.

Events (the agent's transcript: every tool call, result and message) are nearly all of the
database; they go once they are older than the cutoff. Attempts, file changes, findings, verdicts,
decisions and resolutions stay: they are the task's history, and small.

Nothing of an unfinished task (pending, running, waiting for a human) is ever pruned, whatever
its age: a retry continues from it, a recovery restores its checkpoint, a human may roll it back.
`needed_checkpoints` names the snapshots that rule keeps for the shadow repository's side.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from overseer.domain import TaskStatus
from overseer.state.models import Attempt, Event, Task

UNFINISHED = (TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.NEEDS_HUMAN)


def needed_checkpoints(session: Session, project_id: int) -> set[str]:
    """The checkpoints, before and after, of every attempt of the project's unfinished tasks."""
    query = (
        select(Attempt.checkpoint_before, Attempt.checkpoint_after)
        .join(Task, Task.id == Attempt.task_id)
        .where(Task.project_id == project_id, Task.status.in_(UNFINISHED))
    )
    return {sha for pair in session.execute(query) for sha in pair if sha}


def prune_events(session: Session, project_id: int, *, older_than: datetime, dry_run: bool = False) -> int:
    """Delete the events recorded before `older_than` of the project's finished tasks; how many
    were (with `dry_run`: would be) deleted."""
    finished = (
        select(Attempt.id)
        .join(Task, Task.id == Attempt.task_id)
        .where(Task.project_id == project_id, Task.status.not_in(UNFINISHED))
    )
    old = (Event.attempt_id.in_(finished), Event.at < older_than)
    if dry_run:
        return session.scalar(select(func.count()).select_from(Event).where(*old)) or 0
    # A Connection gives the DBAPI's rowcount, which the ORM Session's result type does not expose.
    return session.connection().execute(delete(Event).where(*old)).rowcount
