"""`overseer checkpoints`, `rollback` and `gc`: the workspace's snapshots, going back to one, pruning."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from overseer.cli.common import JsonOption, WorkspaceOption, open_ws, print_json, stdout
from overseer.domain import TaskStatus
from overseer.errors import UsageError

if TYPE_CHECKING:
    from overseer.runtime import Workspace
    from overseer.state.history import CheckpointOwner
    from overseer.workspace.checkpoints import Checkpoints, Snapshot

logger = logging.getLogger(__name__)
_TASK_IN_MESSAGE = re.compile(r"^task (\d+)\b")  # "task 3 attempt 2: before", "task 3: before restoring ..."


@contextmanager
def _shadow(ws: Workspace) -> Iterator[Checkpoints]:
    """The workspace's shadow repository, where its files are: here, or on its agent's host."""
    from overseer.plugins import Registry
    from overseer.runtime import workspace_site
    from overseer.workspace.checkpoints import Checkpoints

    with workspace_site(ws, Registry.from_entry_points()) as site:
        yield Checkpoints(site.path, host=site.host)


def checkpoints(
    task_id: int | None = typer.Argument(None, help="One task's checkpoints (default: all of them)."),
    workspace: Path = WorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """List the workspace's snapshots, newest first: before and after each attempt, and before each rollback.

    With a task, its checkpoints that `overseer gc` pruned are listed too, marked as pruned.
    """
    from overseer.state.history import checkpoint_owners, task_info

    with open_ws(workspace) as ws, _shadow(ws) as shadow:
        snapshots = shadow.snapshots()
        with ws.store.reading() as session:
            if task_id is not None:
                task_info(session, task_id)  # an unknown task id is an error, not an empty list
            owners = checkpoint_owners(session, ws.project_id)
    rows = checkpoint_rows(snapshots, owners, task_id)
    if json_output:
        print_json({"checkpoints": rows})
    elif rows:
        stdout().print(_table(rows))
    else:
        stdout().print("no checkpoints yet: `overseer run` takes one before and after every attempt")


def rollback(
    checkpoint_id: str = typer.Argument(..., help="A checkpoint id from `overseer checkpoints` (4+ hex digits)."),
    workspace: Path = WorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """Put the workspace back exactly as it was at a checkpoint (hash-checked), and record it.

    Files created since are removed, deleted ones come back, edits made by shell commands are
    undone. Files your .gitignore ignores are left alone, as are .git and .overseer. The state it
    replaces is snapshotted first, so a rollback can itself be rolled back.
    """
    from overseer.state.history import checkpoint_owners

    with open_ws(workspace) as ws, _shadow(ws) as shadow:
        target = shadow.find(checkpoint_id)
        running = [task.id for task in ws.store.list_tasks(ws.project_id) if task.status is TaskStatus.RUNNING]
        if running:
            raise UsageError(
                f"task {running[0]} is running; roll back once it has stopped",
                hint="the next `overseer run` recovers a task whose overseer was killed",
            )
        with ws.store.reading() as session:
            owner = checkpoint_owners(session, ws.project_id).get(target.sha)
        task_id = owner.task_id if owner else _task_in(target.message)
        saved = shadow.restore(target.sha, label="" if task_id is None else f"task {task_id}")
        what = f"checkpoint {target.sha}" + (f" ({owner.role} attempt {owner.attempt})" if owner else "")
        note = f"rolled back to {what}; the state it replaced is checkpoint {saved}"
        if task_id is not None:
            ws.store.add_resolution(task_id, "rollback", note)
        logger.info("%s (task %s)", note, task_id)
    if json_output:
        print_json({"restored": target.sha, "saved": saved, "task_id": task_id, "recorded": task_id is not None})
    else:
        stdout().print(
            f"restored the workspace to checkpoint {target.sha[:12]}; the state it replaced is "
            f"checkpoint {saved[:12]} (`overseer rollback {saved[:12]}` goes back to it)"
        )


def gc(
    keep_days: float | None = typer.Option(
        None, "--keep-days", min=0, help="Keep what is younger than this many days (default: retention.keep_days)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be pruned; change nothing."),
    workspace: Path = WorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """Prune old events and checkpoints, so a long-lived workspace does not grow without bound.

    Nothing of an unfinished task (pending, running, waiting for a human) is pruned, whatever its
    age; nor the newest checkpoint. Attempts, findings, decisions and file changes are kept.
    """
    from overseer.state.retention import needed_checkpoints, prune_events
    from overseer.workspace.checkpoints import prunable

    with open_ws(workspace) as ws, _shadow(ws) as shadow:
        days = ws.config.retention.keep_days if keep_days is None else keep_days
        cutoff = datetime.now(UTC) - timedelta(days=days)
        # Listed before the database is read: a snapshot whose attempt is not recorded yet is then
        # the newest one, which stays; one taken after the listing is not in it.
        snapshots = shadow.snapshots()
        with ws.store.reading() as session:
            keep = needed_checkpoints(session, ws.project_id)
        doomed = prunable(snapshots, older_than=cutoff, keep=keep)
        with ws.store.reading() if dry_run else ws.store.writing() as session:
            events = prune_events(session, ws.project_id, older_than=cutoff, dry_run=dry_run)
        if not dry_run:
            shadow.prune(doomed)
            logger.info("gc: pruned %d events and %d checkpoints older than %s", events, len(doomed), cutoff)
    report = {
        "dry_run": dry_run,
        "keep_days": days,
        "older_than": cutoff,
        "events": events,
        "checkpoints": [snap.sha for snap in doomed],
    }
    if json_output:
        print_json(report)
    else:
        verb = "would prune" if dry_run else "pruned"
        stdout().print(f"{verb} {events} events and {len(doomed)} checkpoints older than {days:g} days")


def checkpoint_rows(
    snapshots: Sequence[Snapshot], owners: Mapping[str, CheckpointOwner], task_id: int | None
) -> list[dict[str, Any]]:
    """What `overseer checkpoints` shows, newest first; a task's pruned checkpoints come from its attempts."""
    rows = [_row(snap.sha, snap.at, snap.message, owners.get(snap.sha), pruned=False) for snap in snapshots]
    if task_id is None:
        return rows
    present = {snap.sha for snap in snapshots}
    gone = [_row(sha, owner.at, "", owner, pruned=True) for sha, owner in owners.items() if sha not in present]
    mine = [row for row in rows + gone if row["task_id"] == task_id]
    return sorted(mine, key=lambda row: row["at"], reverse=True)


def _row(sha: str, at: datetime, message: str, owner: CheckpointOwner | None, *, pruned: bool) -> dict[str, Any]:
    return {
        "id": sha,
        "at": at,
        "task_id": owner.task_id if owner else _task_in(message),
        "attempt": owner.attempt if owner else None,
        "role": owner.role if owner else None,  # before | after | None (taken before a rollback)
        "message": message,
        "pruned": pruned,
    }


def _task_in(message: str) -> int | None:
    match = _TASK_IN_MESSAGE.match(message)
    return int(match[1]) if match else None


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE)
    for column in ("checkpoint", "taken (UTC)", "task", "what"):
        table.add_column(column)
    for row in rows:
        what = f"{row['role']} attempt {row['attempt']}" if row["role"] else escape(row["message"])
        table.add_row(
            row["id"][:12],
            f"{row['at']:%Y-%m-%d %H:%M:%S}",
            "" if row["task_id"] is None else str(row["task_id"]),
            what + (" [dim](pruned)[/]" if row["pruned"] else ""),
        )
    return table
