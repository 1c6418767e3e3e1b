"""`overseer task add|list`: the task queue of a workspace."""

from __future__ import annotations

from pathlib import Path

import typer

from overseer.cli.common import JsonOption, TagOption, WorkspaceOption, open_ws, print_json, stdout
from overseer.cli.render import render_task_list

app = typer.Typer(help="Add and list tasks.", no_args_is_help=True)


@app.command("add")
def add(
    text: str = typer.Argument(..., help="What the agent should do."),
    priority: int = typer.Option(0, "--priority", "-p", help="Higher runs first among ready tasks."),
    depends_on: list[int] = typer.Option(
        [], "--depends-on", "-d", help="A task that must complete first (repeatable)."
    ),
    tags: list[str] = TagOption,
    workspace: Path = WorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """Add a task to the queue; `overseer run` runs it."""
    with open_ws(workspace, create=True) as ws:
        task = ws.store.add_task(ws.project_id, text, priority=priority, depends_on=depends_on, tags=tags)
        if json_output:
            print_json({"task_id": task.id, "status": task.status.value})
        else:
            stdout().print(f"added task {task.id}: {text}")


@app.command("list")
def list_tasks(workspace: Path = WorkspaceOption, json_output: bool = JsonOption) -> None:
    """List the tasks of the workspace with their status."""
    with open_ws(workspace) as ws:
        deps = ws.store.dependencies(ws.project_id)
        rows = [
            {
                "id": t.id,
                "text": t.text,
                "status": t.status.value,
                "priority": t.priority,
                "tags": t.tags,
                "depends_on": sorted(deps.get(t.id, set())),
                "attempts": len(ws.store.attempts(t.id)),
            }
            for t in ws.store.list_tasks(ws.project_id)
        ]
    if json_output:
        print_json({"tasks": rows})
    elif rows:
        render_task_list(stdout(), rows)
    else:
        stdout().print('no tasks yet: add one with `overseer task add "TEXT"`')
