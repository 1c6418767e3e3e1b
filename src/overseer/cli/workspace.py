"""`overseer init`, `status` and `resolve`: the workspace and the human's answers."""

from __future__ import annotations

from pathlib import Path

import typer

from overseer.cli.common import JsonOption, WorkspaceOption, open_ws, print_json, stdout, who
from overseer.cli.render import render_task
from overseer.errors import UsageError

# The database, the agent SDK and llama.cpp are imported inside the commands that use them:
# `overseer --help` must not pay for them (see docs/benchmarks.md).


def init(
    directory: Path = typer.Argument(Path("."), help="The project directory (default: the current one)."),
) -> None:
    """Create overseer's state (.overseer/) in a project directory."""
    with open_ws(directory, create=True) as ws:
        stdout().print(f"overseer state in {ws.path / '.overseer'} (database: {ws.database})")


def status(
    task_id: int | None = typer.Argument(None, help="One task (default: all of them)."),
    workspace: Path = WorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """Show what tasks came to: attempts, findings, decisions, confidence, files changed."""
    from overseer.report import task_summary

    with open_ws(workspace) as ws:
        ids = [task_id] if task_id is not None else [t.id for t in ws.store.list_tasks(ws.project_id)]
        summaries = [task_summary(ws.store, t) for t in ids]
        database = ws.database
    if json_output:
        print_json(summaries[0] if task_id is not None else {"tasks": summaries, "database": database})
    else:
        console = stdout()
        for summary in summaries:
            render_task(console, summary)
        if not summaries:
            console.print("no tasks yet")
        console.print(f"[dim]state: {database}[/]")


def resolve(
    task_id: int = typer.Argument(..., help="A task waiting for a human."),
    accept: bool = typer.Option(False, "--accept", help="Accept the work as it is: the task is completed."),
    retry: str | None = typer.Option(None, "--retry", metavar="GUIDANCE", help="Send it back with guidance."),
    abandon: bool = typer.Option(False, "--abandon", help="Give the task up."),
    allow: bool = typer.Option(False, "--allow", help="Let the tool call the task waits on go through."),
    deny: str | None = typer.Option(None, "--deny", metavar="REASON", help="Refuse that call, telling the agent why."),
    workspace: Path = WorkspaceOption,
) -> None:
    """Answer a task that waits for a human; the next `overseer run` goes on from there."""
    from overseer.resolve import answer

    given = {"accept": accept, "retry": retry is not None, "abandon": abandon, "allow": allow, "deny": deny is not None}
    if sum(given.values()) != 1:
        raise UsageError('say exactly one of --accept, --retry GUIDANCE, --abandon, --allow or --deny "REASON"')
    action = next(name for name, chosen in given.items() if chosen)
    with open_ws(workspace) as ws:
        message = answer(ws.store, task_id, action, retry or deny or "", by=who())
    stdout().print(f"task {task_id}: {message}")
